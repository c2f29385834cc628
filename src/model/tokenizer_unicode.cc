#include "model/tokenizer_unicode.h"

#include <utf8proc.h>

#include <cstdlib>
#include <vector>

#include "model/tokenizer_utf8.h"

namespace radixlm::model {

namespace {

// True when every byte is below 0xC2 0xA0's lead: code points below U+0080 are
// fixed under every form, and so is the rest of Latin-1's first half below
// U+00A0 (the first code point with a compatibility mapping is U+00A0).
bool AllBelowA0(std::string_view text) {
  for (size_t i = 0; i < text.size(); ++i) {
    const auto b = static_cast<uint8_t>(text[i]);
    if (b < 0x80) continue;
    if (b != 0xC2 || i + 1 >= text.size() || static_cast<uint8_t>(text[i + 1]) >= 0xA0)
      return false;
    ++i;
  }
  return true;
}

int Options(UnicodeForm form) {
  switch (form) {
    case UnicodeForm::kNfc:
      return UTF8PROC_STABLE | UTF8PROC_COMPOSE;
    case UnicodeForm::kNfd:
      return UTF8PROC_STABLE | UTF8PROC_DECOMPOSE;
    case UnicodeForm::kNfkc:
      return UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT;
    case UnicodeForm::kNfkd:
      return UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT;
  }
  return UTF8PROC_STABLE | UTF8PROC_COMPOSE;
}

// Unicode's Cased and Case_Ignorable, as far as utf8proc exposes them: a code
// point with a case mapping or of a letter-case category is cased; marks,
// format characters, modifiers and the word-internal apostrophes and dots
// (Word_Break MidLetter / MidNumLet / Single_Quote) are ignorable.
bool IsCased(utf8proc_int32_t c) {
  const utf8proc_category_t cat = utf8proc_category(c);
  return cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LL ||
         cat == UTF8PROC_CATEGORY_LT || utf8proc_tolower(c) != c || utf8proc_toupper(c) != c;
}
bool IsCaseIgnorable(utf8proc_int32_t c) {
  switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_SK:
      return true;
    default:
      break;
  }
  return c == '\'' || c == '.' || c == ':' || c == 0xB7 || c == 0x2018 || c == 0x2019 ||
         c == 0x2024 || c == 0x2027 || c == 0xFE13 || c == 0xFE52 || c == 0xFE55 || c == 0xFF07 ||
         c == 0xFF0E || c == 0xFF1A || c == 0x387 || c == 0x55F || c == 0x5F4;
}

}  // namespace

void UnicodeNormalize(UnicodeForm form, std::string_view text, std::string* out) {
  if (AllBelowA0(text)) {
    out->assign(text);
    return;
  }
  utf8proc_uint8_t* mapped = nullptr;
  const utf8proc_ssize_t n =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                   utf8proc_ssize_t(text.size()), &mapped, utf8proc_option_t(Options(form)));
  if (n < 0) {
    // Only invalid UTF-8 (a broken precondition) or out of memory get here:
    // the text stays as it was.
    out->assign(text);
  } else {
    out->assign(reinterpret_cast<const char*>(mapped), size_t(n));
  }
  std::free(mapped);
}

void Lowercase(std::string_view text, std::string* out) {
  out->clear();
  out->reserve(text.size());
  std::vector<char32_t> cps;
  for (size_t i = 0; i < text.size();) {
    size_t len = Utf8SequenceLength(text, i);
    if (len == 0) len = 1;  // precondition broken: keep going byte by byte
    cps.push_back(len == 1 && uint8_t(text[i]) >= 0x80 ? kReplacementChar
                                                       : Utf8Decode(text, i, len));
    i += len;
  }
  for (size_t i = 0; i < cps.size(); ++i) {
    const auto c = utf8proc_int32_t(cps[i]);
    if (c == 0x130) {  // LATIN CAPITAL LETTER I WITH DOT ABOVE
      AppendUtf8('i', out);
      AppendUtf8(0x307, out);
      continue;
    }
    if (c == 0x3A3) {  // Final_Sigma: cased before, no cased after (ignorables skipped)
      size_t b = i;
      while (b > 0 && IsCaseIgnorable(utf8proc_int32_t(cps[b - 1]))) --b;
      size_t a = i + 1;
      while (a < cps.size() && IsCaseIgnorable(utf8proc_int32_t(cps[a]))) ++a;
      const bool final_sigma = b > 0 && IsCased(utf8proc_int32_t(cps[b - 1])) &&
                               !(a < cps.size() && IsCased(utf8proc_int32_t(cps[a])));
      AppendUtf8(final_sigma ? 0x3C2 : 0x3C3, out);
      continue;
    }
    AppendUtf8(char32_t(utf8proc_tolower(c)), out);
  }
}

std::string_view UnicodeVersion() { return utf8proc_unicode_version(); }

}  // namespace radixlm::model
