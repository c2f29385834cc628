// Unicode normalization and case mapping through libutf8proc (Debian
// libutf8proc-dev), shared by the tokenizer's normalizers and the chat
// templates' string methods: the one place that consults Unicode's tables, and
// none are kept here. The Unicode version is utf8proc's (UnicodeVersion()).
#pragma once

#include <string>
#include <string_view>

namespace radixlm {

enum class UnicodeForm { kNfc, kNfd, kNfkc, kNfkd };

// `form` of `text` into `out` (replacing its contents). Precondition: `text` is
// valid UTF-8. Text below U+00A0 (which no form changes) is copied without
// calling utf8proc.
void UnicodeNormalize(UnicodeForm form, std::string_view text, std::string* out);

// The simple (one-to-one) case mappings of UnicodeData.txt; code points without
// one, surrogates included, map to themselves.
char32_t SimpleLowercase(char32_t c);
char32_t SimpleUppercase(char32_t c);
char32_t SimpleTitlecase(char32_t c);
// Unicode's Cased, as far as utf8proc exposes it: a letter of category Lu, Ll
// or Lt, or a code point with a case mapping.
bool IsCased(char32_t c);

// Full lowercase mapping, as Rust's str::to_lowercase, JavaScript's
// toLowerCase and Python's str.lower give it: the simple mapping plus
// SpecialCasing's one unconditional multi-character lowercase (U+0130 ->
// "i\u0307") and the Final_Sigma rule (capital sigma after a cased letter and
// not before one, case-ignorable characters skipped, becomes U+03C2).
std::u32string Lowercase(std::u32string_view text);

// The Unicode version of the linked utf8proc ("15.0.0").
std::string_view UnicodeVersion();

}  // namespace radixlm
