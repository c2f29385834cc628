// backend::ChooseToken, the token choice every backend runs (the CUDA one on the
// device, tested bit for bit against this in cuda_backend_test): its arithmetic,
// its sets against a plain sort of the whole row, its distribution, and the
// properties the engine relies on (greedy ties, a pure function of row and draw).
#include "backend/sampling.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <random>
#include <set>
#include <vector>

#include "backend/sampling_math.h"

namespace radixlm::backend {
namespace {

using sampling::Exp2NonPositive;
using sampling::Key;

TEST(SamplingMathTest, Exp2IsAccurateAndExactAtZero) {
  EXPECT_EQ(Exp2NonPositive(0.0f), 1.0f);
  EXPECT_EQ(Exp2NonPositive(-0.0f), 1.0f);
  EXPECT_EQ(Exp2NonPositive(-1.0f), 0.5f);
  EXPECT_EQ(Exp2NonPositive(-100.5f), 0.0f);
  EXPECT_EQ(Exp2NonPositive(NAN), 0.0f);
  double worst = 0;
  for (float y = -99.0f; y <= 0; y += 0.000731f) {
    const double ref = std::exp2(static_cast<double>(y));
    worst = std::max(worst, std::abs(Exp2NonPositive(y) - ref) / ref);
  }
  EXPECT_LT(worst, 3e-7);
}

TEST(SamplingMathTest, KeysOrderLikeFloats) {
  std::mt19937 rng(3);
  std::vector<float> xs = {-INFINITY, -1e30f, -2.0f, -1e-40f, -0.0f,   0.0f,
                           1e-40f,    1.0f,   3.5f,  1e30f,   INFINITY};
  std::normal_distribution<float> normal(0, 100);
  for (int i = 0; i < 1000; ++i) xs.push_back(normal(rng));
  for (float a : xs) {
    EXPECT_EQ(sampling::FromKey(Key(a)), a);
    for (float b : xs) {
      if (a < b) {
        EXPECT_LT(Key(a), Key(b)) << a << " " << b;
      }
    }
  }
  EXPECT_LT(Key(-0.0f), Key(0.0f));
}

// The header's definition, written plainly: sort the whole row, cut, filter, draw.
int32_t PlainChoice(const std::vector<float>& logits, const TokenChoice& ch) {
  const int64_t v = static_cast<int64_t>(logits.size());
  if (ch.inv_temperature == 0 || ch.top_k == 1) {
    int32_t best = 0;
    for (int64_t i = 1; i < v; ++i) {
      if (logits[i] > logits[best]) best = static_cast<int32_t>(i);
    }
    return best;
  }
  std::vector<float> c(logits.size());
  float max = -INFINITY;
  for (int64_t i = 0; i < v; ++i) max = std::max(max, c[i] = logits[i] * ch.inv_temperature);
  std::vector<int32_t> order(logits.size());
  for (int64_t i = 0; i < v; ++i) order[i] = static_cast<int32_t>(i);
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return Key(c[a]) > Key(c[b]); });
  auto mass = [&](int32_t i) { return sampling::Mass(sampling::RelativeProb(c[i], max)); };
  int64_t n = ch.top_k > 0 ? std::min<int64_t>(ch.top_k, v) : v;
  if (ch.top_p < 1) {
    uint64_t total = 0;
    for (int64_t i = 0; i < n; ++i) total += mass(order[i]);
    const uint64_t target = sampling::TopPTarget(ch.top_p, total);
    uint64_t sum = 0;
    for (int64_t i = 0; i < n; ++i) {
      if ((sum += mass(order[i])) >= target) {
        n = i + 1;
        break;
      }
    }
  }
  std::set<int32_t> kept;
  for (int64_t i = 0; i < n; ++i) {
    if (sampling::RelativeProb(c[order[i]], max) >= ch.min_p) kept.insert(order[i]);
  }
  uint64_t total = 0;
  for (int32_t i : kept) total += mass(i);
  const uint64_t at = sampling::DrawPoint(ch.uniform, total);
  uint64_t sum = 0;
  for (int32_t i : kept) {
    if ((sum += mass(i)) > at) return i;
  }
  return *kept.rbegin();
}

std::vector<float> Row(std::mt19937_64& rng, int64_t vocab, bool coarse) {
  std::normal_distribution<float> normal(0, 3);
  std::vector<float> row(static_cast<size_t>(vocab));
  // Coarse rows hold few distinct values, so cuts fall inside runs of ties.
  for (float& x : row) x = coarse ? std::round(normal(rng)) : normal(rng);
  return row;
}

TEST(ChooseTokenTest, MatchesAPlainSortOfTheRow) {
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> unit(0, 1);
  int checked = 0;
  for (int64_t vocab : {1, 2, 7, 100, 1000, 5003}) {
    for (bool coarse : {false, true}) {
      for (int trial = 0; trial < 40; ++trial) {
        const std::vector<float> row = Row(rng, vocab, coarse);
        TokenChoice ch;
        ch.inv_temperature = static_cast<float>(std::array{0.0, 0.5, 1.0, 1.7}[trial % 4]);
        ch.top_k = std::array{0, 1, 2, 5, 40, 999, 100000}[trial % 7];
        ch.top_p = std::array{1.0f, 0.9f, 0.5f, 0.1f, 0.999f}[trial % 5];
        ch.min_p = std::array{0.0f, 0.05f, 0.5f}[trial % 3];
        ch.uniform = unit(rng);
        EXPECT_EQ(ChooseToken(row, ch), PlainChoice(row, ch))
            << "vocab " << vocab << " trial " << trial << " k " << ch.top_k << " p " << ch.top_p;
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, 480);
}

TEST(ChooseTokenTest, GreedyTakesTheLowestIdOfTheMaxima) {
  const std::vector<float> row = {1, 4, -2, 4, 3};
  EXPECT_EQ(ChooseToken(row, TokenChoice{}), 1);
  TokenChoice k1;
  k1.inv_temperature = 1;
  k1.top_k = 1;
  k1.uniform = 0.99;
  EXPECT_EQ(ChooseToken(row, k1), 1);
}

TEST(ChooseTokenTest, DrawsFollowTheSoftmax) {
  const std::vector<float> row = {0.5f, -1.0f, 2.0f, 0.0f, 1.0f};
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> unit(0, 1);
  for (float temperature : {0.7f, 1.0f, 1.8f}) {
    TokenChoice ch;
    ch.inv_temperature = 1 / temperature;
    std::vector<int> counts(row.size());
    const int n = 40000;
    for (int i = 0; i < n; ++i) {
      ch.uniform = unit(rng);
      ++counts[ChooseToken(row, ch)];
    }
    double z = 0;
    for (float l : row) z += std::exp(l / temperature);
    for (size_t i = 0; i < row.size(); ++i) {
      // Standard error at most sqrt(0.25 / 40000) = 0.0025.
      EXPECT_NEAR(counts[i] / static_cast<double>(n), std::exp(row[i] / temperature) / z, 0.012)
          << i;
    }
  }
}

TEST(ChooseTokenTest, TopKTopPAndMinPKeepTheirSets) {
  // Relative probabilities 1, 0.6, 0.3, 0.1: masses 0.5, 0.3, 0.15, 0.05 of 2.
  const std::vector<float> row = {std::log(0.3f), std::log(1.0f), std::log(0.1f), std::log(0.6f)};
  auto support = [&](TokenChoice ch) {
    std::set<int32_t> seen;
    for (int i = 0; i < 2000; ++i) {
      ch.uniform = (i + 0.5) / 2000;
      seen.insert(ChooseToken(row, ch));
    }
    return seen;
  };
  TokenChoice ch;
  ch.inv_temperature = 1;
  EXPECT_EQ(support(ch), (std::set<int32_t>{0, 1, 2, 3}));
  ch.top_k = 2;
  EXPECT_EQ(support(ch), (std::set<int32_t>{1, 3}));
  ch.top_k = 0;
  ch.top_p = 0.75f;  // 0.5 + 0.3 reaches it
  EXPECT_EQ(support(ch), (std::set<int32_t>{1, 3}));
  ch.top_p = 0.85f;
  EXPECT_EQ(support(ch), (std::set<int32_t>{0, 1, 3}));
  ch.top_p = 1;
  ch.min_p = 0.25f;
  EXPECT_EQ(support(ch), (std::set<int32_t>{0, 1, 3}));
  ch.min_p = 1;
  EXPECT_EQ(support(ch), (std::set<int32_t>{1}));
}

TEST(ChooseTokenTest, TiesAtTheCutGoToTheLowerIds) {
  const std::vector<float> row = {1, 2, 2, 2, 0};
  TokenChoice ch;
  ch.inv_temperature = 1;
  ch.top_k = 2;  // the first two of the three 2s
  std::set<int32_t> seen;
  for (int i = 0; i < 100; ++i) {
    ch.uniform = i / 100.0;
    seen.insert(ChooseToken(row, ch));
  }
  EXPECT_EQ(seen, (std::set<int32_t>{1, 2}));
}

TEST(ChooseTokenTest, EqualLogitsSplitTheUnitIntervalEvenly) {
  const std::vector<float> row(4, 0.5f);
  TokenChoice ch;
  ch.inv_temperature = 1;
  for (double u : {0.0, 0.2499, 0.25, 0.6, 0.74999, 0.75, 0.9999999}) {
    ch.uniform = u;
    EXPECT_EQ(ChooseToken(row, ch), static_cast<int32_t>(u * 4)) << u;
  }
}

TEST(ChooseTokenTest, RowsWithoutFiniteLogitsFallBackToGreedy) {
  const std::vector<float> row(5, -INFINITY);
  TokenChoice ch;
  ch.inv_temperature = 1;
  ch.uniform = 0.7;
  EXPECT_EQ(ChooseToken(row, ch), 0);
}

TEST(TokenChoiceTest, ValidateNamesTheField) {
  TokenChoice ch;
  EXPECT_TRUE(ch.Validate().ok());
  ch.uniform = 1;
  EXPECT_EQ(ch.Validate().message(), "token choice: uniform must be in [0, 1)");
  ch = {};
  ch.top_p = 0;
  EXPECT_EQ(ch.Validate().message(), "token choice: top_p must be in (0, 1]");
  ch = {};
  ch.inv_temperature = INFINITY;
  EXPECT_FALSE(ch.Validate().ok());
  ch = {};
  ch.top_k = -1;
  EXPECT_FALSE(ch.Validate().ok());
}

// A token mask (constrained decoding): every choice, greedy or drawn with any
// top-k / top-p / min-p, takes an allowed token; among the allowed ones the
// draw is the one ChooseToken makes on the row with the others at -inf; the
// figures stay those of the whole row.
TEST(RowSamplingTest, TokenMaskLimitsEveryChoice) {
  std::mt19937_64 rng(11);
  std::normal_distribution<float> normal(0, 3);
  std::uniform_real_distribution<double> unit(0, 1);
  for (int64_t vocab : {1, 31, 32, 33, 1000, 32768}) {
    for (int trial = 0; trial < 40; ++trial) {
      std::vector<float> row(static_cast<size_t>(vocab));
      for (float& x : row) x = normal(rng);
      std::vector<uint32_t> allowed(static_cast<size_t>((vocab + 31) / 32), 0);
      const int kind = trial % 4;  // one token; a few; about half; all
      for (int64_t i = 0; i < vocab; ++i) {
        const bool on = kind == 0   ? i == vocab / 2
                        : kind == 1 ? rng() % 50 == 0 || i == 0
                        : kind == 2 ? rng() % 2 == 0 || i == 0
                                    : true;
        if (on) allowed[static_cast<size_t>(i / 32)] |= 1u << (i % 32);
      }
      auto is_allowed = [&](int32_t id) {
        return (allowed[static_cast<size_t>(id / 32)] >> (id % 32)) & 1u;
      };
      std::vector<TokenChoice> choices;
      for (float inv : {0.0f, 1.0f, 0.5f, 2.0f}) {
        TokenChoice c;
        c.inv_temperature = inv;
        c.top_k = std::array{0, 1, 5, 40}[trial % 4];
        c.top_p = std::array{1.0f, 0.9f, 0.5f}[trial % 3];
        c.min_p = trial % 5 == 0 ? 0.05f : 0.0f;
        c.uniform = unit(rng);
        choices.push_back(c);
      }
      const std::vector<LogitEdit> edits = {{0, 50.0f}, {static_cast<int32_t>(vocab - 1), 2.0f}};
      std::vector<int32_t> chosen(choices.size(), -1);
      RowLogprobs figures, plain_figures;
      RowSampling s{edits, choices, chosen, 3, &figures, allowed};
      ASSERT_TRUE(s.Validate(vocab).ok()) << s.Validate(vocab).ToString();
      std::vector<float> scratch = row;
      SampleRow(scratch, s);
      // The reference: edits, then -inf outside the mask, then ChooseToken.
      std::vector<float> masked = row;
      for (const LogitEdit& e : edits) masked[static_cast<size_t>(e.token)] += e.delta;
      for (int64_t i = 0; i < vocab; ++i) {
        if (!is_allowed(static_cast<int32_t>(i))) masked[static_cast<size_t>(i)] = -INFINITY;
      }
      EXPECT_EQ(scratch, masked);
      for (size_t c = 0; c < choices.size(); ++c) {
        EXPECT_TRUE(is_allowed(chosen[c])) << "vocab " << vocab << " choice " << c;
        EXPECT_EQ(chosen[c], ChooseToken(masked, choices[c]));
      }
      ComputeRowLogprobs(row, 3, &plain_figures);
      EXPECT_EQ(figures.max, plain_figures.max);
      EXPECT_EQ(figures.mass, plain_figures.mass);
      ASSERT_EQ(figures.chosen_logits.size(), choices.size());
      for (size_t c = 0; c < choices.size(); ++c) {
        const float unedited = row[static_cast<size_t>(chosen[c])];
        EXPECT_EQ(figures.chosen_logits[c], unedited);
      }
    }
  }
}

TEST(RowSamplingTest, ValidateChecksTheMask) {
  std::vector<TokenChoice> choices(1);
  std::vector<int32_t> chosen(1);
  std::vector<uint32_t> mask(2, 0);
  RowSampling s{{}, choices, chosen, -1, nullptr, mask};
  EXPECT_EQ(s.Validate(40).message(), "row sampling: the token mask allows no token");
  mask[1] = 1u << 9;  // token 41: past a vocabulary of 40
  EXPECT_FALSE(s.Validate(40).ok());
  mask[1] = 1u << 7;  // token 39
  EXPECT_TRUE(s.Validate(40).ok());
  EXPECT_EQ(s.Validate(100).message(),
            "row sampling: a token mask of 2 words for a vocabulary of 100");
  std::vector<float> row(40, 1.0f);
  ApplyTokenMask(row, mask);
  for (size_t i = 0; i < row.size(); ++i) EXPECT_EQ(row[i], i == 39 ? 1.0f : -INFINITY) << i;
  ApplyTokenMask(row, {});
  EXPECT_EQ(row[39], 1.0f);
}

}  // namespace
}  // namespace radixlm::backend
