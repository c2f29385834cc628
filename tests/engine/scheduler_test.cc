// The scheduler's steps against FakeBackend (fake_backend.h): every output is
// checked against the tokens the fake model gives for the request's own history,
// so paging, copy-on-write, chunking, preemption and batching mistakes show as
// wrong tokens. Invariants are checked after every step.
#include "engine/scheduler.h"

#include <gtest/gtest.h>

#include <array>
#include <map>
#include <random>

#include "engine/fake_backend.h"
#include "grammar/grammar.h"
#include "grammar/json_tree.h"
#include "grammar/matcher.h"
#include "model/tokenizer.h"

namespace radixlm::engine {
namespace {

using testing::FakeBackend;

class SchedulerTest : public ::testing::Test {
 protected:
  void Make(int64_t page_size = 4, int64_t num_pages = 512, EngineOptions options = {},
            bool chooses = false, bool overlaps = false) {
    backend_ = std::make_unique<FakeBackend>(/*vocab=*/258, /*max_context=*/4096, page_size,
                                             num_pages, chooses, overlaps);
    auto tok =
        model::Tokenizer::FromJson(model::MakeByteLevelTokenizerJson({"<|a|>", "<|b|>"}), "test");
    ASSERT_TRUE(tok.ok()) << tok.status().ToString();
    tokenizer_ = std::move(tok).value();
    options_ = options;
    auto s = Scheduler::Create(backend_.get(), tokenizer_.get(), options_, &clock_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    scheduler_ = std::move(s).value();
  }

  std::shared_ptr<RequestHandle> Add(RequestOptions o) {
    auto r = std::make_unique<Request>();
    r->id = next_id_++;
    r->options = std::move(o);
    r->handle = std::make_shared<RequestHandle>();
    r->arrival_ns = clock_.NowNanos();
    auto h = r->handle;
    scheduler_->Add(std::move(r));
    return h;
  }

  // Steps until idle (bounded), checking invariants after every step.
  void RunAll(int max_steps = 100000) {
    for (int i = 0; i < max_steps && !scheduler_->idle(); ++i) {
      scheduler_->Step();
      scheduler_->CheckInvariants();
      clock_.Advance(1000000);
    }
    ASSERT_TRUE(scheduler_->idle()) << "did not finish in " << max_steps << " steps";
  }

  struct Result {
    std::map<int, std::vector<int32_t>> tokens;
    std::map<int, std::string> text;
    std::map<int, FinishReason> finish;
    std::map<int, std::vector<LogprobEntry>> logprobs;
    std::vector<LogprobEntry> prompt_logprobs;
    int prompt_logprobs_updates = 0;  // updates that carried them
    int64_t cached = -1, prompt = 0, completion = 0;
    bool finished = false;
    std::vector<float> embedding;
  };
  static Result Collect(RequestHandle& h) {
    Result r;
    RequestUpdate u;
    while (h.Next(&u, std::chrono::milliseconds(0))) {
      EXPECT_FALSE(r.finished) << "update after the final one";
      if (u.has_prompt_logprobs) {
        ++r.prompt_logprobs_updates;
        for (const auto& [index, tokens] : r.tokens)
          EXPECT_TRUE(tokens.empty()) << "prompt logprobs after the first tokens";
        r.prompt_logprobs = u.prompt_logprobs;
      }
      for (auto& d : u.samples) {
        r.tokens[d.index].insert(r.tokens[d.index].end(), d.tokens.begin(), d.tokens.end());
        r.text[d.index] += d.text;
        r.logprobs[d.index].insert(r.logprobs[d.index].end(), d.logprobs.begin(), d.logprobs.end());
        if (d.finish != FinishReason::kNone) r.finish[d.index] = d.finish;
      }
      r.cached = u.cached_tokens;
      r.prompt = u.prompt_tokens;
      r.completion = u.completion_tokens;
      r.finished = r.finished || u.finished;
      if (!u.embedding.empty()) r.embedding = u.embedding;
    }
    return r;
  }

  // Steps until idle; the indexes of `handles` in the order they finished.
  std::vector<int> FinishOrder(const std::vector<std::shared_ptr<RequestHandle>>& handles) {
    std::vector<int> order;
    std::vector<bool> done(handles.size());
    while (!scheduler_->idle()) {
      scheduler_->Step();
      scheduler_->CheckInvariants();
      for (size_t i = 0; i < handles.size(); ++i) {
        if (!done[i] && Collect(*handles[i]).finished) {
          done[i] = true;
          order.push_back(static_cast<int>(i));
        }
      }
    }
    return order;
  }

  // What the fake model says, sampled the way sample `stream` of a request is.
  std::vector<int32_t> Expected(std::vector<int32_t> tokens, int64_t max_tokens,
                                SamplingParams p = Greedy(), uint64_t stream = 0) {
    Sampler sampler(p, stream);
    std::vector<int32_t> out;
    for (int64_t i = 0; i < max_tokens; ++i) {
      std::vector<float> logits = backend_->Reference(tokens);
      const int32_t t = sampler.Sample(logits);
      out.push_back(t);
      tokens.push_back(t);
    }
    return out;
  }

  // The same for a constrained request: each token drawn from the fake
  // model's row under the grammar's mask, with the budget left and, once the
  // value is complete, `end` tokens allowed too; it stops at an end token or
  // where the grammar is final.
  std::vector<int32_t> ExpectedConstrained(std::vector<int32_t> tokens, int64_t max_tokens,
                                           std::shared_ptr<const grammar::Grammar> g,
                                           const std::vector<int32_t>& end,
                                           SamplingParams p = Greedy(), uint64_t stream = 0) {
    Sampler sampler(p, stream);
    grammar::Matcher m(std::move(g));
    std::vector<int32_t> out;
    for (int64_t i = 0; i < max_tokens; ++i) {
      grammar::TokenMask mask = *m.Allowed(max_tokens - i);
      if (m.accepting()) {
        for (int32_t t : end) mask.Allow(t);
      }
      std::vector<float> logits = backend_->Reference(tokens);
      const int32_t t = sampler.Sample(logits, -1, nullptr, mask.words);
      out.push_back(t);
      tokens.push_back(t);
      if (std::find(end.begin(), end.end(), t) != end.end()) break;
      EXPECT_TRUE(m.Advance(t).ok());
      if (m.final()) break;
    }
    return out;
  }
  std::shared_ptr<const grammar::Grammar> CompileGrammar(const std::string& schema) {
    auto vocab = grammar::TokenVocabulary::FromTokenizer(*tokenizer_, 258);
    EXPECT_TRUE(vocab.ok());
    grammar::GrammarSpec spec;
    spec.kind = schema.empty() ? grammar::GrammarSpec::Kind::kJsonObject
                               : grammar::GrammarSpec::Kind::kJsonSchema;
    spec.schema = schema;
    auto g = grammar::Grammar::Compile(spec, *vocab, {});
    EXPECT_TRUE(g.ok()) << g.status().ToString();
    return g.ok() ? *g : nullptr;
  }

  static SamplingParams Greedy() {
    SamplingParams p;
    p.temperature = 0;
    return p;
  }
  static RequestOptions Req(std::vector<int32_t> prompt, int64_t max_tokens, std::string ns = "") {
    RequestOptions o;
    o.prompt = std::move(prompt);
    o.stop.max_tokens = max_tokens;
    o.sampling = Greedy();
    o.ns = std::move(ns);
    return o;
  }
  static std::vector<int32_t> Tokens(std::mt19937& rng, size_t n) {
    std::vector<int32_t> t(n);
    for (auto& x : t) x = static_cast<int32_t>(32 + rng() % 90);
    return t;
  }
  static std::vector<int32_t> Concat(std::vector<int32_t> a, const std::vector<int32_t>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  }

  ManualClock clock_{1};
  std::unique_ptr<FakeBackend> backend_;
  std::unique_ptr<model::Tokenizer> tokenizer_;
  EngineOptions options_;
  std::unique_ptr<Scheduler> scheduler_;
  uint64_t next_id_ = 1;
};

TEST_F(SchedulerTest, SingleRequestMatchesTheModel) {
  Make();
  std::mt19937 rng(1);
  auto prompt = Tokens(rng, 37);
  auto h = Add(Req(prompt, 20));
  RunAll();
  Result r = Collect(*h);
  EXPECT_TRUE(r.finished);
  EXPECT_EQ(r.tokens[0], Expected(prompt, 20));
  EXPECT_EQ(r.finish[0], FinishReason::kLength);
  EXPECT_EQ(r.prompt, 37);
  EXPECT_EQ(r.completion, 20);
  EXPECT_EQ(r.cached, 0);
  EXPECT_EQ(r.text[0], tokenizer_->Decode(r.tokens[0]));
}

TEST_F(SchedulerTest, SecondRequestHitsTheFirstOnesPrefixTokenExactly) {
  Make(/*page_size=*/4);
  std::mt19937 rng(2);
  auto system = Tokens(rng, 30);  // not a multiple of the page size
  auto a = Add(Req(Concat(system, Tokens(rng, 9)), 5));
  RunAll();
  const int64_t before = backend_->computed_tokens();
  auto prompt_b = Concat(system, Tokens(rng, 11));
  auto b = Add(Req(prompt_b, 5));
  RunAll();
  Result rb = Collect(*b);
  // Token-exact: all 30 shared tokens hit, the boundary page copied.
  EXPECT_GE(rb.cached, 30);
  EXPECT_EQ(rb.tokens[0], Expected(prompt_b, 5));
  EXPECT_EQ(backend_->computed_tokens() - before,
            static_cast<int64_t>(prompt_b.size()) - rb.cached + 4);
  EXPECT_GE(backend_->copies(), 1);
  // The same prompt again: everything but the last prompt token is cached.
  auto c = Add(Req(prompt_b, 5));
  RunAll();
  Result rc = Collect(*c);
  EXPECT_EQ(rc.cached, static_cast<int64_t>(prompt_b.size()) - 1);
  EXPECT_EQ(rc.tokens[0], rb.tokens[0]);
  (void)a;
}

TEST_F(SchedulerTest, ChunkedPrefillGivesTheSameTokens) {
  EngineOptions o;
  o.token_budget = 7;
  Make(4, 512, o);
  std::mt19937 rng(3);
  auto prompt = Tokens(rng, 100);
  auto h = Add(Req(prompt, 10));
  RunAll();
  EXPECT_EQ(Collect(*h).tokens[0], Expected(prompt, 10));
  EXPECT_LE(backend_->max_batch_tokens(), 7);
  EXPECT_GE(backend_->forwards(), 100 / 7 + 10);
}

// An embedding computes every prompt token, cached or not, in chunks, beside a
// generation; its pages go into the cache for the prompts that follow.
TEST_F(SchedulerTest, EmbeddingsComputeEveryTokenAndFeedTheCache) {
  EngineOptions o;
  o.token_budget = 9;
  Make(4, 512, o);
  std::mt19937 rng(11);
  const auto system = Tokens(rng, 30);
  const auto prompt = Concat(system, Tokens(rng, 13));
  Add(Req(Concat(system, Tokens(rng, 5)), 3));  // caches `system`
  RunAll();
  const int64_t before = backend_->computed_tokens();
  RequestOptions embed = Req(prompt, 1);
  embed.embed = true;
  auto e = Add(embed);
  auto g = Add(Req(Concat(system, Tokens(rng, 6)), 4));  // in the same steps
  RunAll();
  Result re = Collect(*e);
  EXPECT_TRUE(re.finished);
  EXPECT_EQ(re.finish[0], FinishReason::kStop);
  EXPECT_TRUE(re.tokens[0].empty());
  EXPECT_EQ(re.completion, 0);
  EXPECT_EQ(re.cached, 0);
  EXPECT_EQ(re.embedding, backend_->ReferenceEmbedding(prompt));
  Result rg = Collect(*g);
  EXPECT_EQ(rg.cached, 30);
  // Every embedded token, and the generation's uncached ones.
  EXPECT_EQ(backend_->computed_tokens() - before,
            static_cast<int64_t>(prompt.size()) + (36 - 30) + 3);
  // The embedded prompt is now cached for a generation.
  auto again = Add(Req(prompt, 2));
  RunAll();
  EXPECT_EQ(Collect(*again).cached, static_cast<int64_t>(prompt.size()) - 1);
}

TEST_F(SchedulerTest, NamespacesDoNotShare) {
  Make();
  std::mt19937 rng(4);
  auto prompt = Tokens(rng, 40);
  auto a = Add(Req(prompt, 3, "tenant-a"));
  RunAll();
  auto b = Add(Req(prompt, 3, "tenant-b"));
  auto c = Add(Req(prompt, 3, "tenant-a"));
  RunAll();
  EXPECT_EQ(Collect(*b).cached, 0);
  EXPECT_EQ(Collect(*c).cached, 39);
  (void)a;
}

TEST_F(SchedulerTest, ManyConcurrentRequestsWithSharedPrefixes) {
  EngineOptions o;
  o.token_budget = 64;
  o.max_running = 8;
  Make(4, 1024, o);
  std::mt19937 rng(5);
  std::vector<std::vector<int32_t>> systems = {Tokens(rng, 50), Tokens(rng, 23), Tokens(rng, 64)};
  std::vector<std::pair<std::vector<int32_t>, std::shared_ptr<RequestHandle>>> reqs;
  for (int i = 0; i < 40; ++i) {
    auto prompt = Concat(systems[rng() % 3], Tokens(rng, 1 + rng() % 20));
    reqs.emplace_back(prompt, Add(Req(prompt, 1 + static_cast<int64_t>(rng() % 12))));
    if (i % 5 == 4) {  // arrivals spread over steps
      scheduler_->Step();
      scheduler_->CheckInvariants();
    }
  }
  RunAll();
  int64_t cached = 0;
  for (auto& [prompt, h] : reqs) {
    Result r = Collect(*h);
    ASSERT_TRUE(r.finished);
    EXPECT_EQ(r.tokens[0], Expected(prompt, static_cast<int64_t>(r.tokens[0].size())));
    cached += r.cached;
  }
  EXPECT_GT(cached, 30 * 20);
}

TEST_F(SchedulerTest, MemoryPressurePreemptsAndStillGetsEveryTokenRight) {
  EngineOptions o;
  o.token_budget = 32;
  o.max_running = 16;
  Make(/*page_size=*/4, /*num_pages=*/40, o);  // 160 token slots
  std::mt19937 rng(6);
  auto system = Tokens(rng, 20);
  std::vector<std::pair<std::vector<int32_t>, std::shared_ptr<RequestHandle>>> reqs;
  for (int i = 0; i < 10; ++i) {
    auto prompt = Concat(system, Tokens(rng, 10 + rng() % 10));
    reqs.emplace_back(prompt, Add(Req(prompt, 24)));
  }
  RunAll(20000);
  for (auto& [prompt, h] : reqs) {
    Result r = Collect(*h);
    ASSERT_TRUE(r.finished);
    EXPECT_EQ(r.tokens[0], Expected(prompt, 24));
  }
  EngineSnapshot snap;
  scheduler_->FillSnapshot(&snap);
  EXPECT_GT(snap.preemptions, 0);
  EXPECT_EQ(snap.pages_in_use, 0);
  EXPECT_EQ(snap.pages_locked, 0);
}

TEST_F(SchedulerTest, MemoryPressureWithoutPrefixCache) {
  EngineOptions o;
  o.token_budget = 32;
  o.prefix_cache = false;
  Make(4, 30, o);
  std::mt19937 rng(7);
  std::vector<std::pair<std::vector<int32_t>, std::shared_ptr<RequestHandle>>> reqs;
  for (int i = 0; i < 8; ++i) {
    auto prompt = Tokens(rng, 30);
    reqs.emplace_back(prompt, Add(Req(prompt, 20)));
  }
  RunAll(20000);
  for (auto& [prompt, h] : reqs) {
    Result r = Collect(*h);
    EXPECT_EQ(r.cached, 0);
    EXPECT_EQ(r.tokens[0], Expected(prompt, 20));
  }
  EXPECT_EQ(scheduler_->pool()->pages_allocated(), 0);
}

TEST_F(SchedulerTest, ParallelSamplesShareThePromptAndFollowTheirStreams) {
  Make(4, 512);
  std::mt19937 rng(8);
  auto prompt = Tokens(rng, 30);  // boundary page partial: each fork copies it
  RequestOptions o = Req(prompt, 12);
  o.n = 4;
  o.sampling.temperature = 1.0;
  o.sampling.seed = 1234;
  auto h = Add(o);
  scheduler_->Step();  // the whole prompt, then the fork
  scheduler_->CheckInvariants();
  // 8 prompt pages; the full ones are shared, the partial one copied per fork.
  EXPECT_EQ(scheduler_->pool()->pages_allocated(), 8 + 3);
  RunAll();
  Result r = Collect(*h);
  ASSERT_EQ(r.tokens.size(), 4u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(r.tokens[i], Expected(prompt, 12, o.sampling, static_cast<uint64_t>(i)))
        << "sample " << i;
    EXPECT_EQ(r.finish[i], FinishReason::kLength);
  }
  EXPECT_NE(r.tokens[0], r.tokens[1]);
  EXPECT_EQ(r.completion, 48);
  // n = 1 with the same seed is sample 0.
  RequestOptions one = o;
  one.n = 1;
  auto h1 = Add(one);
  RunAll();
  EXPECT_EQ(Collect(*h1).tokens[0], r.tokens[0]);
}

TEST_F(SchedulerTest, CancelledRequestsFreeTheirPages) {
  Make();
  std::mt19937 rng(9);
  auto a = Add(Req(Tokens(rng, 50), 1000));
  auto b = Add(Req(Tokens(rng, 50), 5));
  for (int i = 0; i < 5; ++i) scheduler_->Step();
  a->Cancel();
  RunAll();
  Result ra = Collect(*a);
  EXPECT_TRUE(ra.finished);
  EXPECT_EQ(ra.finish[0], FinishReason::kCancelled);
  EXPECT_LT(ra.tokens[0].size(), 1000u);
  EXPECT_TRUE(Collect(*b).finished);
  EngineSnapshot snap;
  scheduler_->FillSnapshot(&snap);
  EXPECT_EQ(snap.requests_cancelled, 1);
  EXPECT_EQ(snap.pages_in_use, 0);
}

TEST_F(SchedulerTest, WaitingRequestsAreRankedByCachedPrefix) {
  EngineOptions o;
  o.max_running = 1;
  Make(4, 512, o);
  std::mt19937 rng(10);
  auto system = Tokens(rng, 40);
  auto warm = Add(Req(Concat(system, Tokens(rng, 3)), 1));
  RunAll();
  auto busy = Add(Req(Tokens(rng, 10), 3));  // occupies the one slot
  scheduler_->Step();
  auto cold = Add(Req(Tokens(rng, 30), 1));
  clock_.Advance(1000);
  auto hot = Add(Req(Concat(system, Tokens(rng, 3)), 1));
  // busy first (it holds the slot), then hot ahead of the earlier cold.
  EXPECT_EQ(FinishOrder({busy, cold, hot}), (std::vector<int>{0, 2, 1}));
  (void)warm;
}

// Ranking touches the waiting prefixes in ranked order: of two cached prefixes
// that queued requests will reuse, the one whose request comes later in line
// is evicted first, though it arrived first and was cached last (with one time
// for both, the smaller node id went first: the other one's).
TEST_F(SchedulerTest, WaitingPrefixesAreTouchedInRankedOrder) {
  EngineOptions o;
  o.max_running = 1;
  Make(4, 512, o);
  std::mt19937 rng(12);
  auto short_doc = Tokens(rng, 40), long_doc = Tokens(rng, 80);
  Add(Req(Concat(long_doc, Tokens(rng, 3)), 1));  // the smaller node ids
  RunAll();
  Add(Req(Concat(short_doc, Tokens(rng, 3)), 1));
  RunAll();
  auto busy = Add(Req(Tokens(rng, 10), 3));  // occupies the one slot
  scheduler_->Step();
  auto later = Add(Req(Concat(short_doc, Tokens(rng, 3)), 1));  // arrives first
  auto sooner = Add(Req(Concat(long_doc, Tokens(rng, 3)), 1));  // longer prefix: ranked first
  clock_.Advance(1000);
  scheduler_->Step();  // ranks the queue and touches both prefixes
  kvcache::PrefixCache* cache = scheduler_->cache();
  ASSERT_EQ(cache->PeekMatch("", short_doc), 40u);
  ASSERT_EQ(cache->PeekMatch("", long_doc), 80u);
  ASSERT_GT(cache->Evict(1), 0);
  EXPECT_EQ(cache->PeekMatch("", short_doc), 0u);
  EXPECT_EQ(cache->PeekMatch("", long_doc), 80u);
  EXPECT_EQ(FinishOrder({busy, later, sooner}), (std::vector<int>{0, 2, 1}));
}

TEST_F(SchedulerTest, FairnessBoundLetsAStarvedRequestGoFirst) {
  EngineOptions o;
  o.max_running = 1;
  o.fairness_bound = std::chrono::milliseconds(50);
  Make(4, 512, o);
  std::mt19937 rng(11);
  auto system = Tokens(rng, 40);
  Add(Req(Concat(system, Tokens(rng, 3)), 1));
  RunAll();
  auto busy = Add(Req(Tokens(rng, 10), 3));
  scheduler_->Step();
  auto cold = Add(Req(Tokens(rng, 30), 1));
  clock_.Advance(60 * 1000000);  // past the bound
  auto hot = Add(Req(Concat(system, Tokens(rng, 3)), 1));
  EXPECT_EQ(FinishOrder({busy, cold, hot}), (std::vector<int>{0, 1, 2}));
}

TEST_F(SchedulerTest, InBatchSharingComputesACommonPrefixOnce) {
  EngineOptions o;
  o.token_budget = 64;
  Make(4, 512, o);
  std::mt19937 rng(12);
  auto system = Tokens(rng, 200);
  std::vector<std::pair<std::vector<int32_t>, std::shared_ptr<RequestHandle>>> reqs;
  for (int i = 0; i < 6; ++i) {
    auto prompt = Concat(system, Tokens(rng, 8));
    reqs.emplace_back(prompt, Add(Req(prompt, 2)));
  }
  RunAll();
  int64_t cached = 0;
  for (auto& [prompt, h] : reqs) {
    Result r = Collect(*h);
    EXPECT_EQ(r.tokens[0], Expected(prompt, 2));
    cached += r.cached;
  }
  // The first computes the 200 shared tokens; the other five hit them.
  EXPECT_GE(cached, 5 * 200);
  EXPECT_LE(backend_->computed_tokens(), 200 + 6 * (8 + 2) + 8);
}

TEST_F(SchedulerTest, StopStringsAndStopTokens) {
  Make();
  std::mt19937 rng(13);
  auto prompt = Tokens(rng, 20);
  auto expected = Expected(prompt, 30);
  const std::string full = tokenizer_->Decode(expected);
  // A stop string from the middle of what the model says.
  const std::string stop = full.substr(10, 3);
  const size_t at = full.find(stop);
  RequestOptions o = Req(prompt, 30);
  o.stop.stop = {stop};
  auto h = Add(o);
  // A stop token: the 7th generated token.
  RequestOptions o2 = Req(prompt, 30);
  o2.stop.stop_token_ids = {expected[6]};
  auto h2 = Add(o2);
  RunAll();
  Result r = Collect(*h);
  EXPECT_EQ(r.text[0], full.substr(0, at));
  EXPECT_EQ(r.finish[0], FinishReason::kStop);
  Result r2 = Collect(*h2);
  const size_t first = static_cast<size_t>(
      std::find(expected.begin(), expected.end(), expected[6]) - expected.begin());
  EXPECT_EQ(
      r2.tokens[0],
      std::vector<int32_t>(expected.begin(), expected.begin() + static_cast<ptrdiff_t>(first) + 1));
  EXPECT_EQ(r2.finish[0], FinishReason::kStop);
}

TEST_F(SchedulerTest, LogprobsComeWithEveryToken) {
  Make();
  std::mt19937 rng(14);
  auto prompt = Tokens(rng, 12);
  RequestOptions o = Req(prompt, 6);
  o.logprobs = 3;
  auto h = Add(o);
  RunAll();
  Result r = Collect(*h);
  ASSERT_EQ(r.logprobs[0].size(), 6u);
  auto history = prompt;
  for (size_t i = 0; i < 6; ++i) {
    const LogprobEntry& e = r.logprobs[0][i];
    EXPECT_EQ(e.token, r.tokens[0][i]);
    ASSERT_EQ(e.top.size(), 3u);
    EXPECT_EQ(e.top[0].token, e.token);  // greedy: the chosen one is the likeliest
    LogprobEntry want;
    ComputeLogprobs(backend_->Reference(history), e.token, 3, &want);
    EXPECT_FLOAT_EQ(e.logprob, want.logprob);
    history.push_back(e.token);
  }
}

// Prompt logprobs: every prompt token after the first scored by the row
// before it, exactly as the model's logits there give it, whether the prefix
// was cached (it is computed anyway: cached_tokens 0) or not, in chunks, on
// overlapped steps, beside other requests, under preemption; max_tokens 0
// generates nothing; the computed prompt goes into the cache.
TEST_F(SchedulerTest, PromptLogprobsScoreEveryPromptTokenCachedOrNot) {
  for (bool overlaps : {false, true}) {
    SCOPED_TRACE(overlaps ? "overlapped" : "one step at a time");
    EngineOptions o;
    o.token_budget = 9;
    Make(4, 512, o, /*chooses=*/true, overlaps);
    std::mt19937 rng(21);
    const auto system = Tokens(rng, 30);
    const auto prompt = Concat(system, Tokens(rng, 13));
    auto expect_scores = [&](const Result& r, int32_t top) {
      ASSERT_EQ(r.prompt_logprobs_updates, 1);
      ASSERT_EQ(r.prompt_logprobs.size(), prompt.size() - 1);
      for (size_t i = 0; i + 1 < prompt.size(); ++i) {
        const LogprobEntry& e = r.prompt_logprobs[i];
        LogprobEntry want;
        ComputeLogprobs(backend_->Reference(std::span(prompt).first(i + 1)), prompt[i + 1], top,
                        &want);
        ASSERT_EQ(e.token, prompt[i + 1]) << i;
        EXPECT_EQ(e.logprob, want.logprob) << i;
        ASSERT_EQ(e.top.size(), want.top.size()) << i;
        for (size_t k = 0; k < want.top.size(); ++k) {
          EXPECT_EQ(e.top[k].token, want.top[k].token);
          EXPECT_EQ(e.top[k].logprob, want.top[k].logprob);
        }
      }
    };
    RequestOptions cold = Req(prompt, 0);
    cold.prompt_logprobs = 3;
    auto h = Add(cold);
    RunAll();
    Result r = Collect(*h);
    ASSERT_TRUE(r.finished);
    EXPECT_EQ(r.finish[0], FinishReason::kLength);
    EXPECT_TRUE(r.tokens[0].empty());
    EXPECT_EQ(r.completion, 0);
    EXPECT_EQ(r.cached, 0);
    ASSERT_NO_FATAL_FAILURE(expect_scores(r, 3));

    // The whole prompt is cached now; asked again (with samples this time,
    // beside a request that does hit the cache), every row is computed anew.
    const int64_t before = backend_->prompt_rows();
    RequestOptions warm = Req(prompt, 5);
    warm.prompt_logprobs = 3;
    warm.n = 2;
    warm.logprobs = 1;
    auto hw = Add(warm);
    auto other = Add(Req(Concat(system, Tokens(rng, 4)), 3));
    RunAll();
    Result rw = Collect(*hw);
    EXPECT_EQ(rw.cached, 0);
    EXPECT_EQ(backend_->prompt_rows() - before, static_cast<int64_t>(prompt.size()) - 1);
    ASSERT_NO_FATAL_FAILURE(expect_scores(rw, 3));
    ASSERT_EQ(rw.tokens.size(), 2u);
    EXPECT_EQ(rw.tokens[0], Expected(prompt, 5));
    EXPECT_EQ(rw.tokens[1], Expected(prompt, 5));
    EXPECT_EQ(Collect(*other).cached, 30);
    // A plain request still hits what they cached.
    auto plain = Add(Req(prompt, 1));
    RunAll();
    EXPECT_EQ(Collect(*plain).cached, static_cast<int64_t>(prompt.size()) - 1);
    EXPECT_EQ(Collect(*plain).prompt_logprobs_updates, 0);
  }

  // Under memory pressure (preemptions mid-prompt): the same scores.
  EngineOptions o;
  o.token_budget = 16;
  o.max_running = 16;
  Make(4, 40, o, /*chooses=*/true);
  std::mt19937 rng(22);
  const auto system = Tokens(rng, 20);
  std::vector<std::pair<std::vector<int32_t>, std::shared_ptr<RequestHandle>>> reqs;
  for (int i = 0; i < 8; ++i) {
    RequestOptions r = Req(Concat(system, Tokens(rng, 10 + rng() % 10)), 20);
    if (i % 2 == 0) r.prompt_logprobs = 1;
    reqs.emplace_back(r.prompt, Add(r));
  }
  RunAll(20000);
  EngineSnapshot snap;
  scheduler_->FillSnapshot(&snap);
  EXPECT_GT(snap.preemptions, 0);
  for (size_t i = 0; i < reqs.size(); ++i) {
    const auto& [prompt, h] = reqs[i];
    Result r = Collect(*h);
    ASSERT_TRUE(r.finished);
    EXPECT_EQ(r.tokens[0], Expected(prompt, 20));
    if (i % 2 != 0) continue;
    ASSERT_EQ(r.prompt_logprobs.size(), prompt.size() - 1);
    for (size_t k = 0; k + 1 < prompt.size(); ++k) {
      LogprobEntry want;
      ComputeLogprobs(backend_->Reference(std::span(prompt).first(k + 1)), prompt[k + 1], 1, &want);
      EXPECT_EQ(r.prompt_logprobs[k].logprob, want.logprob) << "request " << i << " token " << k;
    }
  }
}

// Random arrivals, cancellations, sample counts, namespaces and a small pool;
// every surviving sample must still be exactly what the model says.
TEST_F(SchedulerTest, RandomizedTrafficKeepsEveryInvariant) {
  int64_t preemptions = 0;
  for (uint32_t seed = 0; seed < 12; ++seed) {
    EngineOptions o;
    std::mt19937 rng(100 + seed);
    o.token_budget = 8 + rng() % 64;
    o.max_running = 1 + rng() % 12;
    o.prefix_cache = seed % 4 != 3;
    o.cache.eviction = seed % 2 ? "lru" : "lfu";
    o.fairness_bound = std::chrono::milliseconds(rng() % 20);
    // Pools from the least that fits the largest request (3 samples of 85
    // tokens) up: preemption is routine.
    const int64_t page_size = 1 + rng() % 8;
    // Seeds 1 mod 3: the backend samples the rows (the engine's delegated
    // path); 2 mod 3: and steps overlap (planned while the one before runs).
    Make(page_size, 3 * ((85 + page_size - 1) / page_size + 1) + rng() % 60, o,
         /*chooses=*/seed % 3 != 0, /*overlaps=*/seed % 3 == 2);
    std::vector<std::vector<int32_t>> systems = {Tokens(rng, 40), Tokens(rng, 17), Tokens(rng, 5)};
    struct Sent {
      RequestOptions options;
      std::shared_ptr<RequestHandle> handle;
      bool cancelled = false;
    };
    std::vector<Sent> sent;
    for (int step = 0; step < 400 || !scheduler_->idle(); ++step) {
      ASSERT_LT(step, 20000) << "seed " << seed << " did not drain";
      if (step < 400 && rng() % 3 != 0) {
        RequestOptions r = Req(Concat(systems[rng() % 3], Tokens(rng, 1 + rng() % 15)),
                               1 + rng() % 30, rng() % 4 == 0 ? "other" : "");
        if (rng() % 4 == 0) {
          r.n = 1 + static_cast<int32_t>(rng() % 3);
          r.sampling.temperature = 0.8;
          r.sampling.seed = rng();
        }
        if (rng() % 5 == 0) {
          r.sampling.frequency_penalty = 1.5;
          r.sampling.presence_penalty = -0.5;
          r.sampling.logit_bias = {{static_cast<int32_t>(32 + rng() % 90), 4.0f}};
          r.logprobs = static_cast<int32_t>(rng() % 4);
        }
        sent.push_back({r, Add(r)});
      }
      if (!sent.empty() && rng() % 25 == 0) {
        Sent& victim = sent[rng() % sent.size()];
        victim.handle->Cancel();
        victim.cancelled = true;
      }
      scheduler_->Step();
      scheduler_->CheckInvariants();
      clock_.Advance(1000000);
    }
    for (Sent& s : sent) {
      Result r = Collect(*s.handle);
      ASSERT_TRUE(r.finished) << "seed " << seed;
      for (auto& [index, tokens] : r.tokens) {
        if (s.cancelled) {
          auto want = Expected(s.options.prompt, static_cast<int64_t>(tokens.size()),
                               s.options.sampling, index);
          EXPECT_EQ(tokens, want) << "seed " << seed;
        } else {
          EXPECT_EQ(tokens, Expected(s.options.prompt, s.options.stop.max_tokens,
                                     s.options.sampling, index))
              << "seed " << seed << " sample " << index;
        }
      }
      if (!s.cancelled) {
        EXPECT_EQ(r.tokens.size(), static_cast<size_t>(s.options.n));
      }
    }
    EXPECT_EQ(scheduler_->pool()->pages_allocated(),
              o.prefix_cache ? scheduler_->cache()->GetStats().pages_cached : 0);
    EngineSnapshot snap;
    scheduler_->FillSnapshot(&snap);
    preemptions += snap.preemptions;
  }
  EXPECT_GT(preemptions, 0);
}

// The backend sampling the rows (penalties and bias as edits, log-probability
// figures, n > 1 first draws on one row) gives the host sampler's tokens,
// text and log probabilities, bit for bit, and no row crosses to the host.
TEST_F(SchedulerTest, BackendSamplingMatchesHostSampling) {
  std::mt19937 rng(7);
  const std::vector<int32_t> system = Tokens(rng, 23);
  std::vector<RequestOptions> requests;
  for (int i = 0; i < 12; ++i) {
    RequestOptions o = Req(Concat(system, Tokens(rng, 1 + i)), 6 + i % 5);
    o.sampling.temperature = std::array{0.0, 0.7, 1.3}[i % 3];
    o.sampling.top_k = std::array{0, 5, 40, 1}[i % 4];
    o.sampling.top_p = std::array{1.0, 0.9, 0.5}[i % 3];
    o.sampling.min_p = i % 5 == 0 ? 0.05 : 0.0;
    o.sampling.seed = 1000 + static_cast<uint64_t>(i);
    if (i % 2 == 0) {
      o.sampling.frequency_penalty = 1.2;
      o.sampling.presence_penalty = 0.4;
    }
    if (i % 3 == 1) o.sampling.logit_bias = {{40, 3.5f}, {41, -100.0f}, {40, 1.0f}};
    o.logprobs = std::array{-1, 0, 2, 5}[i % 4];
    o.n = i % 4 == 2 ? 3 : 1;
    requests.push_back(o);
  }
  std::vector<Result> host, device, overlapped;
  int64_t computed[3] = {};
  for (int mode = 0; mode < 3; ++mode) {
    EngineOptions options;
    options.token_budget = 32;
    Make(4, 512, options, /*chooses=*/mode > 0, /*overlaps=*/mode == 2);
    std::vector<std::shared_ptr<RequestHandle>> handles;
    for (const RequestOptions& o : requests) handles.push_back(Add(o));
    RunAll();
    for (auto& h : handles)
      (mode == 0 ? host : mode == 1 ? device : overlapped).push_back(Collect(*h));
    computed[mode] = backend_->computed_tokens();
    if (mode > 0) {
      EXPECT_GT(backend_->sampled_rows(), 0);
    } else {
      EXPECT_EQ(backend_->sampled_rows(), 0);
    }
  }
  // Overlap computes nothing more: no step after a sample's last token.
  EXPECT_EQ(computed[2], computed[1]);
  EXPECT_EQ(computed[1], computed[0]);
  for (size_t i = 0; i < requests.size(); ++i) {
    EXPECT_EQ(overlapped[i].tokens, host[i].tokens) << "request " << i;
    EXPECT_EQ(overlapped[i].text, host[i].text) << "request " << i;
    EXPECT_EQ(overlapped[i].logprobs.size(), host[i].logprobs.size()) << "request " << i;
    EXPECT_EQ(device[i].tokens, host[i].tokens) << "request " << i;
    EXPECT_EQ(device[i].text, host[i].text) << "request " << i;
    EXPECT_EQ(device[i].tokens.size(), static_cast<size_t>(requests[i].n)) << "request " << i;
    ASSERT_EQ(device[i].logprobs.size(), host[i].logprobs.size()) << "request " << i;
    for (const auto& [index, entries] : host[i].logprobs) {
      const auto& got = device[i].logprobs.at(index);
      ASSERT_EQ(got.size(), entries.size()) << "request " << i;
      for (size_t k = 0; k < entries.size(); ++k) {
        EXPECT_EQ(got[k].token, entries[k].token);
        EXPECT_EQ(got[k].logprob, entries[k].logprob) << "request " << i << " token " << k;
        ASSERT_EQ(got[k].top.size(), entries[k].top.size());
        for (size_t j = 0; j < entries[k].top.size(); ++j) {
          EXPECT_EQ(got[k].top[j].token, entries[k].top[j].token);
          EXPECT_EQ(got[k].top[j].logprob, entries[k].top[j].logprob);
        }
      }
    }
    // And both are what the model says for sample 0.
    EXPECT_EQ(host[i].tokens[0],
              Expected(requests[i].prompt, requests[i].stop.max_tokens, requests[i].sampling))
        << "request " << i;
  }
}

// Overlapped scheduling against a backend that defers like a device: steps
// really overlap (two in flight), every token is still what the model says,
// streamed in order, and a request cancelled while its step is in flight lets
// go of its pages once that step is done.
TEST_F(SchedulerTest, OverlappedStepsKeepOutputsAndPages) {
  EngineOptions options;
  options.token_budget = 24;
  Make(4, 256, options, /*chooses=*/true, /*overlaps=*/true);
  std::mt19937 rng(3);
  const std::vector<int32_t> system = Tokens(rng, 30);
  std::vector<RequestOptions> requests;
  std::vector<std::shared_ptr<RequestHandle>> handles;
  for (int i = 0; i < 8; ++i) {
    RequestOptions o = Req(Concat(system, Tokens(rng, 2 + i)), 20 + i);
    if (i % 3 == 1) {
      o.sampling.temperature = 0.9;
      o.sampling.seed = 77 + static_cast<uint64_t>(i);
      o.logprobs = 2;
    }
    if (i == 5) o.n = 2;
    requests.push_back(o);
    handles.push_back(Add(o));
  }
  // A request to cancel once its decoding is under way.
  const std::vector<int32_t> victim_prompt = Concat(system, Tokens(rng, 9));
  auto victim = Add(Req(victim_prompt, 200));
  std::vector<int32_t> streamed;
  bool cancelled = false;
  for (int step = 0; step < 2000 && !scheduler_->idle(); ++step) {
    scheduler_->Step();
    scheduler_->CheckInvariants();
    clock_.Advance(1000000);
    if (!cancelled) {
      Result r = Collect(*victim);
      streamed.insert(streamed.end(), r.tokens[0].begin(), r.tokens[0].end());
      if (streamed.size() >= 5) {
        victim->Cancel();
        cancelled = true;
      }
    }
  }
  ASSERT_TRUE(scheduler_->idle());
  EXPECT_EQ(backend_->max_in_flight(), 2) << "steps never overlapped";
  for (size_t i = 0; i < requests.size(); ++i) {
    Result r = Collect(*handles[i]);
    ASSERT_TRUE(r.finished);
    ASSERT_EQ(r.tokens.size(), static_cast<size_t>(requests[i].n));
    for (auto& [index, tokens] : r.tokens) {
      EXPECT_EQ(tokens, Expected(requests[i].prompt, requests[i].stop.max_tokens,
                                 requests[i].sampling, index))
          << "request " << i << " sample " << index;
    }
    if (requests[i].logprobs >= 0) {
      EXPECT_EQ(r.logprobs[0].size(), r.tokens[0].size());
    }
  }
  Result v = Collect(*victim);
  EXPECT_TRUE(v.finished);
  EXPECT_EQ(v.finish[0], FinishReason::kCancelled);
  streamed.insert(streamed.end(), v.tokens[0].begin(), v.tokens[0].end());
  EXPECT_LT(streamed.size(), 200u);
  EXPECT_EQ(streamed, Expected(victim_prompt, static_cast<int64_t>(streamed.size())));
  // Every page is back in the pool or the cache.
  EXPECT_EQ(scheduler_->pool()->pages_allocated(), scheduler_->cache()->GetStats().pages_cached);
}

// Constrained decoding: requests with grammars batch with unconstrained ones
// on every path (host sampling, the backend sampling, overlapped steps). The
// unconstrained ones get exactly the tokens they get alone; the constrained
// ones get the model's choices under the grammar's masks, token for token,
// and JSON that parses, complete within max_tokens even where max_tokens
// leaves little more than the shortest completion.
TEST_F(SchedulerTest, ConstrainedRequestsBatchWithOthersAndLeaveThemUnchanged) {
  std::mt19937 rng(5);
  const std::vector<int32_t> system = Tokens(rng, 17);
  const std::string schemas[] = {
      "",
      R"({"type":"object","properties":{"name":{"type":"string"},"n":{"type":"integer"},
          "tags":{"type":"array","items":{"enum":["x","yy"]},"minItems":1}},
          "required":["name","n","tags"]})",
      R"({"type":"integer"})",  // complete while it can still go on: ends by EOS or length
      R"({"anyOf":[{"type":"array","items":{"type":"number"}},{"type":"null"}]})"};
  struct Ask {
    RequestOptions options;
    std::shared_ptr<const grammar::Grammar> g;
  };
  std::vector<Ask> asks;
  Make();  // for the tokenizer
  for (int i = 0; i < 12; ++i) {
    Ask a;
    a.options = Req(Concat(system, Tokens(rng, 1 + i)), 10 + i % 7);
    if (i % 3 != 0) {  // two of three constrained
      a.g = CompileGrammar(schemas[i % 4]);
      ASSERT_NE(a.g, nullptr);
      a.options.grammar = a.g;
      // Some budgets barely above the shortest completion; some roomy.
      const int32_t shortest = a.g->dfa().distance(a.g->dfa().start());
      a.options.stop.max_tokens = shortest + (i % 2 == 0 ? 1 : 60);
    }
    a.options.sampling.temperature = std::array{0.0, 0.8, 1.5}[i % 3];
    a.options.sampling.top_k = std::array{0, 20}[i % 2];
    a.options.sampling.seed = 50 + static_cast<uint64_t>(i);
    if (i == 4) a.options.n = 3;
    if (i == 7) a.options.stop.stop_token_ids = {257};
    asks.push_back(a);
  }
  for (int mode = 0; mode < 3; ++mode) {
    EngineOptions options;
    options.token_budget = 48;
    options.eos_token_ids = {256};
    Make(4, 512, options, /*chooses=*/mode > 0, /*overlaps=*/mode == 2);
    std::vector<std::shared_ptr<RequestHandle>> handles;
    for (const Ask& a : asks) handles.push_back(Add(a.options));
    RunAll();
    // Overlapped: steps with constrained rows are still planned while the
    // step before runs (their masks wait for its tokens, not the planning).
    if (mode == 2) {
      EXPECT_GT(scheduler_->steps_planned_ahead(), 0);
    }
    for (size_t i = 0; i < asks.size(); ++i) {
      const RequestOptions& o = asks[i].options;
      Result r = Collect(*handles[i]);
      ASSERT_TRUE(r.finished);
      ASSERT_EQ(r.tokens.size(), static_cast<size_t>(o.n));
      for (auto& [index, tokens] : r.tokens) {
        const std::string where = "mode " + std::to_string(mode) + " request " + std::to_string(i) +
                                  " sample " + std::to_string(index);
        if (asks[i].g == nullptr) {
          EXPECT_EQ(tokens, Expected(o.prompt, o.stop.max_tokens, o.sampling, index)) << where;
          continue;
        }
        std::vector<int32_t> end = {256};
        end.insert(end.end(), o.stop.stop_token_ids.begin(), o.stop.stop_token_ids.end());
        EXPECT_EQ(tokens, ExpectedConstrained(o.prompt, o.stop.max_tokens, asks[i].g, end,
                                              o.sampling, index))
            << where;
        EXPECT_NE(r.finish[index], FinishReason::kError) << where;
        // The text is the value (an end token adds nothing to it): JSON that
        // parses, and that the grammar takes whole.
        std::string text = r.text[index];
        EXPECT_TRUE(grammar::ParseJsonTree(text, "output").ok()) << where << ": " << text;
        grammar::Matcher m(asks[i].g);
        for (int32_t t : tokens) {
          if (std::find(end.begin(), end.end(), t) != end.end()) continue;
          ASSERT_TRUE(m.Advance(t).ok()) << where;
        }
        EXPECT_TRUE(m.accepting()) << where << ": " << text;
        if (m.final()) {
          EXPECT_EQ(r.finish[index], FinishReason::kStop) << where;
        }
      }
    }
  }
}

// Stall-free batching: with a prefill share of 8 tokens a step, a long prompt
// arriving beside running streams goes in chunks of at most 8 while every
// stream keeps getting a token each step.
TEST_F(SchedulerTest, PrefillShareBoundsEveryStepsChunk) {
  EngineOptions options;
  options.token_budget = 64;
  options.max_prefill_tokens = 8;
  Make(4, 512, options);
  std::mt19937 rng(5);
  std::vector<std::shared_ptr<RequestHandle>> streams;
  for (int i = 0; i < 4; ++i) streams.push_back(Add(Req(Tokens(rng, 6), 40)));
  for (int i = 0; i < 3; ++i) scheduler_->Step();  // the streams are decoding
  const std::vector<int32_t> long_prompt = Tokens(rng, 100);
  auto long_request = Add(Req(long_prompt, 3));
  int64_t steps = 0;
  while (!scheduler_->idle()) {
    scheduler_->Step();
    scheduler_->CheckInvariants();
    ++steps;
  }
  EXPECT_LE(backend_->max_batch_tokens(), 8);
  EXPECT_EQ(Collect(*long_request).tokens[0], Expected(long_prompt, 3));
  for (auto& h : streams) EXPECT_EQ(Collect(*h).tokens[0].size(), 40u);
  // 100 prompt tokens at 8 a step took 13 steps, the streams' 37 remaining tokens 37.
  EXPECT_GE(steps, 37);
}

// Learnt shares: on a device where a step costs 100 ms plus 1 ms a prefill
// token, a ratio of 1.5 allows 50 prefill tokens beside decodes. The fixed
// share (64) holds until a mixed step has been measured; a prompt arriving
// with nothing decoding takes the whole budget.
TEST_F(SchedulerTest, LearntPrefillShareFollowsMeasuredCosts) {
  EngineOptions options;
  options.token_budget = 256;
  options.max_prefill_tokens = 64;
  options.mixed_step_ratio = 1.5;
  Make(4, 1024, options);
  backend_->SetStepCosts(100'000'000, 1'000'000);
  std::mt19937 rng(6);
  const std::vector<int32_t> alone = Tokens(rng, 200);
  auto first = Add(Req(alone, 30));
  scheduler_->Step();
  EXPECT_EQ(backend_->step_prefill().back(), 200);  // nothing decoding: the whole budget
  for (int i = 0; i < 3; ++i) scheduler_->Step();   // decode-only steps measured
  const std::vector<int32_t> long_prompt = Tokens(rng, 300);
  auto second = Add(Req(long_prompt, 3));
  const size_t mark = backend_->step_prefill().size();
  while (!scheduler_->idle()) {
    scheduler_->Step();
    scheduler_->CheckInvariants();
  }
  const std::vector<int64_t>& chunks = backend_->step_prefill();
  ASSERT_GT(chunks.size(), mark + 2);
  EXPECT_EQ(chunks[mark], 64);  // the fixed share: no mixed step measured yet
  EXPECT_NEAR(scheduler_->step_cost().TokenSeconds(), 1e-3, 1e-9);
  int64_t rest = 300 - 64;
  for (size_t i = mark + 1; rest > 0; ++i) {
    ASSERT_LT(i, chunks.size());
    EXPECT_EQ(chunks[i], std::min<int64_t>(rest, 50)) << "step " << i;
    rest -= chunks[i];
  }
  EXPECT_EQ(Collect(*second).tokens[0], Expected(long_prompt, 3));
  EXPECT_EQ(Collect(*first).tokens[0], Expected(alone, 30));
}

}  // namespace
}  // namespace radixlm::engine
