#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "core/json_writer.h"

namespace radixlm {
namespace {

TEST(JsonWriterTest, EmptyContainers) {
  JsonWriter w;
  w.BeginObject();
  w.EndObject();
  EXPECT_EQ(w.str(), "{}");
  JsonWriter a;
  a.BeginArray();
  a.EndArray();
  EXPECT_EQ(a.str(), "[]");
}

TEST(JsonWriterTest, HeaderExample) {
  JsonWriter w;
  w.BeginObject();
  w.Key("pages");
  w.Int(12);
  w.EndObject();
  EXPECT_EQ(w.str(), R"({"pages":12})");
}

TEST(JsonWriterTest, NestingAndCommas) {
  JsonWriter w;
  w.BeginObject();
  w.Key("a");
  w.BeginArray();
  w.Int(1);
  w.Int(-2);
  w.BeginObject();
  w.EndObject();
  w.BeginArray();
  w.Null();
  w.EndArray();
  w.EndArray();
  w.Key("b");
  w.String("x");
  w.Key("c");
  w.BeginObject();
  w.Key("t");
  w.Bool(true);
  w.Key("f");
  w.Bool(false);
  w.EndObject();
  w.Key("u");
  w.Uint(18446744073709551615ULL);
  w.EndObject();
  EXPECT_EQ(w.str(),
            R"({"a":[1,-2,{},[null]],"b":"x","c":{"t":true,"f":false},"u":18446744073709551615})");
}

TEST(JsonWriterTest, ArrayOfObjects) {
  JsonWriter w;
  w.BeginArray();
  for (int i = 0; i < 3; ++i) {
    w.BeginObject();
    w.Key("i");
    w.Int(i);
    w.Key("s");
    w.String("v");
    w.EndObject();
  }
  w.EndArray();
  EXPECT_EQ(w.str(), R"([{"i":0,"s":"v"},{"i":1,"s":"v"},{"i":2,"s":"v"}])");
}

TEST(JsonWriterTest, IntExtremes) {
  JsonWriter w;
  w.BeginArray();
  w.Int(std::numeric_limits<int64_t>::min());
  w.Int(std::numeric_limits<int64_t>::max());
  w.Uint(0);
  w.EndArray();
  EXPECT_EQ(w.str(), "[-9223372036854775808,9223372036854775807,0]");
}

TEST(JsonWriterTest, EscapesQuotesBackslashesAndControlChars) {
  JsonWriter w;
  w.BeginObject();
  w.Key("k\"ey");
  w.String(std::string("a\"b\\c\nd\re\tf\x01g\x1fh", 15));
  w.EndObject();
  EXPECT_EQ(w.str(), R"({"k\"ey":"a\"b\\c\nd\re\tf\u0001g\u001fh"})");
}

TEST(JsonWriterTest, EmbeddedNulAndNonAsciiBytes) {
  std::string out;
  JsonWriter::AppendQuoted(out, std::string("a\0b", 3));
  EXPECT_EQ(out, R"("a\u0000b")");
  out.clear();
  JsonWriter::AppendQuoted(out, "caf\xc3\xa9 \x7f /");
  EXPECT_EQ(out, "\"caf\xc3\xa9 \x7f /\"");  // UTF-8, DEL and '/' pass through
}

std::string DoubleText(double v) {
  JsonWriter w;
  w.Double(v);
  return w.str();
}

TEST(JsonWriterTest, Doubles) {
  EXPECT_EQ(DoubleText(0), "0");
  EXPECT_EQ(DoubleText(3), "3");
  EXPECT_EQ(DoubleText(-42), "-42");
  EXPECT_EQ(DoubleText(1e15), "1000000000000000");
  EXPECT_EQ(DoubleText(123456789012.0), "123456789012");
  EXPECT_EQ(DoubleText(0.5), "0.5");
  EXPECT_EQ(DoubleText(-2.25), "-2.25");
  EXPECT_EQ(DoubleText(1.0 / 3.0), "0.3333333333333333");  // reads back exactly
  EXPECT_EQ(DoubleText(1234567.25), "1234567.25");
  EXPECT_EQ(DoubleText(1e20), "1e+20");
  EXPECT_EQ(DoubleText(1.5e-7), "1.5e-07");
}

TEST(JsonWriterTest, NonFiniteDoublesPrintNull) {
  EXPECT_EQ(DoubleText(std::nan("")), "null");
  EXPECT_EQ(DoubleText(std::numeric_limits<double>::infinity()), "null");
  EXPECT_EQ(DoubleText(-std::numeric_limits<double>::infinity()), "null");
  JsonWriter w;
  w.BeginArray();
  w.Double(1);
  w.Double(std::nan(""));
  w.Double(2.5);
  w.EndArray();
  EXPECT_EQ(w.str(), "[1,null,2.5]");
}

TEST(JsonWriterTest, WholeNumbersUpTo2Pow53PrintExactly) {
  EXPECT_EQ(DoubleText(9007199254740992.0), "9007199254740992");
  EXPECT_EQ(DoubleText(9000000000000001.0), "9000000000000001");
}

}  // namespace
}  // namespace radixlm
