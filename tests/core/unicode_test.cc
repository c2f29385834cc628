#include "core/unicode.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "core/utf8.h"

namespace radixlm {
namespace {

std::string Norm(UnicodeForm form, std::string_view s) {
  std::string out;
  UnicodeNormalize(form, s, &out);
  return out;
}

std::string Lower(std::u32string_view s) {
  std::string out;
  for (char32_t c : Lowercase(s)) AppendUtf8(c, &out);
  return out;
}

TEST(UnicodeTest, NormalizationForms) {
  const UnicodeForm nfc = UnicodeForm::kNfc;
  EXPECT_EQ(Norm(nfc, "e\u0301"), "\u00E9");
  EXPECT_EQ(Norm(nfc, "plain ascii"), "plain ascii");
  EXPECT_EQ(Norm(nfc, "\u1100\u1161\u11A8"), "\uAC01");                // Hangul L V T
  EXPECT_EQ(Norm(nfc, "a\u0307\u0323"), "\u1EA1\u0307");               // reordered, then composed
  EXPECT_EQ(Norm(nfc, "\u212B"), "\u00C5");                            // singleton
  EXPECT_EQ(Norm(nfc, "\u0958"), "\u0915\u093C");                      // composition exclusion
  EXPECT_EQ(Norm(nfc, "\u00E9\u0302"), "\u00E9\u0302");                // no composite exists
  EXPECT_EQ(Norm(nfc, "\u0301e"), "\u0301e");                          // leading mark stays
  EXPECT_EQ(Norm(nfc, "\u4E2D\u6587 \uAC00"), "\u4E2D\u6587 \uAC00");  // already NFC
  EXPECT_EQ(Norm(nfc, std::string_view("a\0b\u00E9", 5)), std::string_view("a\0b\u00E9", 5));
  EXPECT_EQ(Norm(UnicodeForm::kNfd, "\u00E9"), "e\u0301");
  EXPECT_EQ(Norm(UnicodeForm::kNfkc, "\uFB01 \uFF26 a\u00A0b"), "fi F a b");
  EXPECT_EQ(Norm(UnicodeForm::kNfkd, "\u00C5"), "A\u030A");
  EXPECT_FALSE(UnicodeVersion().empty());
}

TEST(UnicodeTest, CaseMapping) {
  EXPECT_EQ(SimpleUppercase(U'a'), U'A');
  EXPECT_EQ(SimpleUppercase(0x0561), 0x0531u);    // Armenian, beyond the old hand-written ranges
  EXPECT_EQ(SimpleLowercase(0x10400), 0x10428u);  // Deseret
  EXPECT_EQ(SimpleUppercase(0xDC80), 0xDC80u);    // a surrogate maps to itself
  EXPECT_EQ(SimpleUppercase(0x110000), 0x110000u);
  EXPECT_TRUE(IsCased(U'\u01C5'));  // titlecase letter
  EXPECT_FALSE(IsCased(U'1'));
  EXPECT_FALSE(IsCased(0x4E2D));

  // Full lowercase, as Rust's to_lowercase, JavaScript's toLowerCase and
  // Python's str.lower.
  EXPECT_EQ(Lower(U"Hello \u00C9T\u00C9 \u0414"), "hello \u00E9t\u00E9 \u0434");
  EXPECT_EQ(Lower(U"\u0130stanbul"), "i\u0307stanbul");  // SpecialCasing, not simple
  EXPECT_EQ(Lower(U"\u039F\u0394\u03A5\u03A3\u03A3\u0395\u03A5\u03A3"),  // ΟΔΥΣΣΕΥΣ
            "\u03BF\u03B4\u03C5\u03C3\u03C3\u03B5\u03C5\u03C2");         // final sigma
  EXPECT_EQ(Lower(U"\u03A3"), "\u03C3");                                 // alone: not final
  EXPECT_EQ(Lower(U"A\u03A3'. b"), "a\u03C2'. b");                       // ignorables skipped
  EXPECT_EQ(Lower(U"A\u03A3\u0301B"), "a\u03C3\u0301b");
}

}  // namespace
}  // namespace radixlm
