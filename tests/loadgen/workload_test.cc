#include "loadgen/workload.h"

#include <gtest/gtest.h>

#include <set>

#include "loadgen/ideal.h"
#include "sim/workloads.h"

namespace radixlm::loadgen {
namespace {

size_t CommonPrefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  size_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
  return n;
}
size_t CommonPrefix(const std::string& a, const std::string& b) {
  size_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
  return n;
}

std::unique_ptr<BenchWorkload> Gsp(int64_t groups, int64_t requests, BenchWorkloadOptions o = {}) {
  sim::WorkloadOptions w;
  w.name = "generated-shared-prefix";
  w.groups = groups;
  w.requests = requests;
  w.system_tokens = 64;
  w.question_tokens = 16;
  w.rate = -1;
  auto trace = sim::GenerateWorkload(w);
  EXPECT_TRUE(trace.ok());
  auto workload = BenchWorkload::Create(std::move(*trace), 0, o);
  EXPECT_TRUE(workload.ok()) << workload.status().ToString();
  return std::move(*workload);
}

std::string Group(const BenchWorkload& w, size_t i) {
  return w.trace().content_names[w.trace().requests[i].segments[0].content];
}

TEST(WordsTest, FixedLowercaseWordsAndUnits) {
  std::set<std::string_view> words;
  for (sim::Token t = 0; t < 100000; ++t) {
    const std::string_view w = WordFor(t);
    ASSERT_FALSE(w.empty());
    for (char c : w) ASSERT_TRUE(c >= 'a' && c <= 'z') << w;
    words.insert(w);
  }
  EXPECT_EQ(words.size(), kNumWords);  // every word is used
  EXPECT_EQ(WordFor(12345), WordFor(12345));
  std::vector<int32_t> units;
  AppendWordUnits("  river  stone\nriver\t", &units);
  ASSERT_EQ(units.size(), 3u);
  EXPECT_EQ(units[0], units[2]);
  EXPECT_NE(units[0], units[1]);
  EXPECT_GE(units[1], 0);
  for (sim::Token t : {0, 1, 1 << 30, 2147483647}) {
    EXPECT_GE(WireToken(t, 320), 0);
    EXPECT_LT(WireToken(t, 320), 320);
  }
}

TEST(BenchWorkloadTest, TokenPromptsKeepTheTracesSharing) {
  auto w = Gsp(4, 16, {.vocab = 1 << 30});
  ASSERT_EQ(w->requests().size(), 16u);
  std::vector<Answer> none(16);
  for (size_t i = 0; i < 16; ++i) {
    const BuiltPrompt a = w->Build(i, PromptFormat::kTokens, Endpoint::kCompletions, none);
    EXPECT_EQ(a.tokens.size(), 80u);
    EXPECT_EQ(a.units, a.tokens);
    for (size_t j = 0; j < i; ++j) {
      const BuiltPrompt b = w->Build(j, PromptFormat::kTokens, Endpoint::kCompletions, none);
      // A vocabulary of 2^30: no chance collisions, the sharing is the trace's exactly.
      EXPECT_EQ(CommonPrefix(a.tokens, b.tokens), Group(*w, i) == Group(*w, j) ? 64u : 0u);
    }
  }
}

TEST(BenchWorkloadTest, TextPromptsShareExactlyTheSharedWords) {
  auto w = Gsp(4, 16);
  std::vector<Answer> none(16);
  for (size_t i = 0; i < 16; ++i) {
    const BuiltPrompt a = w->Build(i, PromptFormat::kText, Endpoint::kCompletions, none);
    EXPECT_EQ(a.units.size(), 80u);  // a word per token
    EXPECT_EQ(a.text[0], ' ');
    for (size_t j = 0; j < i; ++j) {
      const BuiltPrompt b = w->Build(j, PromptFormat::kText, Endpoint::kCompletions, none);
      const size_t words = CommonPrefix(a.units, b.units);
      if (Group(*w, i) == Group(*w, j)) {
        // The system prompt's 64 words (and by chance the question's first).
        EXPECT_GE(words, 64u);
        EXPECT_LE(words, 65u);
        // The text is the same through the shared words: a tokenizer splitting
        // at spaces sees the same pre-tokens there.
        const size_t chars = CommonPrefix(a.text, b.text);
        size_t spaces = 0;
        for (size_t c = 0; c < chars; ++c) spaces += a.text[c] == ' ';
        EXPECT_GE(spaces, 64u);
      } else {
        EXPECT_LE(words, 1u);
      }
    }
  }
}

TEST(BenchWorkloadTest, ChatMessagesRoles) {
  auto w = Gsp(2, 4);
  std::vector<Answer> none(4);
  const BuiltPrompt p = w->Build(0, PromptFormat::kText, Endpoint::kChat, none);
  ASSERT_EQ(p.messages.size(), 2u);
  EXPECT_EQ(p.messages[0].role, "system");
  EXPECT_EQ(p.messages[1].role, "user");
  EXPECT_NE(p.messages[0].content[0], ' ');
  EXPECT_EQ(p.units.size(), 2u + 80u);  // a unit per role and per word
}

TEST(BenchWorkloadTest, MultiTurnWaitsForAndRepeatsTheServersAnswer) {
  sim::WorkloadOptions o;
  o.name = "multi-turn";
  o.groups = 2;
  o.turns = 3;
  o.system_tokens = 8;
  o.question_tokens = 4;
  o.output_tokens = 4;
  o.rate = -1;
  auto trace = sim::GenerateWorkload(o);
  ASSERT_TRUE(trace.ok());
  auto made = BenchWorkload::Create(*trace, 0, {});
  ASSERT_TRUE(made.ok());
  const BenchWorkload& w = **made;
  const auto& rs = w.requests();
  ASSERT_EQ(rs.size(), 6u);
  for (size_t i = 0; i < rs.size(); ++i) {
    // Every turn after the first waits for the one before it, in its session.
    if (rs[i].after < 0) continue;
    EXPECT_EQ(rs[static_cast<size_t>(rs[i].after)].session, rs[i].session);
    EXPECT_LT(static_cast<size_t>(rs[i].after), i);
  }
  size_t second = 0;
  while (rs[second].after < 0) ++second;
  const size_t first = static_cast<size_t>(rs[second].after);

  std::vector<Answer> answers(rs.size());
  const BuiltPrompt fallback =
      w.Build(second, PromptFormat::kTokens, Endpoint::kCompletions, answers);
  EXPECT_EQ(fallback.history_fallbacks, 1);  // the answer is not known yet
  answers[first] = {true, " hello world", {7, 8, 9}, true};
  const BuiltPrompt before = w.Build(first, PromptFormat::kTokens, Endpoint::kCompletions, answers);
  const BuiltPrompt p = w.Build(second, PromptFormat::kTokens, Endpoint::kCompletions, answers);
  EXPECT_EQ(p.history_fallbacks, 0);
  // The previous prompt, then the server's answer ids, then the new question.
  ASSERT_GT(p.tokens.size(), before.tokens.size() + 3);
  EXPECT_TRUE(std::equal(before.tokens.begin(), before.tokens.end(), p.tokens.begin()));
  EXPECT_EQ(
      std::vector<int32_t>(p.tokens.begin() + static_cast<ptrdiff_t>(before.tokens.size()),
                           p.tokens.begin() + static_cast<ptrdiff_t>(before.tokens.size()) + 3),
      (std::vector<int32_t>{7, 8, 9}));
  const BuiltPrompt chat = w.Build(second, PromptFormat::kText, Endpoint::kChat, answers);
  ASSERT_EQ(chat.messages.size(), 4u);
  EXPECT_EQ(chat.messages[2].role, "assistant");
  EXPECT_EQ(chat.messages[2].content, "hello world");
  EXPECT_EQ(chat.messages[3].role, "user");
  const BuiltPrompt text = w.Build(second, PromptFormat::kText, Endpoint::kCompletions, answers);
  const BuiltPrompt text_before =
      w.Build(first, PromptFormat::kText, Endpoint::kCompletions, answers);
  EXPECT_EQ(text.text.rfind(text_before.text + " hello world ", 0), 0u);

  // History from the generator: the same prompt whatever the server answered.
  auto gen = BenchWorkload::Create(*trace, 0, {.history = HistoryMode::kGenerated});
  ASSERT_TRUE(gen.ok());
  EXPECT_EQ((*gen)->Build(second, PromptFormat::kTokens, Endpoint::kCompletions, answers).tokens,
            fallback.tokens);
}

TEST(BenchWorkloadTest, HeldAfterAnAnswerIsThePromptAndTheAnswerLessItsLastToken) {
  BuiltPrompt p;
  p.tokens = p.units = {1, 2, 3};
  Answer a{true, " x y", {7, 8, 9}, true};
  EXPECT_EQ(HeldAfter(p, a, PromptFormat::kTokens, Endpoint::kCompletions),
            (std::vector<int32_t>{1, 2, 3, 7, 8}));
  a.ids_known = false;
  EXPECT_EQ(HeldAfter(p, a, PromptFormat::kTokens, Endpoint::kCompletions), p.units);
  a.known = false;
  EXPECT_EQ(HeldAfter(p, a, PromptFormat::kText, Endpoint::kCompletions), p.units);

  BuiltPrompt t;
  t.text = " river stone";
  AppendWordUnits(t.text, &t.units);
  const Answer text{true, "s flow on", {}, false};  // merges with the prompt's last word
  std::vector<int32_t> want;
  AppendWordUnits(" river stones flow", &want);
  EXPECT_EQ(HeldAfter(t, text, PromptFormat::kText, Endpoint::kCompletions), want);
  BuiltPrompt chat;
  chat.units = {WordUnit("<|user|>"), WordUnit("river")};
  const std::vector<int32_t> held =
      HeldAfter(chat, {true, "flow on", {}, false}, PromptFormat::kText, Endpoint::kChat);
  EXPECT_EQ(held, (std::vector<int32_t>{WordUnit("<|user|>"), WordUnit("river"),
                                        WordUnit("<|assistant|>"), WordUnit("flow")}));
}

TEST(BenchWorkloadTest, HashBlockTraceToPrompts) {
  const std::string text =
      "{\"timestamp\": 0, \"input_length\": 40, \"output_length\": 2, \"hash_ids\": [0, 1, 2]}\n"
      "{\"timestamp\": 5, \"input_length\": 48, \"output_length\": 2, \"hash_ids\": [0, 1, 3]}\n"
      "{\"timestamp\": 9, \"input_length\": 20, \"output_length\": 2, \"hash_ids\": [4, 5]}\n";
  sim::TraceReadOptions read;
  read.block_tokens = 16;
  auto trace = sim::ParseTrace(text, "t.jsonl", read);
  ASSERT_TRUE(trace.ok()) << trace.status().ToString();
  auto w = BenchWorkload::Create(std::move(*trace), 0, {.vocab = 1 << 30});
  ASSERT_TRUE(w.ok());
  const auto& rs = (*w)->requests();
  ASSERT_EQ(rs.size(), 3u);
  EXPECT_DOUBLE_EQ(rs[1].arrival_s, 0.005);
  EXPECT_EQ(rs[0].max_tokens, 2);
  std::vector<Answer> none(3);
  const auto a = (*w)->Build(0, PromptFormat::kTokens, Endpoint::kCompletions, none).tokens;
  const auto b = (*w)->Build(1, PromptFormat::kTokens, Endpoint::kCompletions, none).tokens;
  const auto c = (*w)->Build(2, PromptFormat::kTokens, Endpoint::kCompletions, none).tokens;
  EXPECT_EQ(a.size(), 40u);
  EXPECT_EQ(b.size(), 48u);
  EXPECT_EQ(CommonPrefix(a, b), 32u);  // two shared 16-token blocks
  EXPECT_EQ(CommonPrefix(a, c), 0u);

  // The ideal: 32 of b's tokens, nothing of c's.
  auto ideal = IdealReplay::Create(200, 3);
  ASSERT_TRUE(ideal.ok());
  EXPECT_EQ(*(*ideal)->Next(a, a), 0);
  EXPECT_EQ(*(*ideal)->Next(b, b), 32);
  EXPECT_EQ(*(*ideal)->Next(c, c), 0);
  // A prompt seen before is capped at its length - 1; an insert longer than
  // the prompt (the server's answer) is hit by the next turn.
  auto again = IdealReplay::Create(400, 4);
  ASSERT_TRUE(again.ok());
  std::vector<int32_t> turn2 = b;
  turn2.insert(turn2.end(), {1, 2, 3, 4});
  std::vector<int32_t> with_answer = b;
  with_answer.insert(with_answer.end(), {1, 2});
  EXPECT_EQ(*(*again)->Next(b, with_answer), 0);
  EXPECT_EQ(*(*again)->Next(b, b), 47);
  EXPECT_EQ(*(*again)->Next(turn2, turn2), 50);
}

TEST(BenchWorkloadTest, LimitAndValidation) {
  auto w = Gsp(4, 16);
  sim::WorkloadOptions o;
  o.name = "all-unique";
  o.requests = 10;
  auto trace = sim::GenerateWorkload(o);
  ASSERT_TRUE(trace.ok());
  auto limited = BenchWorkload::Create(*trace, 3, {.max_tokens = 5});
  ASSERT_TRUE(limited.ok());
  EXPECT_EQ((*limited)->requests().size(), 3u);
  EXPECT_EQ((*limited)->requests()[2].max_tokens, 5);
  EXPECT_FALSE(BenchWorkload::Create(*trace, 0, {.vocab = 1}).ok());
  EXPECT_FALSE(BenchWorkload::Create(sim::Trace{}, 0, {}).ok());
  const BuiltPrompt u = UniquePrompt(1, 10, PromptFormat::kText, Endpoint::kCompletions, 256);
  EXPECT_EQ(u.units.size(), 10u);
  const BuiltPrompt t = UniquePrompt(1, 10, PromptFormat::kTokens, Endpoint::kCompletions, 256);
  EXPECT_EQ(t.tokens.size(), 10u);
  EXPECT_NE(UniquePrompt(2, 10, PromptFormat::kTokens, Endpoint::kCompletions, 256).tokens,
            t.tokens);
}

}  // namespace
}  // namespace radixlm::loadgen
