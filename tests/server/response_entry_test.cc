#include "server/response_entry.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

namespace radixlm::server {
namespace {

CachedResponse Sample() {
  CachedResponse r;
  r.usage.prompt_tokens = 12;
  r.usage.completion_tokens = 5;
  r.usage.cached_tokens = 8;
  for (int32_t i = 0; i < 2; ++i) {
    ChoiceOutput c;
    c.index = i;
    c.prefix = i == 0 ? "echoed " : "";
    c.text = std::string("answer\0with nul", 15) + std::to_string(i);
    c.finish = i == 0 ? engine::FinishReason::kStop : engine::FinishReason::kLength;
    c.logprobs.push_back({7, -0.25f, {{7, -0.25f}, {9, -1.5f}}});
    c.logprobs.push_back({3, -2.0f, {}});
    r.choices.push_back(c);
  }
  return r;
}

TEST(ResponseEntryTest, RoundTrips) {
  const CachedResponse in = Sample();
  auto out = DecodeResponse(EncodeResponse(in), 100);
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(out->usage.prompt_tokens, 12);
  EXPECT_EQ(out->usage.completion_tokens, 5);
  EXPECT_EQ(out->usage.cached_tokens, 8);
  ASSERT_EQ(out->choices.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(out->choices[i].index, in.choices[i].index);
    EXPECT_EQ(out->choices[i].prefix, in.choices[i].prefix);
    EXPECT_EQ(out->choices[i].text, in.choices[i].text);
    EXPECT_EQ(out->choices[i].finish, in.choices[i].finish);
    ASSERT_EQ(out->choices[i].logprobs.size(), 2u);
    EXPECT_EQ(out->choices[i].logprobs[0].top.size(), 2u);
    EXPECT_EQ(out->choices[i].logprobs[0].top[1].token, 9);
    EXPECT_EQ(out->choices[i].logprobs[0].top[1].logprob, -1.5f);
  }
}

TEST(ResponseEntryTest, RefusesTokensOutsideTheVocabulary) {
  EXPECT_FALSE(DecodeResponse(EncodeResponse(Sample()), 8).ok());  // token 9 >= 8
}

// Every truncation and random corruption is refused or decodes to something
// well-formed; none crashes (ASan runs this too).
TEST(ResponseEntryTest, MalformedBytesNeverCrash) {
  const std::string good = EncodeResponse(Sample());
  for (size_t n = 0; n < good.size(); ++n)
    EXPECT_FALSE(DecodeResponse(good.substr(0, n), 100).ok()) << n;
  EXPECT_FALSE(DecodeResponse(good + "x", 100).ok());
  EXPECT_FALSE(DecodeResponse("not a cached response", 100).ok());
  std::mt19937 rng(3);
  for (int i = 0; i < 20000; ++i) {
    std::string bad = good;
    for (int flips = 1 + static_cast<int>(rng() % 4); flips > 0; --flips) {
      bad[rng() % bad.size()] = static_cast<char>(rng());
    }
    auto out = DecodeResponse(bad, 100);
    if (out.ok()) {
      for (const ChoiceOutput& c : out->choices) {
        EXPECT_TRUE(c.finish == engine::FinishReason::kStop ||
                    c.finish == engine::FinishReason::kLength);
      }
    }
  }
}

GenerationRequest Gen() { return GenerationRequest{}; }

std::vector<BuiltPrompt> Prompts(std::vector<int32_t> ids, double temperature, uint64_t seed) {
  BuiltPrompt p;
  p.options.prompt = std::move(ids);
  p.options.sampling.temperature = temperature;
  p.options.sampling.seed = seed;
  return {p};
}

TEST(ResponseKeyTest, NamespaceFirstAndEveryOutputShapingPartCounts) {
  const std::string key = ResponseKey("fp", "ns", false, Prompts({1, 2, 3}, 0, 5), Gen());
  EXPECT_TRUE(key.starts_with(NamespaceDigest("ns") + ":fp:"));
  EXPECT_EQ(key.size(), 32 + 1 + 2 + 1 + 32u);
  EXPECT_EQ(key, ResponseKey("fp", "ns", false, Prompts({1, 2, 3}, 0, 5), Gen()));
  // Greedy: a server-drawn seed does not matter.
  EXPECT_EQ(key, ResponseKey("fp", "ns", false, Prompts({1, 2, 3}, 0, 6), Gen()));
  EXPECT_NE(key, ResponseKey("fp", "ns", true, Prompts({1, 2, 3}, 0, 5), Gen()));
  EXPECT_NE(key, ResponseKey("fp2", "ns", false, Prompts({1, 2, 3}, 0, 5), Gen()));
  EXPECT_NE(key, ResponseKey("fp", "ns2", false, Prompts({1, 2, 3}, 0, 5), Gen()));
  EXPECT_NE(key, ResponseKey("fp", "ns", false, Prompts({1, 2, 4}, 0, 5), Gen()));
  EXPECT_NE(key, ResponseKey("fp", "ns", false, Prompts({1, 2, 3}, 0.5, 5), Gen()));
  GenerationRequest seeded = Gen();
  seeded.seed_set = true;
  EXPECT_NE(ResponseKey("fp", "ns", false, Prompts({1}, 0.5, 5), seeded),
            ResponseKey("fp", "ns", false, Prompts({1}, 0.5, 6), seeded));
  auto with = [](auto change) {
    std::vector<BuiltPrompt> p = Prompts({1, 2, 3}, 0, 5);
    change(p[0]);
    return ResponseKey("fp", "ns", false, p, GenerationRequest{});
  };
  EXPECT_NE(key, with([](BuiltPrompt& p) { p.options.stop.max_tokens = 17; }));
  EXPECT_NE(key, with([](BuiltPrompt& p) { p.options.stop.stop = {"x"}; }));
  EXPECT_NE(key, with([](BuiltPrompt& p) { p.options.stop.stop_token_ids = {2}; }));
  EXPECT_NE(key, with([](BuiltPrompt& p) { p.options.n = 2; }));
  EXPECT_NE(key, with([](BuiltPrompt& p) { p.options.logprobs = 0; }));
  EXPECT_NE(key, with([](BuiltPrompt& p) { p.options.sampling.logit_bias = {{1, 5.0f}}; }));
  EXPECT_NE(key, with([](BuiltPrompt& p) { p.echo_text = "e"; }));
  EXPECT_NE(key, with([](BuiltPrompt& p) { p.options.skip_special_tokens = false; }));
  // best_of 3 returning 1 or 2 of the same three samples: other answers.
  std::vector<BuiltPrompt> three = Prompts({1, 2, 3}, 0, 5);
  three[0].options.n = 3;
  GenerationRequest best_one = Gen(), best_two = Gen();
  best_one.best_of = best_two.best_of = 3;
  best_two.n = 2;
  EXPECT_NE(ResponseKey("fp", "ns", false, three, best_one),
            ResponseKey("fp", "ns", false, three, best_two));
}

TEST(ModelFingerprintTest, ChangesWithAnyWeightByte) {
  const auto dir = std::filesystem::temp_directory_path() / ("fp_test_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  auto write = [&](const char* name, const std::string& text) {
    std::ofstream(dir / name) << text;
  };
  write("config.json", "{}");
  write("model.safetensors", std::string(1 << 16, 'w'));
  write("README.md", "docs do not count");
  auto a = ModelFingerprint(dir.string(), "cpu/f32", "");
  ASSERT_TRUE(a.ok());
  write("README.md", "changed");
  EXPECT_EQ(*ModelFingerprint(dir.string(), "cpu/f32", ""), *a);
  EXPECT_NE(*ModelFingerprint(dir.string(), "cpu/f32", "template"), *a);
  // The same files on another backend or number format: other answers.
  EXPECT_NE(*ModelFingerprint(dir.string(), "cuda/bf16", ""), *a);
  std::string weights(1 << 16, 'w');
  weights[40000] = 'x';
  write("model.safetensors", weights);
  EXPECT_NE(*ModelFingerprint(dir.string(), "cpu/f32", ""), *a);
  EXPECT_FALSE(ModelFingerprint((dir / "absent").string(), "cpu/f32", "").ok());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace radixlm::server
