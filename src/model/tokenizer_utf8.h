// UTF-8 helpers shared by the tokenizer's pieces: decoding one code point,
// encoding one, the lossy repair that WHATWG's TextDecoder and Rust's
// String::from_utf8_lossy both perform, and the GPT-2 byte <-> char mapping.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/utf8.h"

namespace radixlm::model {

inline constexpr char32_t kReplacementChar = 0xFFFD;

// Length of the valid UTF-8 sequence starting at s[i], or 0 when the bytes there
// are not one. With `incomplete` given, sets it to true when s[i..] is a proper
// prefix of a valid sequence cut short by the end of `s` (the streaming case).
size_t Utf8SequenceLength(std::string_view s, size_t i, bool* incomplete = nullptr);

// Decodes the valid sequence of length `len` at s[i].
char32_t Utf8Decode(std::string_view s, size_t i, size_t len);

using ::radixlm::AppendUtf8;  // core/utf8.h

// True when all of `s` is valid UTF-8.
bool IsValidUtf8(std::string_view s);

// Appends `s` to `out` with every maximal invalid subpart (Unicode 3.9 / WHATWG
// "maximal subpart" rule) replaced by U+FFFD: the bytes that TextDecoder and
// from_utf8_lossy map to one replacement character each.
void AppendUtf8Lossy(std::string_view s, std::string* out);

// Unicode White_Space: what Rust's char::is_whitespace and Oniguruma's \s accept.
bool IsUnicodeWhitespace(char32_t cp);

// GPT-2's bytes_to_unicode: byte b is shown as code point ByteToChar(b); printable
// Latin-1 bytes map to themselves, the other 68 to U+0100 onwards in byte order.
char32_t ByteToChar(uint8_t b);
// The inverse, or -1 for a code point no byte maps to.
int CharToByte(char32_t cp);
// The bytes a byte-level token ("Ġthe") stands for, or nullopt when some
// character of it is not one of the 256 byte characters.
std::optional<std::string> ByteLevelBytes(std::string_view token);

}  // namespace radixlm::model
