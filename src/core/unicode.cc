#include "core/unicode.h"

#include <utf8proc.h>

#include <cstdint>
#include <cstdlib>

namespace radixlm {

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

// Unicode's Case_Ignorable, as far as utf8proc exposes it: marks, format
// characters, modifiers and the word-internal apostrophes and dots (Word_Break
// MidLetter / MidNumLet / Single_Quote).
bool IsCaseIgnorable(utf8proc_int32_t c) {
  if (c < 0 || c >= 0x110000) return false;
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

char32_t SimpleLowercase(char32_t c) {
  return c < 0x110000 ? char32_t(utf8proc_tolower(utf8proc_int32_t(c))) : c;
}

char32_t SimpleUppercase(char32_t c) {
  return c < 0x110000 ? char32_t(utf8proc_toupper(utf8proc_int32_t(c))) : c;
}

char32_t SimpleTitlecase(char32_t c) {
  return c < 0x110000 ? char32_t(utf8proc_totitle(utf8proc_int32_t(c))) : c;
}

bool IsCased(char32_t c) {
  if (c >= 0x110000) return false;
  const auto cp = utf8proc_int32_t(c);
  const utf8proc_category_t cat = utf8proc_category(cp);
  return cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LL ||
         cat == UTF8PROC_CATEGORY_LT || utf8proc_tolower(cp) != cp || utf8proc_toupper(cp) != cp;
}

std::u32string Lowercase(std::u32string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char32_t c = text[i];
    if (c == 0x130) {  // LATIN CAPITAL LETTER I WITH DOT ABOVE
      out += U"i\u0307";
      continue;
    }
    if (c == 0x3A3) {  // Final_Sigma: cased before, no cased after (ignorables skipped)
      size_t b = i;
      while (b > 0 && IsCaseIgnorable(utf8proc_int32_t(text[b - 1]))) --b;
      size_t a = i + 1;
      while (a < text.size() && IsCaseIgnorable(utf8proc_int32_t(text[a]))) ++a;
      const bool final_sigma =
          b > 0 && IsCased(text[b - 1]) && !(a < text.size() && IsCased(text[a]));
      out += final_sigma ? char32_t(0x3C2) : char32_t(0x3C3);
      continue;
    }
    out += SimpleLowercase(c);
  }
  return out;
}

std::string_view UnicodeVersion() { return utf8proc_unicode_version(); }

}  // namespace radixlm
