#include "model/tokenizer.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

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

TEST(TokenizerTest, IncrementalDecodeKeepsListedSpecialTokens) {
  auto t = Tokenizer::FromJson(MakeByteLevelTokenizerJson({"<eos>", "<|python_tag|>"}), "gen");
  ASSERT_TRUE(t.ok());
  const std::vector<int32_t> ids = (*t)->Encode("<|python_tag|>{}<eos>");
  ASSERT_EQ(ids.front(), 257);
  std::string skipped, kept;
  IncrementalDecoder skip(**t, /*skip_special_tokens=*/true);
  IncrementalDecoder keep(**t, /*skip_special_tokens=*/true, /*keep_special=*/{257});
  for (int32_t id : ids) {
    skipped += skip.Add(id);
    kept += keep.Add(id);
  }
  EXPECT_EQ(skipped + skip.Flush(), "{}");
  EXPECT_EQ(kept + keep.Flush(), "<|python_tag|>{}");
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

// A SentencePiece-style tokenizer.json (Llama 2's layout): <unk> <s> </s>,
// the 256 byte tokens <0x00>..<0xFF> as ids 3..258, then `pieces` from 259.
struct SpSpec {
  std::vector<std::string> pieces = {"\u2581", "a",        "b",      "\u2581a",
                                     "ab",     "\u2581ab", "\u00E9", "\u2581\u2581"};
  std::string merges = R"([["a", "b"], ["▁", "ab"], ["▁", "a"], ["▁", "▁"]])";
  std::string normalizer = R"({"type": "Sequence", "normalizers": [
      {"type": "Prepend", "prepend": "▁"},
      {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]})";
  std::string pre_tokenizer = "null";
  std::string decoder = R"({"type": "Sequence", "decoders": [
      {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
      {"type": "ByteFallback"}, {"type": "Fuse"},
      {"type": "Strip", "content": " ", "start": 1, "stop": 0}]})";
  std::string model_extra = R"(, "byte_fallback": true, "fuse_unk": true, "unk_token": "<unk>")";
};

std::string SpJson(const SpSpec& s) {
  std::string vocab = R"("<unk>": 0, "<s>": 1, "</s>": 2)";
  for (int b = 0; b < 256; ++b) {
    char hex[16];
    std::snprintf(hex, sizeof(hex), R"(, "<0x%02X>": %d)", b, b + 3);
    vocab += hex;
  }
  for (size_t i = 0; i < s.pieces.size(); ++i) {
    vocab += ", \"" + s.pieces[i] + "\": " + std::to_string(259 + i);
  }
  const std::string special = R"(, "single_word": false, "lstrip": false, "rstrip": false,
      "normalized": false, "special": true})";
  return R"({"version": "1.0", "added_tokens": [{"id": 0, "content": "<unk>")" + special +
         R"(, {"id": 1, "content": "<s>")" + special + R"(, {"id": 2, "content": "</s>")" +
         special + R"(], "normalizer": )" + s.normalizer + R"(, "pre_tokenizer": )" +
         s.pre_tokenizer + R"(, "post_processor": {"type": "TemplateProcessing",
      "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
      "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}}, "decoder": )" +
         s.decoder + R"(, "model": {"type": "BPE", "dropout": null, "vocab": {)" + vocab +
         R"(}, "merges": )" + s.merges + s.model_extra + "}}";
}

std::unique_ptr<Tokenizer> LoadSp(const SpSpec& spec) {
  auto t = Tokenizer::FromJson(SpJson(spec), "sp.json");
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return t.ok() ? std::move(t).value() : nullptr;
}

// Ids of the SpSpec pieces.
constexpr int32_t kMeta = 259, kA = 260, kB = 261, kMetaA = 262, kAB = 263, kMetaAB = 264,
                  kEAcute = 265, kMetaMeta = 266;
constexpr int32_t Byte(int b) { return b + 3; }

std::string Stream(const Tokenizer& t, const Ids& ids, bool skip = false) {
  IncrementalDecoder d(t, skip);
  std::string out;
  for (int32_t id : ids) {
    const std::string piece = d.Add(id);
    EXPECT_TRUE(IsValidUtf8(piece));
    out += piece;
  }
  return out + d.Flush();
}

TEST(TokenizerTest, SentencePieceBpeWithByteFallback) {
  auto t = LoadSp(SpSpec());
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->Encode("ab a"), (Ids{kMetaAB, kMetaA}));
  EXPECT_EQ(t->Encode("ab", true), (Ids{1, kMetaAB}));
  EXPECT_EQ(t->Encode(" a"), (Ids{kMeta, kMetaA}));  // Prepend always adds one
  EXPECT_EQ(t->Encode(""), Ids{});                   // Prepend leaves "" empty
  // A character outside the vocab becomes its UTF-8 bytes; one inside stays whole.
  EXPECT_EQ(t->Encode("\u00E9\u00E8"), (Ids{kMeta, kEAcute, Byte(0xC3), Byte(0xA8)}));
  EXPECT_EQ(t->Encode("\U0001F600"), (Ids{kMeta, Byte(0xF0), Byte(0x9F), Byte(0x98), Byte(0x80)}));
  // Special tokens split the text; Prepend applies to each piece.
  EXPECT_EQ(t->Encode("<s>a</s>b"), (Ids{1, kMetaA, 2, kMeta, kB}));
  EXPECT_TRUE(t->IsSpecial(2));

  // Decoding: spaces back, bytes fused into characters, the leading space stripped.
  EXPECT_EQ(t->Decode(Ids{kMetaAB, kMetaA}), "ab a");
  EXPECT_EQ(t->Decode(Ids{1, kMetaAB}), "<s> ab");
  EXPECT_EQ(t->Decode(Ids{1, kMetaAB}, true), "ab");
  EXPECT_EQ(t->Decode(Ids{kMetaMeta, kA}), " a");
  EXPECT_EQ(t->Decode(Ids{kA, Byte(0xC3), Byte(0xA8), Byte(0xF0), Byte(0x9F)}), "a\u00E8\uFFFD");
  EXPECT_EQ(t->TokenBytes(Byte(0xC3)), "\xC3");
  for (std::string text : {"ab a", "  lead and trail  ", "\u00E9\u00E8 \U0001F600\U0001F600x",
                           "\u4E2D\n\t\r\n", "a  b"}) {
    const Ids ids = t->Encode(text, true);
    EXPECT_EQ(t->Decode(ids, true), text);
    EXPECT_EQ(Stream(*t, ids, true), text);
    EXPECT_EQ(Stream(*t, ids, false), t->Decode(ids));
  }
  // Streaming holds a character's byte tokens until its last one arrives.
  IncrementalDecoder d(*t);
  EXPECT_EQ(d.Add(kMetaA), "a");  // the stripped leading space never shows
  EXPECT_EQ(d.Add(Byte(0xF0)), "");
  EXPECT_EQ(d.Add(Byte(0x9F)), "");
  EXPECT_EQ(d.Add(Byte(0x98)), "");
  EXPECT_EQ(d.Add(Byte(0x80)), "\U0001F600");
  EXPECT_EQ(d.Add(kMetaA), " a");
  EXPECT_EQ(d.Add(Byte(0xE4)), "");
  EXPECT_EQ(d.Add(kA), "\uFFFDa");
  EXPECT_EQ(d.Flush(), "");
  // Random id streams: the concatenation is Decode's text.
  std::mt19937 rng(3);
  for (int round = 0; round < 300; ++round) {
    Ids ids(rng() % 10);
    for (int32_t& id : ids) id = int32_t(rng() % 268);
    EXPECT_EQ(Stream(*t, ids), t->Decode(ids));
    EXPECT_EQ(Stream(*t, ids, true), t->Decode(ids, true));
  }
}

TEST(TokenizerTest, WordsSplitAtMetaspaceOnlyWhenNoTokenSpansIt) {
  SpSpec spec;
  auto t = LoadSp(spec);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->Encode("ab a"), (Ids{kMetaAB, kMetaA}));
  // "b▁" spans a word start, so the text stays one word and it merges first.
  spec.pieces.push_back("b\u2581");  // id 267
  spec.merges = R"([["b", "▁"], ["a", "b"], ["▁", "ab"], ["▁", "a"], ["▁", "▁"]])";
  t = LoadSp(spec);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->Encode("ab a"), (Ids{kMetaA, 267, kA}));
}

TEST(TokenizerTest, UnknownCharactersWithoutByteFallback) {
  SpSpec spec;
  spec.model_extra = R"(, "byte_fallback": false, "fuse_unk": true, "unk_token": "<unk>")";
  auto t = LoadSp(spec);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->Encode("a\u4E2D\u6587b"), (Ids{kMetaA, 0, kB}));  // fused into one
  spec.model_extra = R"(, "unk_token": "<unk>")";
  t = LoadSp(spec);
  EXPECT_EQ(t->Encode("a\u4E2D\u6587b"), (Ids{kMetaA, 0, 0, kB}));
  spec.model_extra = "";
  t = LoadSp(spec);
  // No unk token: the characters are dropped, as in HF, so "a" and "b" meet and merge.
  EXPECT_EQ(t->Encode("a\u4E2D\u6587b"), (Ids{kMetaAB}));
}

TEST(TokenizerTest, MetaspacePreTokenizerSchemes) {
  SpSpec spec;
  spec.normalizer = "null";
  spec.pre_tokenizer =
      R"({"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": false})";
  auto t = LoadSp(spec);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->Encode("ab a"), (Ids{kMetaAB, kMetaA}));
  EXPECT_EQ(t->Encode(" a"), (Ids{kMetaA}));            // already starts with one
  EXPECT_EQ(t->Encode("a<s>a"), (Ids{kMetaA, 1, kA}));  // only the first piece
  EXPECT_EQ(t->Encode("<s>a"), (Ids{1, kA}));
  EXPECT_EQ(t->Encode("  "), (Ids{kMetaMeta}));  // split false: one piece, "▁▁" merges

  spec.pre_tokenizer = R"({"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always"})";
  t = LoadSp(spec);
  EXPECT_EQ(t->Encode("a<s>a"), (Ids{kMetaA, 1, kMetaA}));
  EXPECT_EQ(t->Encode("  "), (Ids{kMeta, kMeta}));  // split: "▁", "▁"
  // With split, no merge crosses a word start, even where a token would ("b▁").
  SpSpec crossing = spec;
  crossing.pieces.push_back("b\u2581");  // id 267
  crossing.merges = R"([["b", "▁"], ["a", "b"], ["▁", "ab"], ["▁", "a"], ["▁", "▁"]])";
  t = LoadSp(crossing);
  EXPECT_EQ(t->Encode("ab a"), (Ids{kMetaAB, kMetaA}));
  crossing.pre_tokenizer = R"({"type": "Metaspace", "prepend_scheme": "never"})";
  t = LoadSp(crossing);
  EXPECT_EQ(t->Encode("b a"), (Ids{kB, kMetaA}));  // "b", "▁a"
  crossing.pre_tokenizer = R"({"type": "Metaspace", "split": false})";
  t = LoadSp(crossing);
  EXPECT_EQ(t->Encode("ab a"), (Ids{kMetaA, 267, kA}));
  spec.pre_tokenizer = R"({"type": "Metaspace", "replacement": "▁", "prepend_scheme": "never"})";
  t = LoadSp(spec);
  EXPECT_EQ(t->Encode("a b"), (Ids{kA, kMeta, kB}));
  // The legacy spelling: add_prefix_space false is "never", true keeps the scheme.
  spec.pre_tokenizer = R"({"type": "Metaspace", "replacement": "▁", "add_prefix_space": false})";
  t = LoadSp(spec);
  EXPECT_EQ(t->Encode("a"), (Ids{kA}));
  spec.pre_tokenizer = R"({"type": "Metaspace", "replacement": "▁", "add_prefix_space": true,
                           "prepend_scheme": "first"})";
  t = LoadSp(spec);
  EXPECT_EQ(t->Encode("a<s>a"), (Ids{kMetaA, 1, kA}));
}

TEST(TokenizerTest, MetaspaceDecoderAndStripStop) {
  SpSpec spec;
  spec.decoder = R"({"type": "Sequence", "decoders": [{"type": "ByteFallback"},
      {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always"}]})";
  auto t = LoadSp(spec);
  ASSERT_NE(t, nullptr);
  // As HF's Rust decoder: every replacement in the first token goes, later ones are spaces.
  EXPECT_EQ(t->Decode(Ids{kMetaMeta, kMetaA, kMetaAB}), " a ab");
  EXPECT_EQ(t->Decode(Ids{1, kMetaA}), "<s> a");
  EXPECT_EQ(t->Decode(Ids{1, kMetaA}, true), "a");
  EXPECT_EQ(Stream(*t, Ids{1, kMetaA}, true), "a");
  EXPECT_EQ(Stream(*t, Ids{kMetaMeta, kMetaA, kMetaAB}), " a ab");
  spec.decoder = R"({"type": "Metaspace", "replacement": "▁", "prepend_scheme": "never"})";
  t = LoadSp(spec);
  EXPECT_EQ(t->Decode(Ids{kMetaA}), " a");

  // Strip's stop on the fused text: trailing copies held back while streaming.
  spec.decoder = R"({"type": "Sequence", "decoders": [
      {"type": "Replace", "pattern": {"String": "▁"}, "content": " "}, {"type": "Fuse"},
      {"type": "Strip", "content": " ", "start": 2, "stop": 1}]})";
  t = LoadSp(spec);
  EXPECT_EQ(t->Decode(Ids{kMetaMeta, kMetaA, kMeta, kMeta}), " a ");
  EXPECT_EQ(t->Decode(Ids{kMetaMeta, kMetaA, kMeta, kMeta, kA, kMeta}), " a  a");
  IncrementalDecoder d(*t);
  EXPECT_EQ(d.Add(kMetaMeta), "");
  EXPECT_EQ(d.Add(kMetaA), " a");
  EXPECT_EQ(d.Add(kMeta), "");
  EXPECT_EQ(d.Add(kMeta), " ");
  EXPECT_EQ(d.Add(kA), " a");
  EXPECT_EQ(d.Add(kMeta), "");
  EXPECT_EQ(d.Flush(), "");
  // No decoder: HF joins the tokens' text with spaces.
  spec.decoder = "null";
  t = LoadSp(spec);
  EXPECT_EQ(t->Decode(Ids{kMetaA, 1, kB}), "\u2581a <s> b");
  EXPECT_EQ(Stream(*t, Ids{kMetaA, 1, kB}, true), "\u2581a b");
  // A Strip before any Fuse works on each token.
  spec.decoder = R"({"type": "Sequence", "decoders": [
      {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
      {"type": "Strip", "content": " ", "start": 1, "stop": 0}]})";
  t = LoadSp(spec);
  EXPECT_EQ(t->Decode(Ids{kMetaA, kMetaAB}), "aab");
}

TEST(TokenizerTest, ReplaceNormalizerWithRegexAndLowercase) {
  SpSpec spec;
  spec.normalizer = R"({"type": "Sequence", "normalizers": [
      {"type": "Lowercase"},
      {"type": "Replace", "pattern": {"Regex": "\\s+"}, "content": "▁"}]})";
  auto t = LoadSp(spec);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->Encode("AB \t\nA"), (Ids{kAB, kMetaA}));
  EXPECT_EQ(t->Encode("\u0130"), (Ids{Byte('i'), Byte(0xCC), Byte(0x87)}));  // full mapping
  spec.normalizer = R"({"type": "NFKC"})";
  spec.pre_tokenizer = R"({"type": "Metaspace"})";  // HF's defaults: "▁", always, split
  t = LoadSp(spec);
  EXPECT_EQ(t->Encode("\uFF41\uFF42"), (Ids{kMetaAB}));  // fullwidth "ａｂ"
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
  spec.pre_tokenizer = R"({"type": "Metaspace", "replacement": "ab"})";
  ExpectError(TinyJson(spec), "must be one character");
  spec.pre_tokenizer = R"({"type": "Metaspace", "prepend_scheme": "sometimes"})";
  ExpectError(TinyJson(spec), "prepend_scheme \"sometimes\"");
  spec = TinySpec();
  spec.model_extra = R"(, "unk_token": "<nope>")";
  ExpectError(TinyJson(spec), "unk_token \"<nope>\" is not in the vocab");
  spec = TinySpec();
  spec.decoder =
      R"({"type": "Sequence", "decoders": [{"type": "Fuse"}, {"type": "ByteFallback"}]})";
  ExpectError(TinyJson(spec), "\"ByteFallback\" after a Fuse");
  spec.decoder = R"({"type": "Strip", "content": "ab", "start": 1, "stop": 0})";
  ExpectError(TinyJson(spec), "must be one character");
  spec = TinySpec();
  spec.normalizer = R"({"type": "Replace", "pattern": {"Glob": "*"}, "content": ""})";
  ExpectError(TinyJson(spec), "Replace normalizer pattern");
  spec = TinySpec();
  spec.merges = R"(["a zz"])";
  ExpectError(TinyJson(spec), "\"zz\", which is not in the vocab");
  spec.merges = R"(["a b"])";  // "ab" itself is missing
  ExpectError(TinyJson(spec), "\"ab\", which is not in the vocab");
  spec.merges = R"(["abc"])";
  ExpectError(TinyJson(spec), "one space");
  spec = TinySpec();
  spec.normalizer = R"({"type": "BertNormalizer"})";
  ExpectError(TinyJson(spec), "\"BertNormalizer\"");
  spec = TinySpec();
  spec.decoder = R"({"type": "WordPiece"})";
  ExpectError(TinyJson(spec), "decoder type \"WordPiece\"");
  spec = TinySpec();
  spec.pre_tokenizer =
      R"({"type": "Split", "pattern": {"Regex": "(oops"}, "behavior": "Isolated"})";
  ExpectError(TinyJson(spec), "bad regex");

  auto missing = Tokenizer::FromFile("/nonexistent/tokenizer.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("/nonexistent/tokenizer.json"), std::string::npos);
}

}  // namespace
}  // namespace radixlm::model
