#include "model/tokenizer.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <thread>
#include <vector>

#include "model/tokenizer_nfc.h"
#include "model/tokenizer_regex.h"
#include "model/tokenizer_utf8.h"

namespace radixlm::model {
namespace {

// The byte-level spelling of raw bytes ("a b" -> "aĠb").
std::string Spell(std::string_view bytes) {
  std::string out;
  for (char c : bytes) AppendUtf8(ByteToChar(uint8_t(c)), &out);
  return out;
}

struct TinySpec {
  std::vector<std::string> extra_vocab;  // raw bytes; ids 256, 257, ...
  std::string merges = "[]";             // JSON, in byte-level spelling
  std::string pre_tokenizer =
      R"({"type": "ByteLevel", "add_prefix_space": false, "use_regex": false})";
  std::string normalizer = "null";
  std::string added_tokens = "[]";
  std::string post_processor = "null";
  std::string decoder = R"({"type": "ByteLevel"})";
  std::string model_extra;  // more fields of "model"
};

// A tokenizer.json with the 256 byte tokens (ids 0..255 in byte order) plus
// `extra_vocab`.
std::string TinyJson(const TinySpec& s) {
  std::string vocab;
  auto quote = [](std::string_view t) {
    std::string out = "\"";
    for (char c : t) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    return out + "\"";
  };
  for (int b = 0; b < 256; ++b) {
    if (b > 0) vocab += ", ";
    vocab += quote(Spell(std::string(1, char(b)))) + ": " + std::to_string(b);
  }
  for (size_t i = 0; i < s.extra_vocab.size(); ++i) {
    vocab += ", " + quote(Spell(s.extra_vocab[i])) + ": " + std::to_string(256 + i);
  }
  return R"({"version": "1.0", "added_tokens": )" + s.added_tokens + R"(, "normalizer": )" +
         s.normalizer + R"(, "pre_tokenizer": )" + s.pre_tokenizer + R"(, "post_processor": )" +
         s.post_processor + R"(, "decoder": )" + s.decoder +
         R"(, "model": {"type": "BPE", "vocab": {)" + vocab + R"(}, "merges": )" + s.merges +
         s.model_extra + "}}";
}

std::unique_ptr<Tokenizer> Load(const TinySpec& spec) {
  auto t = Tokenizer::FromJson(TinyJson(spec), "tiny.json");
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return t.ok() ? std::move(t).value() : nullptr;
}

std::vector<int32_t> Bytes(std::string_view s) {
  std::vector<int32_t> ids;
  for (char c : s) ids.push_back(uint8_t(c));
  return ids;
}

using Ids = std::vector<int32_t>;

TEST(TokenizerTest, MergesApplyByRank) {
  TinySpec spec;
  spec.extra_vocab = {"bc", "ab", "abc"};  // 256, 257, 258
  spec.merges = R"(["b c", "a b", "a bc"])";
  auto t = Load(spec);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->Encode("abc"), (Ids{258}));  // b+c first (rank 0), then a+bc
  EXPECT_EQ(t->Encode("abd"), (Ids{257, 'd'}));
  spec.merges = R"(["a b", "b c", "a bc"])";  // a+b first: "ab c" has no merge
  t = Load(spec);
  EXPECT_EQ(t->Encode("abc"), (Ids{257, 'c'}));
}

TEST(TokenizerTest, PairMergeFormatAndLeftmostTies) {
  TinySpec spec;
  spec.extra_vocab = {"aa"};
  spec.merges = R"([["a", "a"]])";
  auto t = Load(spec);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->Encode("aaa"), (Ids{256, 'a'}));
  EXPECT_EQ(t->Encode("aaaa"), (Ids{256, 256}));
  EXPECT_EQ(t->Decode(Ids{256, 'a'}), "aaa");
}

TEST(TokenizerTest, IgnoreMergesTakesWholeWords) {
  TinySpec spec;
  spec.extra_vocab = {"ab", "abc"};
  spec.merges = R"(["a b"])";  // "abc" is unreachable by merges
  auto t = Load(spec);
  EXPECT_EQ(t->Encode("abc"), (Ids{256, 'c'}));
  spec.model_extra = R"(, "ignore_merges": true)";
  t = Load(spec);
  EXPECT_EQ(t->Encode("abc"), (Ids{257}));
}

TEST(TokenizerTest, AddedAndSpecialTokens) {
  TinySpec spec;
  spec.added_tokens = R"([
    {"id": 300, "content": "<|s|>", "special": true, "normalized": false},
    {"id": 301, "content": "<|s|>x", "special": true},
    {"id": 302, "content": "<t>", "special": false},
    {"id": 303, "content": "<l>", "special": true, "lstrip": true, "rstrip": true}])";
  auto t = Load(spec);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->vocab_size(), 304);
  EXPECT_EQ(t->Encode("a<|s|>b"), (Ids{'a', 300, 'b'}));
  EXPECT_EQ(t->Encode("<|s|>xy"), (Ids{301, 'y'}));  // longest first
  EXPECT_EQ(t->Encode("<|s|<t>"), (Ids{'<', '|', 's', '|', 302}));
  EXPECT_EQ(t->Encode("a  <l>  b"), (Ids{'a', 303, 'b'}));  // whitespace swallowed
  EXPECT_EQ(t->Decode(Ids{'a', 300, 302}), "a<|s|><t>");
  EXPECT_EQ(t->Decode(Ids{'a', 300, 302}, /*skip_special_tokens=*/true), "a<t>");
  EXPECT_TRUE(t->IsSpecial(300));
  EXPECT_FALSE(t->IsSpecial(302));
  EXPECT_FALSE(t->IsSpecial(299));  // a hole
  EXPECT_EQ(t->TokenToId("<t>"), 302);
  EXPECT_EQ(t->TokenToId("Ġ"), 32);
  EXPECT_EQ(t->TokenToId("nope"), std::nullopt);
  EXPECT_EQ(t->IdToToken(32), "Ġ");
  EXPECT_EQ(t->IdToToken(301), "<|s|>x");
  EXPECT_EQ(t->IdToToken(304), "");
  EXPECT_EQ(t->IdToToken(-1), "");
}

TEST(TokenizerTest, TemplateProcessingAddsBos) {
  TinySpec spec;
  spec.added_tokens = R"([{"id": 256, "content": "<bos>", "special": true}])";
  spec.post_processor = R"({"type": "Sequence", "processors": [
    {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true},
    {"type": "TemplateProcessing",
     "single": [{"SpecialToken": {"id": "<bos>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
     "pair": [], "special_tokens": {"<bos>": {"id": "<bos>", "ids": [256], "tokens": ["<bos>"]}}}]})";
  auto t = Load(spec);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->Encode("hi", true), (Ids{256, 'h', 'i'}));
  EXPECT_EQ(t->Encode("hi", false), (Ids{'h', 'i'}));
  EXPECT_EQ(t->Encode("", true), (Ids{256}));
}

TEST(TokenizerTest, SplitBehaviors) {
  // Pattern: runs of digits. "ab12cd3" -> text/match runs ab | 12 | cd | 3.
  struct Case {
    const char* behavior;
    bool invert;
    std::vector<std::string> pieces;
  };
  const Case cases[] = {
      {"Isolated", false, {"ab", "12", "cd", "3"}},
      {"Removed", false, {"ab", "cd"}},
      {"Removed", true, {"12", "3"}},
      {"MergedWithPrevious", false, {"ab12", "cd3"}},
      {"MergedWithNext", false, {"ab", "12cd", "3"}},
      {"Contiguous", false, {"ab", "12", "cd", "3"}},
  };
  for (const Case& c : cases) {
    TinySpec spec;
    // Every piece is one vocab token, so the ids spell the pieces.
    spec.extra_vocab = {"ab", "12", "cd", "ab12", "cd3", "12cd"};
    spec.merges = R"(["a b", "1 2", "c d", "ab 12", "cd 3", "12 cd"])";
    spec.pre_tokenizer = std::string(R"({"type": "Sequence", "pretokenizers": [
      {"type": "Split", "pattern": {"Regex": "\\p{N}+"}, "behavior": ")") +
                         c.behavior + R"(", "invert": )" + (c.invert ? "true" : "false") + R"(},
      {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]})";
    auto t = Load(spec);
    ASSERT_NE(t, nullptr) << c.behavior;
    std::vector<std::string> pieces;
    for (int32_t id : t->Encode("ab12cd3")) pieces.emplace_back(t->TokenBytes(id));
    EXPECT_EQ(pieces, c.pieces) << c.behavior << " invert=" << c.invert;
  }
}

TEST(TokenizerTest, SplitOnStringAndByteLevelOptions) {
  TinySpec spec;
  spec.extra_vocab = {" a", "a "};
  spec.merges = R"(["Ġ a", "a Ġ"])";
  spec.pre_tokenizer = R"({"type": "Split", "pattern": {"String": "-"}, "behavior": "Removed"})";
  spec.pre_tokenizer = R"({"type": "Sequence", "pretokenizers": [)" + spec.pre_tokenizer +
                       R"(, {"type": "ByteLevel", "add_prefix_space": true, "use_regex": false}]})";
  auto t = Load(spec);
  ASSERT_NE(t, nullptr);
  // Each piece gets its own prefix space; the '-' is removed.
  EXPECT_EQ(t->Encode("a-a"), (Ids{256, 256}));
  // GPT-2's regex (use_regex) splits " a" from "a": "a a" -> "a", " a".
  spec.pre_tokenizer = R"({"type": "ByteLevel", "add_prefix_space": false})";
  t = Load(spec);
  EXPECT_EQ(t->Encode("a a"), (Ids{'a', 256}));
}

TEST(TokenizerTest, Llama3StyleRegexSplitsDigitsInThrees) {
  TinySpec spec;
  spec.extra_vocab = {"12", "123"};
  spec.merges = R"(["1 2", "12 3"])";
  spec.pre_tokenizer = R"({"type": "Sequence", "pretokenizers": [
    {"type": "Split", "pattern": {"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
     "behavior": "Isolated", "invert": false},
    {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]})";
  auto t = Load(spec);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->Encode("123123"), (Ids{257, 257}));
  EXPECT_EQ(t->Encode("1231"), (Ids{257, '1'}));
}

TEST(TokenizerTest, RegexWhitespaceIsOniguruma) {
  auto re = Regex::Compile(R"(\s+)");
  ASSERT_TRUE(re.ok());
  std::vector<Regex::Span> m;
  // U+180E is \s to PCRE2 but not White_Space; U+0085 is White_Space.
  (*re)->FindAll("a\u180Eb\u0085c", &m);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0], (Regex::Span{5, 7}));
  EXPECT_EQ(TranslateWhitespaceClasses(R"([^\s\p{L}])").find("\\s"), std::string::npos);
  EXPECT_FALSE(Regex::Compile("(unclosed").ok());
}

TEST(TokenizerTest, NfcNormalizer) {
  auto nfc = [](std::string_view s) {
    std::string out;
    NfcNormalize(s, &out);
    return out;
  };
  EXPECT_EQ(nfc("e\u0301"), "\u00E9");
  EXPECT_EQ(nfc("plain ascii"), "plain ascii");
  EXPECT_EQ(nfc("\u1100\u1161\u11A8"), "\uAC01");                // Hangul L V T
  EXPECT_EQ(nfc("a\u0307\u0323"), "\u1EA1\u0307");               // reordered, then composed
  EXPECT_EQ(nfc("\u212B"), "\u00C5");                            // singleton
  EXPECT_EQ(nfc("\u0958"), "\u0915\u093C");                      // composition exclusion
  EXPECT_EQ(nfc("\u00E9\u0302"), "\u00E9\u0302");                // no composite exists
  EXPECT_EQ(nfc("\u0301e"), "\u0301e");                          // leading mark stays
  EXPECT_EQ(nfc("\u4E2D\u6587 \uAC00"), "\u4E2D\u6587 \uAC00");  // already NFC
  EXPECT_TRUE(NfcQuickCheck("\u4E2D\u6587"));
  EXPECT_FALSE(NfcQuickCheck("e\u0301"));

  TinySpec spec;
  spec.normalizer = R"({"type": "NFC"})";
  auto t = Load(spec);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->Encode("e\u0301"), Bytes("\u00E9"));
  spec.normalizer = "null";
  t = Load(spec);
  EXPECT_EQ(t->Encode("e\u0301"), Bytes("e\u0301"));
}

TEST(TokenizerTest, Utf8LossyMatchesWhatwg) {
  auto lossy = [](std::string_view s) {
    std::string out;
    AppendUtf8Lossy(s, &out);
    return out;
  };
  const std::string r = "\uFFFD";
  EXPECT_EQ(lossy("ok"), "ok");
  EXPECT_EQ(lossy("\xF0\x9F\x98"), r);  // truncated 4-byte: one
  EXPECT_EQ(lossy("\xF0\x9F\x98x"), r + "x");
  EXPECT_EQ(lossy("\xED\xA0\x80"), r + r + r);          // surrogate: three
  EXPECT_EQ(lossy("\xC0\xAF"), r + r);                  // overlong: two
  EXPECT_EQ(lossy("\xF4\x90\x80\x80"), r + r + r + r);  // past U+10FFFF: four
  EXPECT_EQ(lossy("\xE2\x82"), r);
  EXPECT_EQ(lossy("\xFF\xE2\x82\xAC"), r + "\u20AC");
  EXPECT_FALSE(IsValidUtf8("\xE2\x82"));
  EXPECT_TRUE(IsValidUtf8("\u20AC\U0001F600"));
}

TEST(TokenizerTest, InvalidUtf8EncodesAsReplacementCharacter) {
  auto t = Tokenizer::FromJson(MakeByteLevelTokenizerJson({}), "gen");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ((*t)->Encode("a\xFF"
                         "b"),
            (*t)->Encode("a\uFFFDb"));
  EXPECT_EQ((*t)->Encode("\xF0\x9F\x98"), Bytes("\uFFFD"));
}

TEST(TokenizerTest, DecodeRepairsInvalidBytes) {
  auto t = Tokenizer::FromJson(MakeByteLevelTokenizerJson({}), "gen");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ((*t)->Decode(Ids{0xE4, 'a'}), "\uFFFDa");
  EXPECT_EQ((*t)->Decode(Ids{'a', 999, 'b', -5}), "ab");  // out of range: skipped
}

TEST(TokenizerTest, IncrementalDecodeNeverSplitsCharacters) {
  auto t = Tokenizer::FromJson(MakeByteLevelTokenizerJson({"<eos>"}), "gen");
  ASSERT_TRUE(t.ok());
  const std::string text =
      "h\u00E9llo \U0001F600 \u4E2D\u6587 \U0001F468\u200D\U0001F469\u200D\U0001F467 "
      "\U0001F1EF\U0001F1F5";
  std::vector<int32_t> ids = (*t)->Encode(text + "<eos>");
  ASSERT_EQ(ids.back(), 256);
  IncrementalDecoder dec(**t, /*skip_special_tokens=*/true);
  std::string all;
  for (int32_t id : ids) {
    const std::string piece = dec.Add(id);
    EXPECT_TRUE(IsValidUtf8(piece)) << "half a character after id " << id;
    EXPECT_EQ(piece.find("\uFFFD"), std::string::npos);
    all += piece;
  }
  all += dec.Flush();
  EXPECT_EQ(all, text);

  // A sequence that can never complete comes out as U+FFFD, not held forever.
  IncrementalDecoder bad(**t);
  EXPECT_EQ(bad.Add(0xE4), "");
  EXPECT_EQ(bad.Add(0xB8), "");
  EXPECT_EQ(bad.Add('A'), "\uFFFDA");
  EXPECT_EQ(bad.Add(0xFF), "\uFFFD");
  EXPECT_EQ(bad.Add(0xF0), "");
  EXPECT_EQ(bad.Flush(), "\uFFFD");
  EXPECT_EQ(bad.Add(256), "<eos>");

  // Concatenated output equals Decode of the whole, for arbitrary bytes.
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    std::vector<int32_t> random_ids(rng() % 12);
    for (int32_t& id : random_ids) id = int32_t(rng() % 257);
    IncrementalDecoder d(**t);
    std::string streamed;
    for (int32_t id : random_ids) streamed += d.Add(id);
    streamed += d.Flush();
    EXPECT_EQ(streamed, (*t)->Decode(random_ids));
  }
}

TEST(TokenizerTest, GeneratedByteLevelTokenizerRoundTrips) {
  const std::string json = MakeByteLevelTokenizerJson({"<|bos|>", "<|eos|>"});
  auto t = Tokenizer::FromJson(json, "generated");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ((*t)->vocab_size(), 258);
  EXPECT_EQ((*t)->TokenToId("<|eos|>"), 257);
  EXPECT_TRUE((*t)->IsSpecial(256));
  EXPECT_EQ((*t)->IdToToken(32), "Ġ");
  EXPECT_EQ((*t)->Encode("<|bos|>hi"), (Ids{256, 'h', 'i'}));
  std::mt19937 rng(1);
  for (int round = 0; round < 300; ++round) {
    std::string bytes(rng() % 40, '\0');
    for (char& c : bytes) c = char(rng() % 256);
    std::string valid;
    AppendUtf8Lossy(bytes, &valid);
    EXPECT_EQ((*t)->Decode((*t)->Encode(valid)), valid);
    // Raw bytes: each id is one byte of the repaired text.
    EXPECT_EQ((*t)->Encode(bytes).size(), valid.size());
  }
}

TEST(TokenizerTest, ConcurrentEncodesAgree) {
  TinySpec spec;
  spec.extra_vocab = {"th", "the", " the"};
  spec.merges = R"(["t h", "th e", "Ġ the"])";
  spec.pre_tokenizer = R"({"type": "ByteLevel", "add_prefix_space": false})";
  auto t = Load(spec);
  ASSERT_NE(t, nullptr);
  std::string text;
  for (int i = 0; i < 2000; ++i) text += "the " + std::to_string(i) + " ";
  const std::vector<int32_t> expected = t->Encode(text);
  std::vector<std::thread> threads;
  std::vector<bool> same(4);
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([&, k] { same[k] = t->Encode(text) == expected; });
  }
  for (auto& th : threads) th.join();
  for (int k = 0; k < 4; ++k) EXPECT_TRUE(same[k]);
  EXPECT_EQ(t->Decode(expected), text);
}

void ExpectError(const std::string& json, const std::string& needle) {
  auto t = Tokenizer::FromJson(json, "bad.json");
  ASSERT_FALSE(t.ok()) << "accepted, expected: " << needle;
  EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(t.status().message().find(needle), std::string::npos) << t.status().message();
  EXPECT_NE(t.status().message().find("bad.json"), std::string::npos) << t.status().message();
}

TEST(TokenizerTest, RefusesWhatItCannotRun) {
  ExpectError("{\"model\": ", "malformed JSON");
  ExpectError("[1, 2]", "not a JSON object");
  ExpectError(R"({"model": {"type": "WordPiece", "vocab": {}}})", "\"WordPiece\"");
  ExpectError(R"({"model": {"type": "Unigram", "vocab": []}})", "\"Unigram\"");
  TinySpec spec;
  spec.model_extra = R"(, "byte_fallback": true)";
  ExpectError(TinyJson(spec), "byte_fallback");
  spec = TinySpec();
  spec.pre_tokenizer = R"({"type": "Metaspace", "replacement": "▁"})";
  ExpectError(TinyJson(spec), "\"Metaspace\"");
  spec = TinySpec();
  spec.merges = R"(["a zz"])";
  ExpectError(TinyJson(spec), "\"zz\", which is not in the vocab");
  spec.merges = R"(["a b"])";  // "ab" itself is missing
  ExpectError(TinyJson(spec), "\"ab\", which is not in the vocab");
  spec.merges = R"(["abc"])";
  ExpectError(TinyJson(spec), "one space");
  spec = TinySpec();
  spec.normalizer = R"({"type": "Lowercase"})";
  ExpectError(TinyJson(spec), "\"Lowercase\"");
  spec = TinySpec();
  spec.decoder = R"({"type": "Metaspace"})";
  ExpectError(TinyJson(spec), "decoder type \"Metaspace\"");
  spec = TinySpec();
  spec.pre_tokenizer =
      R"({"type": "Split", "pattern": {"Regex": "(oops"}, "behavior": "Isolated"})";
  ExpectError(TinyJson(spec), "bad regex");
  spec = TinySpec();
  spec.pre_tokenizer = "null";
  ExpectError(TinyJson(spec), "without a ByteLevel pre_tokenizer");

  auto missing = Tokenizer::FromFile("/nonexistent/tokenizer.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("/nonexistent/tokenizer.json"), std::string::npos);
}

}  // namespace
}  // namespace radixlm::model
