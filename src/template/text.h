// Python str semantics over UTF-8: code-point counting and slicing, Unicode
// whitespace as str.isspace() defines it (strip, split, trim), splitlines'
// line boundaries. Invalid UTF-8 bytes count as one code point each, so every
// operation is total.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace radixlm::tmpl {

// Code points of `s` (an invalid byte becomes 0xDC80 + byte, as Python's
// surrogateescape would, so EncodeUtf8 restores the bytes).
std::vector<char32_t> DecodeUtf8(std::string_view s);
std::string EncodeUtf8(const std::vector<char32_t>& cps, size_t begin = 0, size_t end = SIZE_MAX);
void AppendUtf8(char32_t cp, std::string* out);
size_t CodePointCount(std::string_view s);
bool IsAscii(std::string_view s);

// str.isspace() of one code point.
bool IsPythonSpace(char32_t cp);
// str.strip() / lstrip() / rstrip() with no argument (Unicode whitespace), or
// with `chars` (a set of code points).
std::string StripSpace(std::string_view s, bool left, bool right);
std::string StripChars(std::string_view s, std::string_view chars, bool left, bool right);
// str.split() with no separator: runs of whitespace, no empty parts.
std::vector<std::string> SplitSpace(std::string_view s, int64_t maxsplit, bool from_right);
// str.split(sep) (sep non-empty).
std::vector<std::string> SplitSep(std::string_view s, std::string_view sep, int64_t maxsplit,
                                  bool from_right);
// str.splitlines() (keepends false).
std::vector<std::string> SplitLines(std::string_view s);

// Case mapping through core/unicode.h (utf8proc): the simple one-to-one
// mappings for every script. Lower() is Python's full str.lower (U+0130 and
// final sigma included); Upper() is the simple mapping plus U+00DF -> "SS",
// without SpecialCasing's other multi-character uppercases (ligatures such as
// U+FB01 stay as they are, where Python gives "FI").
char32_t ToUpperCp(char32_t c);
char32_t ToLowerCp(char32_t c);
char32_t ToTitleCp(char32_t c);  // str.title / str.capitalize's first letters
bool IsCased(char32_t c);        // has an upper or lower form
std::string Upper(std::string_view s);
std::string Lower(std::string_view s);

}  // namespace radixlm::tmpl
