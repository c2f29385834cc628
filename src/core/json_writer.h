// JsonWriter: builds compact JSON text for diagnostics and benchmark output.
// Commas and string escaping are handled; the caller keeps keys and values paired.
//
//   JsonWriter w;
//   w.BeginObject(); w.Key("pages"); w.Int(12); w.EndObject();
//   w.str() == R"({"pages":12})"
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace radixlm {

class JsonWriter {
 public:
  void BeginObject();
  void EndObject();
  void BeginArray();
  void EndArray();
  void Key(std::string_view key);
  void String(std::string_view value);
  void Int(int64_t value);
  void Uint(uint64_t value);
  // Finite values print as the shortest text that reads back exactly (so 2.5 is
  // "2.5" and 2^53 is "9007199254740992"); NaN and inf print null.
  void Double(double value);
  // The shortest text that reads back as the same float (embeddings).
  void Float(float value);
  void Bool(bool value);
  void Null();

  const std::string& str() const { return out_; }

  // Appends `s` as a quoted JSON string to `out`.
  static void AppendQuoted(std::string& out, std::string_view s);

 private:
  void BeforeValue();

  std::string out_;
  // One entry per open container: true once it holds an element.
  std::vector<bool> has_element_;
  bool after_key_ = false;
};

}  // namespace radixlm
