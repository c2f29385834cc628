#include "engine/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace radixlm::engine {
namespace {

SamplingParams Greedy() {
  SamplingParams p;
  p.temperature = 0;
  return p;
}

std::vector<float> RandomLogits(size_t n, uint64_t seed, float scale = 3.0f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> logits(n);
  for (float& l : logits) l = dist(rng);
  return logits;
}

// Draws `n` tokens, each from a fresh copy of `logits` (Sample treats its row as scratch).
std::vector<int32_t> Draw(Sampler& sampler, const std::vector<float>& logits, int n) {
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) {
    std::vector<float> row = logits;
    out.push_back(sampler.Sample(row));
  }
  return out;
}

std::vector<double> Frequencies(const std::vector<int32_t>& tokens, size_t vocab) {
  std::vector<double> f(vocab, 0);
  for (int32_t t : tokens) f.at(static_cast<size_t>(t)) += 1.0 / static_cast<double>(tokens.size());
  return f;
}

std::vector<double> Softmax(const std::vector<float>& logits, double temperature) {
  std::vector<double> p(logits.size());
  double max = *std::max_element(logits.begin(), logits.end()) / temperature;
  double sum = 0;
  for (size_t i = 0; i < p.size(); ++i) sum += p[i] = std::exp(logits[i] / temperature - max);
  for (double& x : p) x /= sum;
  return p;
}

// log-softmax by the definition, in long double, without the max shift.
std::vector<double> ReferenceLogSoftmax(const std::vector<float>& logits) {
  long double sum = 0;
  for (float l : logits) sum += std::exp(static_cast<long double>(l));
  std::vector<double> out;
  for (float l : logits)
    out.push_back(static_cast<double>(static_cast<long double>(l) - std::log(sum)));
  return out;
}

// --- Validate ---

TEST(SamplingParamsTest, DefaultsAreValid) { EXPECT_TRUE(SamplingParams{}.Validate().ok()); }

TEST(SamplingParamsTest, PenaltiesMustBeBetweenMinusTwoAndTwo) {
  SamplingParams p;
  for (double ok : {-2.0, -0.5, 0.0, 2.0}) {
    p.presence_penalty = ok;
    p.frequency_penalty = ok;
    EXPECT_TRUE(p.Validate().ok()) << ok;
  }
  p.frequency_penalty = 0;
  for (double bad : {-2.01, 2.5, std::nan(""), std::numeric_limits<double>::infinity()}) {
    p.presence_penalty = bad;
    Status s = p.Validate();
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(s.message(), "presence_penalty must be between -2 and 2") << bad;
  }
  p.presence_penalty = 0;
  for (double bad : {-3.0, 2.0001, std::nan(""), -std::numeric_limits<double>::infinity()}) {
    p.frequency_penalty = bad;
    Status s = p.Validate();
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(s.message(), "frequency_penalty must be between -2 and 2") << bad;
  }
}

TEST(SamplingParamsTest, LogitBiasRange) {
  SamplingParams p;
  p.logit_bias = {{0, -100.0f}, {7, 100.0f}, {3, 0.5f}};
  EXPECT_TRUE(p.Validate().ok());
  for (float bad : {100.5f, -101.0f, std::nanf(""), std::numeric_limits<float>::infinity()}) {
    p.logit_bias = {{1, 2.0f}, {5, bad}};
    Status s = p.Validate();
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find("logit_bias"), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("between -100 and 100"), std::string::npos) << s.message();
  }
  p.logit_bias = {{-1, 1.0f}};
  Status s = p.Validate();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("logit_bias"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find(">= 0"), std::string::npos) << s.message();
}

TEST(SamplingParamsTest, ExistingChecksStillApply) {
  SamplingParams p;
  p.temperature = -1;
  EXPECT_EQ(p.Validate().message(), "temperature must be >= 0");
  p = {};
  p.top_k = -1;
  EXPECT_EQ(p.Validate().message(), "top_k must be >= 0");
  p = {};
  p.top_p = 0;
  EXPECT_EQ(p.Validate().message(), "top_p must be in (0, 1]");
  p = {};
  p.min_p = 1.5;
  EXPECT_EQ(p.Validate().message(), "min_p must be in [0, 1]");
}

// --- Selection ---

TEST(SamplerTest, GreedyPicksLowestIdAmongEqualMaxima) {
  Sampler greedy(Greedy());
  std::vector<float> logits = {1.0f, 3.0f, -2.0f, 3.0f, 2.0f};
  EXPECT_EQ(greedy.Sample(logits), 1);
  SamplingParams top1;
  top1.top_k = 1;
  Sampler k1(top1);
  logits = {0.0f, 5.0f, 5.0f};
  EXPECT_EQ(k1.Sample(logits), 1);
  logits = {4.0f, 4.0f, 4.0f};
  EXPECT_EQ(k1.Sample(logits), 0);
}

TEST(SamplerTest, DrawUsesFiftyThreeBitsOfTheSeedsOwnStream) {
  // Four equal logits: the draw is floor(4 * u) with u from the seed's own
  // mt19937_64, exactly as before streams existed.
  for (uint64_t seed : {0ull, 1ull, 12345ull}) {
    SamplingParams p;
    p.seed = seed;
    Sampler sampler(p);
    std::mt19937_64 rng(seed);
    for (int i = 0; i < 100; ++i) {
      std::vector<float> logits(4, 0.5f);
      const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;
      EXPECT_EQ(sampler.Sample(logits), static_cast<int32_t>(u * 4)) << seed << " " << i;
    }
  }
}

TEST(SamplerTest, SeededStreamsAreReproducibleAndIndependent) {
  const std::vector<float> logits = RandomLogits(64, 7, 1.0f);
  SamplingParams p;
  p.seed = 2024;
  p.temperature = 1.0;
  Sampler a(p), b(p), a0(p, 0), s1(p, 1), s1_again(p, 1), s2(p, 2);
  const auto seq_a = Draw(a, logits, 200);
  EXPECT_EQ(seq_a, Draw(b, logits, 200));
  EXPECT_EQ(seq_a, Draw(a0, logits, 200));
  const auto seq_1 = Draw(s1, logits, 200);
  EXPECT_EQ(seq_1, Draw(s1_again, logits, 200));
  const auto seq_2 = Draw(s2, logits, 200);
  auto differing = [](const auto& x, const auto& y) {
    int n = 0;
    for (size_t i = 0; i < x.size(); ++i) n += x[i] != y[i];
    return n;
  };
  // 64 flat-ish tokens: independent streams agree on a few percent of draws at most.
  EXPECT_GT(differing(seq_a, seq_1), 150);
  EXPECT_GT(differing(seq_a, seq_2), 150);
  EXPECT_GT(differing(seq_1, seq_2), 150);
  // Another seed's stream 1 differs too.
  SamplingParams q = p;
  q.seed = 2025;
  Sampler other(q, 1);
  EXPECT_GT(differing(seq_1, Draw(other, logits, 200)), 150);
  // Streams are not neighbouring seeds: stream 1 of 2024 is not stream 0 of 2025.
  Sampler next_seed(q, 0);
  EXPECT_GT(differing(seq_1, Draw(next_seed, logits, 200)), 150);
}

TEST(SamplerTest, TemperatureSamplingMatchesSoftmax) {
  const std::vector<float> logits = {0.5f, -1.0f, 2.0f, 0.0f, 1.0f};
  for (double temperature : {0.7, 1.0, 1.8}) {
    SamplingParams p;
    p.temperature = temperature;
    p.seed = 99;
    Sampler sampler(p);
    const int n = 20000;
    const auto freq = Frequencies(Draw(sampler, logits, n), logits.size());
    const auto expected = Softmax(logits, temperature);
    double chi2 = 0;
    for (size_t i = 0; i < logits.size(); ++i) {
      // Standard error is at most sqrt(0.25 / 20000) = 0.0035.
      EXPECT_NEAR(freq[i], expected[i], 0.015) << "temperature " << temperature << " token " << i;
      chi2 += n * (freq[i] - expected[i]) * (freq[i] - expected[i]) / expected[i];
    }
    EXPECT_LT(chi2, 18.47) << "temperature " << temperature;  // chi-square, 4 dof, p = 0.001
  }
}

TEST(SamplerTest, TopKRestrictsToTheKMostLikely) {
  const std::vector<float> logits = RandomLogits(20, 3, 1.0f);
  std::vector<int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  SamplingParams p;
  p.top_k = 3;
  p.temperature = 5.0;  // flattens the distribution, so a leak outside the top 3 would show
  Sampler sampler(p);
  const auto draws = Draw(sampler, logits, 3000);
  const std::set<int32_t> seen(draws.begin(), draws.end());
  EXPECT_EQ(seen, (std::set<int32_t>{order[0], order[1], order[2]}));
}

TEST(SamplerTest, TopPKeepsTheSmallestSetReachingP) {
  const std::vector<float> logits = {std::log(0.15f), std::log(0.5f), std::log(0.05f),
                                     std::log(0.3f)};
  SamplingParams p;
  p.top_p = 0.75;  // 0.5 + 0.3 reaches it
  Sampler sampler(p);
  const auto draws = Draw(sampler, logits, 10000);
  const auto freq = Frequencies(draws, logits.size());
  EXPECT_EQ(freq[0], 0);
  EXPECT_EQ(freq[2], 0);
  EXPECT_NEAR(freq[1], 0.5 / 0.8, 0.02);
  EXPECT_NEAR(freq[3], 0.3 / 0.8, 0.02);
}

TEST(SamplerTest, MinPDropsTokensBelowTheFractionOfTheBest) {
  const std::vector<float> logits = {std::log(0.15f), std::log(0.5f), std::log(0.05f),
                                     std::log(0.3f)};
  SamplingParams p;
  p.min_p = 0.25;  // keeps p >= 0.125
  Sampler sampler(p);
  const auto draws = Draw(sampler, logits, 10000);
  const auto freq = Frequencies(draws, logits.size());
  EXPECT_EQ(freq[2], 0);
  EXPECT_NEAR(freq[0], 0.15 / 0.95, 0.02);
  EXPECT_NEAR(freq[1], 0.5 / 0.95, 0.02);
  EXPECT_NEAR(freq[3], 0.3 / 0.95, 0.02);
}

// --- Penalties and bias ---

TEST(SamplerTest, FrequencyPenaltyGrowsWithEachRepeat) {
  SamplingParams p = Greedy();
  p.frequency_penalty = 0.5;
  Sampler sampler(p);
  // Effective logits: 2 - 0.5 * count(0), 0 - 0.5 * count(1), 1.25 - 0.5 * count(2).
  // Step 8 ties tokens 0 and 1 at 0 (lowest id wins); step 9 reaches token 1.
  EXPECT_EQ(Draw(sampler, {2.0f, 0.0f, 1.25f}, 10),
            (std::vector<int32_t>{0, 0, 2, 0, 2, 0, 2, 0, 1, 2}));
}

TEST(SamplerTest, PresencePenaltyIsPaidOnce) {
  SamplingParams p = Greedy();
  p.presence_penalty = 0.75;
  Sampler sampler(p);
  // After one use each token is 0.75 lower, however often it repeats.
  EXPECT_EQ(Draw(sampler, {1.0f, 0.5f, 0.0f}, 6), (std::vector<int32_t>{0, 1, 0, 0, 0, 0}));
  p.presence_penalty = 1.0;
  Sampler tie(p);
  // 0 then 1; then tokens 0 and 2 tie at 0.
  EXPECT_EQ(Draw(tie, {1.0f, 0.5f, 0.0f}, 4), (std::vector<int32_t>{0, 1, 0, 0}));
}

TEST(SamplerTest, NegativePenaltiesEncourageRepeats) {
  SamplingParams p = Greedy();
  p.frequency_penalty = -1.0;
  p.logit_bias = {{0, 1.0f}};  // token 0 first: 2.5 vs 2
  Sampler sampler(p);
  EXPECT_EQ(Draw(sampler, {1.5f, 2.0f}, 5), (std::vector<int32_t>(5, 0)));
}

TEST(SamplerTest, PenaltiesCountOnlyThisSamplersTokens) {
  SamplingParams p = Greedy();
  p.frequency_penalty = 2.0;
  Sampler first(p), second(p);
  const std::vector<float> logits = {1.0f, 0.0f};
  EXPECT_EQ(Draw(first, logits, 2), (std::vector<int32_t>{0, 1}));
  EXPECT_EQ(Draw(second, logits, 1), (std::vector<int32_t>{0}));
}

TEST(SamplerTest, LogitBiasBansAndForces) {
  const std::vector<float> logits = RandomLogits(30, 11, 2.0f);
  const int32_t best = ArgMax(logits);
  const int32_t worst =
      static_cast<int32_t>(std::min_element(logits.begin(), logits.end()) - logits.begin());

  SamplingParams ban = Greedy();
  ban.logit_bias = {{best, -100.0f}};
  Sampler banned(ban);
  std::vector<float> row = logits;
  EXPECT_NE(banned.Sample(row), best);

  ban.temperature = 1.0;
  Sampler banned_sampling(ban);
  const auto draws = Draw(banned_sampling, logits, 3000);
  EXPECT_EQ(std::count(draws.begin(), draws.end(), best), 0);

  SamplingParams force;
  force.temperature = 1.0;
  force.logit_bias = {{worst, 100.0f}};
  Sampler forced(force);
  const auto forced_draws = Draw(forced, logits, 1000);
  EXPECT_EQ(std::count(forced_draws.begin(), forced_draws.end(), worst), 1000);

  // Out-of-vocabulary ids are the engine's to reject; the sampler ignores them.
  force.logit_bias = {{1000, 100.0f}};
  Sampler out_of_range(force);
  EXPECT_LT(Draw(out_of_range, logits, 10).back(), 30);
}

// --- Log probabilities ---

TEST(ComputeLogprobsTest, MatchesDirectLogSoftmaxAndSortsTop) {
  const std::vector<float> logits = RandomLogits(50, 5);
  const auto ref = ReferenceLogSoftmax(logits);
  std::vector<int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  LogprobEntry out;
  ComputeLogprobs(logits, 17, 5, &out);
  EXPECT_EQ(out.token, 17);
  EXPECT_NEAR(out.logprob, ref[17], 1e-5);
  ASSERT_EQ(out.top.size(), 5u);
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(out.top[i].token, order[i]) << i;
    EXPECT_NEAR(out.top[i].logprob, ref[order[i]], 1e-5) << i;
    if (i > 0) {
      EXPECT_GE(out.top[i - 1].logprob, out.top[i].logprob);
    }
  }
  // The whole vocabulary, then none; the entry is reused.
  ComputeLogprobs(logits, 3, 1000, &out);
  ASSERT_EQ(out.top.size(), logits.size());
  for (size_t i = 0; i < logits.size(); ++i) EXPECT_EQ(out.top[i].token, order[i]);
  double total = 0;
  for (const auto& t : out.top) total += std::exp(static_cast<double>(t.logprob));
  EXPECT_NEAR(total, 1.0, 1e-5);
  ComputeLogprobs(logits, 3, 0, &out);
  EXPECT_TRUE(out.top.empty());
  EXPECT_NEAR(out.logprob, ref[3], 1e-5);
}

TEST(ComputeLogprobsTest, TiesGoToTheLowerId) {
  const std::vector<float> logits = {1.0f, 2.0f, 0.0f, 2.0f, 1.0f};
  LogprobEntry out;
  ComputeLogprobs(logits, 0, 4, &out);
  ASSERT_EQ(out.top.size(), 4u);
  EXPECT_EQ(out.top[0].token, 1);
  EXPECT_EQ(out.top[1].token, 3);
  EXPECT_EQ(out.top[2].token, 0);
  EXPECT_EQ(out.top[3].token, 4);
  EXPECT_EQ(out.top[0].logprob, out.top[1].logprob);
}

TEST(ComputeLogprobsTest, StableForLargeLogits) {
  const std::vector<float> logits = {1000.0f, 999.0f, -1000.0f};
  LogprobEntry out;
  ComputeLogprobs(logits, 1, 3, &out);
  const double lse = std::log1p(std::exp(-1.0));  // log(1 + e^-1), the rest is negligible
  EXPECT_NEAR(out.logprob, -1.0 - lse, 1e-6);
  ASSERT_EQ(out.top.size(), 3u);
  EXPECT_NEAR(out.top[0].logprob, -lse, 1e-6);
  EXPECT_NEAR(out.top[2].logprob, -2000.0 - lse, 1e-3);
  EXPECT_TRUE(std::isfinite(out.top[2].logprob));
}

TEST(SamplerTest, LogprobsReportTheChosenTokenEvenOutsideTop) {
  const std::vector<float> logits = RandomLogits(40, 21);
  const auto ref = ReferenceLogSoftmax(logits);
  const int32_t worst =
      static_cast<int32_t>(std::min_element(logits.begin(), logits.end()) - logits.begin());
  SamplingParams p = Greedy();
  p.logit_bias = {{worst, 100.0f}};
  Sampler sampler(p);
  std::vector<float> row = logits;
  LogprobEntry out;
  EXPECT_EQ(sampler.Sample(row, 2, &out), worst);
  EXPECT_EQ(out.token, worst);
  // The model's own probability, not the biased one.
  EXPECT_NEAR(out.logprob, ref[worst], 1e-5);
  ASSERT_EQ(out.top.size(), 2u);
  EXPECT_EQ(out.top[0].token, ArgMax(logits));
  EXPECT_NEAR(out.top[0].logprob, ref[ArgMax(logits)], 1e-5);
}

TEST(SamplerTest, LogprobsIgnorePenaltiesAndTemperature) {
  const std::vector<float> logits = RandomLogits(30, 8);
  const auto ref = ReferenceLogSoftmax(logits);
  for (double temperature : {0.0, 0.3, 2.0}) {
    SamplingParams p;
    p.temperature = temperature;
    p.frequency_penalty = 2.0;
    p.presence_penalty = 1.5;
    p.logit_bias = {{4, -7.5f}, {9, 3.0f}};
    p.seed = 5;
    Sampler with(p), without(p);
    for (int step = 0; step < 20; ++step) {
      std::vector<float> row = logits, row2 = logits;
      LogprobEntry out;
      const int32_t chosen = with.Sample(row, 3, &out);
      // Asking for logprobs does not change the choice.
      EXPECT_EQ(chosen, without.Sample(row2)) << temperature << " " << step;
      EXPECT_EQ(out.token, chosen);
      EXPECT_NEAR(out.logprob, ref[chosen], 1e-5) << temperature << " " << step;
      ASSERT_EQ(out.top.size(), 3u);
      for (const auto& t : out.top) EXPECT_NEAR(t.logprob, ref[t.token], 1e-5);
    }
  }
}

TEST(SamplerTest, NoLogprobsUnlessAskedWithAnEntry) {
  SamplingParams p = Greedy();
  Sampler sampler(p);
  std::vector<float> row = {0.0f, 1.0f};
  LogprobEntry out;
  out.token = -7;
  EXPECT_EQ(sampler.Sample(row, -1, &out), 1);
  EXPECT_EQ(out.token, -7);
  EXPECT_EQ(sampler.Sample(row, 2, nullptr), 1);
}

}  // namespace
}  // namespace radixlm::engine
