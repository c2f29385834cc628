#include "server/best_of.h"

#include <gtest/gtest.h>

#include <cmath>

namespace radixlm::server {
namespace {

ChoiceOutput Sample(std::string text, std::vector<float> logprobs) {
  ChoiceOutput c;
  c.text = std::move(text);
  for (float lp : logprobs) {
    engine::LogprobEntry e;
    e.logprob = lp;
    c.logprobs.push_back(e);
  }
  c.finish = engine::FinishReason::kLength;
  return c;
}

TEST(BestOf, MeanLogprobPerToken) {
  EXPECT_DOUBLE_EQ(MeanLogprob(Sample("a", {-1.0f, -2.0f, -3.0f})), -2.0);
  EXPECT_EQ(MeanLogprob(Sample("", {})), -INFINITY);
  EXPECT_EQ(MeanLogprob(Sample("a", {-1.0f, -INFINITY})), -INFINITY);
}

// Per prompt the n samples with the highest mean (not sum: the longer sample
// with the better mean wins), best first, ties to the lower sample, re-indexed.
TEST(BestOf, KeepsTheBestNOfEachPrompt) {
  std::vector<ChoiceOutput> choices = {
      // prompt 0
      Sample("short", {-1.0f}),                      // mean -1, sum -1
      Sample("long", {-0.5f, -0.5f, -0.5f, -0.5f}),  // mean -0.5, sum -2
      Sample("tie", {-1.0f, -1.0f}),                 // mean -1, after "short"
      // prompt 1
      Sample("empty", {}),
      Sample("worse", {-3.0f}),
      Sample("better", {-2.0f}),
  };
  const std::vector<ChoiceOutput> best = SelectBestOf(choices, /*samples=*/3, /*n=*/2);
  ASSERT_EQ(best.size(), 4u);
  EXPECT_EQ(best[0].text, "long");
  EXPECT_EQ(best[1].text, "short");
  EXPECT_EQ(best[2].text, "better");
  EXPECT_EQ(best[3].text, "worse");
  for (size_t i = 0; i < best.size(); ++i) EXPECT_EQ(best[i].index, static_cast<int32_t>(i));

  const std::vector<ChoiceOutput> one = SelectBestOf(choices, 3, 1);
  ASSERT_EQ(one.size(), 2u);
  EXPECT_EQ(one[0].text, "long");
  EXPECT_EQ(one[1].text, "better");
  EXPECT_EQ(one[1].index, 1);
}

}  // namespace
}  // namespace radixlm::server
