// Compares radixlm's Tokenizer against the JavaScript reference (see
// compare.sh): for each tokenizer in expected.json, loads the same
// tokenizer.json, encodes the same input bytes with and without special tokens,
// decodes (unless the entry is ids_only), and requires identical results. It
// also requires, of radixlm alone, that streaming the ids through an
// IncrementalDecoder gives Decode's text, and that decoding gives the input
// back where the case says it must (round_trip). Prints the first mismatch of
// each tokenizer with both id lists, then the encode throughput on the largest
// input.
//
// Usage: tokenizer_npm_compare <dir holding expected.json and the tokenizer.json files>
#include <simdjson.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "model/tokenizer.h"

namespace {

using radixlm::model::IncrementalDecoder;
using radixlm::model::Tokenizer;

// The text of `ids` as a stream hands it out, token by token.
std::string Streamed(const Tokenizer& t, const std::vector<int32_t>& ids, bool skip_special) {
  IncrementalDecoder stream(t, skip_special);
  std::string text;
  for (int32_t id : ids) text += stream.Add(id);
  return text + stream.Flush();
}

std::string FromHex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(char(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

std::string Show(const std::vector<int32_t>& ids) {
  std::string s = "[";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) s += ',';
    s += std::to_string(ids[i]);
  }
  return s + "]";
}

std::string Printable(std::string_view s) {
  std::string out;
  for (unsigned char c : s.substr(0, 200)) {
    if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02X", c);
      out += buf;
    } else {
      out += char(c);
    }
  }
  return s.size() > 200 ? out + "..." : out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <dir with expected.json>\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (auto error = parser.load(dir + "/expected.json").get(doc)) {
    std::fprintf(stderr, "%s/expected.json: %s\n", dir.c_str(), simdjson::error_message(error));
    return 2;
  }
  int failures = 0;
  for (simdjson::dom::element entry : doc["tokenizers"].get_array()) {
    const std::string name(entry["name"].get_string().value());
    const std::string file = dir + "/" + std::string(entry["file"].get_string().value());
    auto tokenizer = Tokenizer::FromFile(file);
    if (!tokenizer.ok()) {
      std::printf("%s: FAILED to load: %s\n", name.c_str(), tokenizer.status().ToString().c_str());
      ++failures;
      continue;
    }
    const Tokenizer& t = **tokenizer;
    bool ids_only = false;
    if (entry["ids_only"].get_bool().get(ids_only)) ids_only = false;
    int compared = 0, agreed = 0;
    std::string largest;
    for (simdjson::dom::element c : entry["cases"].get_array()) {
      const std::string input = FromHex(c["hex"].get_string().value());
      auto ids_of = [&](const char* key) {
        std::vector<int32_t> ids;
        for (simdjson::dom::element v : c[key].get_array()) ids.push_back(int32_t(int64_t(v)));
        return ids;
      };
      const std::vector<int32_t> want = ids_of("ids"), want_special = ids_of("ids_special");
      const std::vector<int32_t> got = t.Encode(input), got_special = t.Encode(input, true);
      const std::string got_text = t.Decode(got_special), got_skip = t.Decode(got_special, true);
      std::string_view want_text = got_text, want_skip = got_skip;
      if (!ids_only) {
        want_text = c["decoded"].get_string().value();
        want_skip = c["decoded_skip"].get_string().value();
      }
      bool round_trip = false;
      if (c["round_trip"].get_bool().get(round_trip)) round_trip = false;
      const std::string plain = t.Decode(got);
      const bool streams = Streamed(t, got_special, false) == got_text &&
                           Streamed(t, got_special, true) == got_skip &&
                           Streamed(t, got, false) == plain;
      const bool round_trips = !round_trip || plain == input;
      ++compared;
      if (input.size() > largest.size()) largest = input;
      if (got == want && got_special == want_special && got_text == want_text &&
          got_skip == want_skip && streams && round_trips) {
        ++agreed;
        continue;
      }
      if (compared - agreed > 1) continue;  // the first mismatch tells the story
      std::printf("%s: MISMATCH on \"%s\"\n", name.c_str(), Printable(input).c_str());
      if (got != want)
        std::printf("  js      %s\n  radixlm %s\n", Show(want).c_str(), Show(got).c_str());
      if (got_special != want_special) {
        std::printf("  add_special_tokens: js %s\n                      radixlm %s\n",
                    Show(want_special).c_str(), Show(got_special).c_str());
      }
      if (got_text != want_text || got_skip != want_skip) {
        std::printf("  decode: js \"%s\" / \"%s\"\n          radixlm \"%s\" / \"%s\"\n",
                    Printable(want_text).c_str(), Printable(want_skip).c_str(),
                    Printable(got_text).c_str(), Printable(got_skip).c_str());
      }
      if (!streams) std::printf("  streaming decode differs from Decode\n");
      if (!round_trips) std::printf("  round trip gives \"%s\"\n", Printable(plain).c_str());
    }
    std::printf("%s: %d/%d strings identical (ids with and without special tokens%s)\n",
                name.c_str(), agreed, compared,
                ids_only ? "" : ", decode, streaming decode, round trips");
    if (agreed != compared) ++failures;

    // Throughput: the largest input repeated to ~4 MB, encoded warm as one call
    // and as 4 KB requests (the serving case).
    std::string big;
    while (!largest.empty() && big.size() < (4u << 20)) big += largest;
    t.Encode(largest);
    auto time = [&](size_t chunk) {
      const auto start = std::chrono::steady_clock::now();
      size_t tokens = 0;
      for (size_t at = 0; at < big.size(); at += chunk) {
        tokens += t.Encode(std::string_view(big).substr(at, chunk)).size();
      }
      const double s =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      return std::make_pair(big.size() / 1e6 / s, tokens);
    };
    const auto [whole_mbs, whole_tokens] = time(big.size());
    const auto [chunk_mbs, chunk_tokens] = time(4096);
    std::printf(
        "%s: encode %.1f MB/s as one %.1f MB call (%zu tokens), %.1f MB/s in 4 KB requests\n",
        name.c_str(), whole_mbs, big.size() / 1e6, whole_tokens, chunk_mbs);
    (void)chunk_tokens;
  }
  return failures == 0 ? 0 : 1;
}
