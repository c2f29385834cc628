// Unicode normalization for the tokenizer's normalizers, through libutf8proc
// (Debian libutf8proc-dev; its Unicode version is UnicodeVersion()). Nothing
// here keeps tables of its own.
#pragma once

#include <string>
#include <string_view>

namespace radixlm::model {

enum class UnicodeForm { kNfc, kNfd, kNfkc, kNfkd };

// `form` of `text` into `out` (replacing its contents). Precondition: `text` is
// valid UTF-8 (Tokenizer::Encode repairs its input first). Text below U+00A0
// (which no form changes) is copied without calling utf8proc.
void UnicodeNormalize(UnicodeForm form, std::string_view text, std::string* out);

// Full lowercase mapping into `out`, as Rust's str::to_lowercase and JavaScript's
// toLowerCase give it (HF's Lowercase normalizer): utf8proc's simple mapping
// plus SpecialCasing's one unconditional multi-character lowercase
// (U+0130 -> "i\u0307") and the Final_Sigma rule (capital sigma at the end of
// a word becomes U+03C2). Precondition: valid UTF-8.
void Lowercase(std::string_view text, std::string* out);

// The Unicode version of the linked utf8proc ("15.0.0").
std::string_view UnicodeVersion();

}  // namespace radixlm::model
