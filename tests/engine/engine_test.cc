// The engine end to end on the CPU backend with a generated tiny model: requests
// from several threads, the prefix cache on and off, chunked and whole; greedy
// tokens must not depend on any of it (DESIGN.md "Correctness bar").
#include "engine/engine.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <limits>
#include <mutex>
#include <random>
#include <thread>

#include "backend/test_model.h"
#include "grammar/grammar.h"
#include "grammar/json_tree.h"
#include "kvcache/pin_table.h"
#include "model/tokenizer.h"

namespace radixlm::engine {
namespace {

struct Output {
  std::vector<int32_t> tokens;
  std::string text;
  int64_t cached = -1;
  int64_t host_cached = -1;
  FinishReason finish = FinishReason::kNone;
};

Output Drain(RequestHandle& h) {
  Output out;
  RequestUpdate u;
  while (true) {
    EXPECT_TRUE(h.Next(&u, std::chrono::seconds(60))) << "no update within a minute";
    for (auto& d : u.samples) {
      out.tokens.insert(out.tokens.end(), d.tokens.begin(), d.tokens.end());
      out.text += d.text;
      if (d.finish != FinishReason::kNone) out.finish = d.finish;
    }
    out.cached = u.cached_tokens;
    out.host_cached = u.host_cached_tokens;
    if (u.finished) return out;
  }
}

class EngineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model::MakeModelOptions options;
    options.arch = "llama";
    options.preset = "tiny";
    options.seed = 7;
    model_ = testing::MakeTestModel(options, "engine_llama", /*page_size=*/8, /*num_pages=*/512)
                 .release();
    ASSERT_NE(model_, nullptr);
    auto tok = model::Tokenizer::FromFile(model_->dir + "/tokenizer.json");
    ASSERT_TRUE(tok.ok()) << tok.status().ToString();
    tokenizer_ = tok->release();
  }
  static void TearDownTestSuite() {
    delete model_;
    delete tokenizer_;
  }

  static std::unique_ptr<Engine> MakeEngine(EngineOptions o) {
    auto e = Engine::Create(model_->backend.get(), tokenizer_, o);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    return std::move(e).value();
  }
  static RequestOptions Greedy(std::vector<int32_t> prompt, int64_t max_tokens) {
    RequestOptions o;
    o.prompt = std::move(prompt);
    o.sampling.temperature = 0;
    o.stop.max_tokens = max_tokens;
    o.stop.ignore_eos = true;
    return o;
  }
  static std::vector<std::vector<int32_t>> Prompts(int count) {
    std::mt19937 rng(3);
    std::vector<int32_t> system(61);
    for (auto& t : system) t = static_cast<int32_t>(rng() % 256);
    std::vector<std::vector<int32_t>> prompts;
    for (int i = 0; i < count; ++i) {
      auto p = system;
      for (int k = 0; k < 5 + i; ++k) p.push_back(static_cast<int32_t>(rng() % 256));
      prompts.push_back(p);
    }
    return prompts;
  }

  static testing::TestModel* model_;
  static model::Tokenizer* tokenizer_;
};
testing::TestModel* EngineTest::model_ = nullptr;
model::Tokenizer* EngineTest::tokenizer_ = nullptr;

TEST_F(EngineTest, CacheOnAndOffConcurrentAndAloneGiveTheSameTokens) {
  const auto prompts = Prompts(6);
  std::vector<Output> cold;
  {
    EngineOptions o;
    o.prefix_cache = false;
    auto engine = MakeEngine(o);
    for (const auto& p : prompts) {
      auto h = engine->Submit(Greedy(p, 12));
      ASSERT_TRUE(h.ok());
      cold.push_back(Drain(**h));
      EXPECT_EQ(cold.back().cached, 0);
    }
  }
  EngineOptions o;
  o.token_budget = 24;  // chunked prefill, chunks inserted as they finish
  auto engine = MakeEngine(o);
  for (int round = 0; round < 2; ++round) {
    std::vector<Output> hot(prompts.size());
    std::vector<std::thread> clients;
    for (size_t i = 0; i < prompts.size(); ++i) {
      clients.emplace_back([&, i] {
        auto h = engine->Submit(Greedy(prompts[i], 12));
        ASSERT_TRUE(h.ok());
        hot[i] = Drain(**h);
      });
    }
    for (auto& c : clients) c.join();
    int64_t cached = 0;
    for (size_t i = 0; i < prompts.size(); ++i) {
      EXPECT_EQ(hot[i].tokens, cold[i].tokens) << "round " << round << " prompt " << i;
      EXPECT_EQ(hot[i].text, cold[i].text);
      EXPECT_EQ(hot[i].finish, FinishReason::kLength);
      cached += hot[i].cached;
    }
    // Round 0: the shared 61 tokens are computed once (in-batch sharing or
    // chunk inserts); round 1: every prompt but its last token is cached.
    if (round == 0) {
      EXPECT_GE(cached, 61 * 4);
    }
    if (round == 1) {
      int64_t want = 0;
      for (const auto& p : prompts) want += static_cast<int64_t>(p.size()) - 1;
      EXPECT_EQ(cached, want);
    }
  }
  EngineSnapshot snap = engine->Snapshot();
  EXPECT_EQ(snap.requests_length, 12);
  EXPECT_EQ(snap.generation_tokens, 12 * 12);
  EXPECT_EQ(snap.running_requests, 0);
  EXPECT_EQ(snap.pages_in_use, 0);
  EXPECT_EQ(engine->ttft().Snapshot().count, 12u);
}

// Constrained requests (JSON mode, a schema) run in the same batches as
// unconstrained ones on a real model, which get the very tokens they get
// alone; the constrained ones write JSON. A grammar compiled for another
// vocabulary, or on an embedding, is refused.
TEST_F(EngineTest, ConstrainedRequestsLeaveTheirBatchmatesUnchanged) {
  const auto prompts = Prompts(6);
  auto vocab =
      grammar::TokenVocabulary::FromTokenizer(*tokenizer_, model_->backend->config().vocab_size);
  ASSERT_TRUE(vocab.ok());
  grammar::GrammarSpec object_spec, schema_spec;
  schema_spec.kind = grammar::GrammarSpec::Kind::kJsonSchema;
  schema_spec.schema = R"({"type":"object","properties":{"id":{"type":"integer"},
      "ok":{"type":"boolean"},"note":{"type":"string"}},"required":["id","ok","note"]})";
  auto object_grammar = grammar::Grammar::Compile(object_spec, *vocab, {});
  auto schema_grammar = grammar::Grammar::Compile(schema_spec, *vocab, {});
  ASSERT_TRUE(object_grammar.ok() && schema_grammar.ok());
  std::vector<Output> alone;
  {
    auto engine = MakeEngine({});
    for (const auto& p : prompts) {
      auto h = engine->Submit(Greedy(p, 12));
      ASSERT_TRUE(h.ok());
      alone.push_back(Drain(**h));
    }
  }
  auto engine = MakeEngine({});
  std::vector<std::shared_ptr<RequestHandle>> plain, constrained;
  for (size_t i = 0; i < prompts.size(); ++i) {
    RequestOptions c = Greedy(prompts[i], 40);
    c.stop.ignore_eos = false;
    c.sampling.temperature = 1.0;
    c.sampling.seed = i;
    c.grammar = i % 2 == 0 ? *object_grammar : *schema_grammar;
    auto hc = engine->Submit(c);
    ASSERT_TRUE(hc.ok()) << hc.status().ToString();
    constrained.push_back(*hc);
    auto hp = engine->Submit(Greedy(prompts[i], 12));
    ASSERT_TRUE(hp.ok());
    plain.push_back(*hp);
  }
  for (size_t i = 0; i < prompts.size(); ++i) {
    const Output p = Drain(*plain[i]);
    EXPECT_EQ(p.tokens, alone[i].tokens) << "prompt " << i;
    EXPECT_EQ(p.text, alone[i].text) << "prompt " << i;
    const Output c = Drain(*constrained[i]);
    EXPECT_TRUE(grammar::ParseJsonTree(c.text, "output").ok()) << "prompt " << i << ": " << c.text;
    EXPECT_NE(c.finish, FinishReason::kError);
  }
  grammar::GrammarSpec other;
  auto small = grammar::TokenVocabulary::FromTokenizer(*tokenizer_, 256);
  ASSERT_TRUE(small.ok());
  auto mismatched = grammar::Grammar::Compile(other, *small, {});
  ASSERT_TRUE(mismatched.ok());
  RequestOptions o = Greedy(prompts[0], 4);
  o.grammar = *mismatched;
  EXPECT_EQ(engine->Submit(o).status().message(),
            "the grammar was compiled for a vocabulary of 256 tokens, not the model's " +
                std::to_string(model_->backend->config().vocab_size));
  o.grammar = *object_grammar;
  o.embed = true;
  EXPECT_EQ(engine->Submit(o).status().message(), "an embedding request has no grammar");
}

TEST_F(EngineTest, SubmitRejectsBadRequestsByName) {
  auto engine = MakeEngine({});
  auto bad = [&](RequestOptions o) { return engine->Submit(std::move(o)).status().message(); };
  EXPECT_EQ(bad(Greedy({}, 4)), "the prompt is empty");
  EXPECT_NE(bad(Greedy({1, 99999}, 4)).find("token id 99999"), std::string::npos);
  EXPECT_NE(bad(Greedy({1, 2}, -1)).find("max_tokens"), std::string::npos);
  RequestOptions zero = Greedy({1, 2}, 0);  // only the prompt: one sample
  zero.n = 2;
  EXPECT_NE(bad(zero).find("max_tokens"), std::string::npos);
  RequestOptions scores = Greedy({1, 2}, 4);
  scores.prompt_logprobs = 65;
  EXPECT_NE(bad(scores).find("prompt logprobs"), std::string::npos);
  EXPECT_NE(bad(Greedy({1, 2}, 1 << 20)).find("maximum context length"), std::string::npos);
  // max_tokens near 2^63 - 1 must not wrap the context or page arithmetic into a pass.
  for (int64_t huge : {std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::max() - 1,
                       std::numeric_limits<int64_t>::max() / 2}) {
    EXPECT_NE(bad(Greedy({1, 2}, huge)).find("maximum context length"), std::string::npos) << huge;
  }
  RequestOptions n = Greedy({1, 2}, 4);
  n.n = 1000;
  EXPECT_NE(bad(n).find("n must be"), std::string::npos);
  RequestOptions t = Greedy({1, 2}, 4);
  t.sampling.temperature = -1;
  EXPECT_NE(bad(t).find("temperature"), std::string::npos);
  RequestOptions e = Greedy({1, 2}, 4);
  e.embed = true;
  e.n = 2;
  EXPECT_EQ(bad(e), "an embedding request has n = 1");
  // An embedding generates nothing: only the input must fit the context.
  e.n = 1;
  e.stop.max_tokens = 1 << 20;
  EXPECT_TRUE(engine->Submit(e).ok());
}

// Prompt logprobs on the CPU backend: the same bits as log-softmax of the
// forward's logits at every position, with the prompt cold, then cached (the
// engine computes it anyway), in chunks; max_tokens 0 generates nothing.
TEST_F(EngineTest, PromptLogprobsAreTheForwardsWhetherCachedOrNot) {
  const std::vector<int32_t> prompt = Prompts(1)[0];
  const auto n = static_cast<int64_t>(prompt.size());
  std::vector<std::vector<LogprobEntry>> runs;
  std::vector<int64_t> cached;
  {
    EngineOptions o;
    o.token_budget = 16;  // the prompt in chunks
    auto engine = MakeEngine(o);
    for (int run = 0; run < 2; ++run) {
      RequestOptions r = Greedy(prompt, 0);
      r.prompt_logprobs = 2;
      auto h = engine->Submit(r);
      ASSERT_TRUE(h.ok()) << h.status().ToString();
      std::vector<LogprobEntry> scores;
      RequestUpdate u;
      while (true) {
        ASSERT_TRUE((*h)->Next(&u, std::chrono::seconds(60)));
        if (u.has_prompt_logprobs) scores = u.prompt_logprobs;
        for (auto& d : u.samples) EXPECT_TRUE(d.tokens.empty());
        if (u.finished) break;
      }
      runs.push_back(scores);
      cached.push_back(u.cached_tokens);
    }
    // The prompt went into the cache: a plain request hits all but its last token.
    auto plain = engine->Submit(Greedy(prompt, 1));
    ASSERT_TRUE(plain.ok());
    EXPECT_EQ(Drain(**plain).cached, n - 1);
  }
  EXPECT_EQ(cached, (std::vector<int64_t>{0, 0}));
  // The reference: one forward over the prompt, every row's logits.
  std::vector<int32_t> pages((static_cast<size_t>(n) + 7) / 8);
  for (size_t i = 0; i < pages.size(); ++i) pages[i] = static_cast<int32_t>(i);
  backend::SequenceInput in{prompt, 0, pages, n};
  std::vector<float> logits;
  ASSERT_TRUE(model_->backend->Forward({&in, 1}, &logits).ok());
  const auto vocab = static_cast<size_t>(model_->config.vocab_size);
  for (const auto& scores : runs) {
    ASSERT_EQ(scores.size(), static_cast<size_t>(n - 1));
    for (size_t i = 0; i + 1 < prompt.size(); ++i) {
      LogprobEntry want;
      ComputeLogprobs(std::span<const float>(logits).subspan(i * vocab, vocab), prompt[i + 1], 2,
                      &want);
      EXPECT_EQ(scores[i].token, prompt[i + 1]);
      EXPECT_EQ(scores[i].logprob, want.logprob) << "position " << i;
      ASSERT_EQ(scores[i].top.size(), 2u);
      EXPECT_EQ(scores[i].top[0].token, want.top[0].token);
      EXPECT_EQ(scores[i].top[1].logprob, want.top[1].logprob);
    }
  }
}

// The step histograms count each step once, by kind: one request's prompt in a
// prefill-only step, then its decode steps (three more tokens); nothing mixed.
TEST_F(EngineTest, StepHistogramsCountStepsByKind) {
  auto engine = MakeEngine({});
  auto h = engine->Submit(Greedy(Prompts(1)[0], 4));
  ASSERT_TRUE(h.ok());
  Drain(**h);
  const uint64_t prefill = engine->step_interval(kStepPrefill).Snapshot().count;
  const uint64_t decode = engine->step_interval(kStepDecode).Snapshot().count;
  EXPECT_GE(prefill, 1u);
  EXPECT_GE(decode, 3u);
  EXPECT_EQ(engine->step_interval(kStepMixed).Snapshot().count, 0u);
  EXPECT_EQ(prefill + decode, static_cast<uint64_t>(engine->Snapshot().steps));
}

TEST_F(EngineTest, FlushEmptiesTheCacheAndShutdownCancelsWhatRuns) {
  auto engine = MakeEngine({});
  auto h = engine->Submit(Greedy(Prompts(1)[0], 4));
  ASSERT_TRUE(h.ok());
  Drain(**h);
  EXPECT_GT(engine->Snapshot().pages_cached, 0);
  auto freed = engine->FlushCache("", /*all=*/true);
  ASSERT_TRUE(freed.ok());
  EXPECT_GT(*freed, 0);
  EXPECT_EQ(engine->Snapshot().pages_cached, 0);

  auto long_one = engine->Submit(Greedy(Prompts(1)[0], 1900));
  ASSERT_TRUE(long_one.ok());
  RequestUpdate u;
  ASSERT_TRUE((*long_one)->Next(&u, std::chrono::seconds(60)));  // it is running
  engine->Shutdown(std::chrono::milliseconds(0));
  Output rest = Drain(**long_one);
  EXPECT_EQ(rest.finish, FinishReason::kCancelled);
  EXPECT_EQ(engine->Submit(Greedy({1, 2}, 2)).status().code(), StatusCode::kUnavailable);
}

// The backend chooses tokens where the logits are unless the host must see the
// row (logprobs, penalties, the first token of n > 1): seeded samples are the
// same tokens either way, because both run backend::ChooseToken on the same
// draws.
TEST_F(EngineTest, SeededSamplesAreTheSameWhetherTheBackendOrTheHostChooses) {
  ASSERT_TRUE(model_->backend->chooses_tokens());
  const auto prompts = Prompts(3);
  auto engine = MakeEngine({});
  for (size_t i = 0; i < prompts.size(); ++i) {
    RequestOptions o = Greedy(prompts[i], 24);
    o.sampling.temperature = 0.9;
    o.sampling.top_p = 0.95;
    o.sampling.top_k = 50;
    o.sampling.seed = 1000 + i;
    auto delegated = engine->Submit(o);
    ASSERT_TRUE(delegated.ok());
    const Output by_backend = Drain(**delegated);
    o.logprobs = 0;  // the host sees every row
    auto on_host = engine->Submit(o);
    ASSERT_TRUE(on_host.ok());
    const Output by_host = Drain(**on_host);
    EXPECT_EQ(by_backend.tokens, by_host.tokens) << "prompt " << i;
    EXPECT_EQ(by_backend.tokens.size(), 24u);
    // n = 2: the first token of each sample on the host, the rest on the backend.
    o.logprobs = -1;
    o.n = 2;
    auto two = engine->Submit(o);
    ASSERT_TRUE(two.ok());
    const Output pair = Drain(**two);
    EXPECT_EQ(pair.tokens.size(), 48u);
  }
}

// Pins through the engine (kvcache/pin_table.h): a request carrying a ticket
// attaches it once its chunked prefill has cached the prefix; the prefix then
// outlives a flood that evicts everything else, until it is released; a request
// that cannot fit beside the pins is refused; a flush drops its namespace's pins.
TEST_F(EngineTest, PinnedPrefixOutlivesAFloodUntilReleased) {
  EngineOptions o;
  o.token_budget = 24;  // the pinned prompt is prefilled in chunks
  o.max_pinned_pages_per_tenant = 100;
  auto engine = MakeEngine(o);
  kvcache::PinTable* pins = engine->pins();
  ASSERT_NE(pins, nullptr);
  std::mt19937 rng(11);
  auto random = [&](size_t n, int32_t first) {
    std::vector<int32_t> t(n);
    for (auto& x : t) x = static_cast<int32_t>(rng() % 256);
    t[0] = first;
    return t;
  };
  const std::vector<int32_t> system = random(200, 1);  // 25 pages of 8
  auto with = [&](std::vector<int32_t> tail) {
    std::vector<int32_t> p = system;
    p.insert(p.end(), tail.begin(), tail.end());
    return p;
  };
  auto run = [&](RequestOptions r) {
    auto h = engine->Submit(std::move(r));
    EXPECT_TRUE(h.ok()) << h.status().ToString();
    return h.ok() ? Drain(**h) : Output();
  };
  const std::vector<int32_t> prompt = with(random(5, 7));
  auto ticket = pins->Reserve("tenant", "", prompt, system.size(), 3600);
  ASSERT_TRUE(ticket.ok()) << ticket.status().ToString();
  RequestOptions pinned = Greedy(prompt, 2);
  pinned.retention.pins.push_back(*ticket);
  pinned.retention.priority = 3;
  ticket->reset();
  run(std::move(pinned));
  auto listed = pins->List("tenant", false);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_TRUE(listed[0].active);
  EXPECT_EQ(listed[0].pages, 25);

  const std::vector<int32_t> control = random(100, 2);
  run(Greedy(control, 1));
  EXPECT_EQ(run(Greedy(control, 1)).cached, 99);
  // 60 unique prompts of 13 pages: 780 pages through a pool of 512.
  for (int i = 0; i < 60; ++i) run(Greedy(random(100, 10 + i), 1));
  EXPECT_GT(engine->Snapshot().cache.pages_evicted, 300);
  EXPECT_EQ(run(Greedy(control, 1)).cached, 0);
  EXPECT_GE(run(Greedy(with(random(5, 9)), 1)).cached, 200);

  // 2 x (1,992 tokens / 8 + 1) = 500 pages fit the pool of 512, not beside 25 pinned.
  RequestOptions big = Greedy(random(10, 3), 1982);
  big.n = 2;
  auto refused = engine->Submit(big);
  if (refused.ok()) (*refused)->Cancel();
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(refused.status().message().find("25 of the pool's 512 are pinned"), std::string::npos)
      << refused.status().message();

  EXPECT_EQ(engine->ReleasePin(listed[0].id, "other", false).code(), StatusCode::kNotFound);
  ASSERT_TRUE(engine->ReleasePin(listed[0].id, "tenant", false).ok());
  EXPECT_TRUE(pins->List("", true).empty());
  for (int i = 0; i < 60; ++i) run(Greedy(random(100, 100 + i), 1));
  EXPECT_LT(run(Greedy(with(random(5, 9)), 1)).cached, 200);  // evicted once released

  // A flush of the namespace drops its pins.
  auto again = pins->Reserve("tenant", "", prompt, system.size(), 3600);
  ASSERT_TRUE(again.ok());
  RequestOptions r = Greedy(prompt, 1);
  r.retention.pins.push_back(*again);
  again->reset();
  run(std::move(r));
  EXPECT_EQ(pins->Stats().pages_pinned, 25);
  ASSERT_TRUE(engine->FlushCache("", /*all=*/false).ok());
  EXPECT_EQ(pins->Stats().pins, 0);
  EXPECT_EQ(engine->Snapshot().pages_cached, 0);
  EXPECT_EQ(engine->Snapshot().pages_locked, 0);
}

}  // namespace
// A backend that holds every forward pass until released: an engine stuck in a step.
class GatedBackend final : public backend::Backend {
 public:
  explicit GatedBackend(backend::Backend* inner) : inner_(inner) {}
  std::string_view name() const override { return "gated"; }
  const model::ModelConfig& config() const override { return inner_->config(); }
  int64_t page_size() const override { return inner_->page_size(); }
  int64_t num_pages() const override { return inner_->num_pages(); }
  bool chooses_tokens() const override { return inner_->chooses_tokens(); }
  Status Forward(std::span<const backend::SequenceInput> batch,
                 std::vector<float>* logits) override {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return open_; });
    return inner_->Forward(batch, logits);
  }
  Status CopyPage(int32_t src, int32_t dst, int64_t slots) override {
    return inner_->CopyPage(src, dst, slots);
  }
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  backend::Backend* inner_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

// An engine whose step does not come back reports how long work has waited
// (what /health turns into 503); once it moves, and when idle, nothing.
TEST_F(EngineTest, StalledForCountsWhileWorkWaitsWithoutProgress) {
  GatedBackend gated(model_->backend.get());
  auto created = Engine::Create(&gated, tokenizer_, EngineOptions{});
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  std::unique_ptr<Engine> engine = std::move(created).value();
  EXPECT_EQ(engine->StalledFor().count(), 0);
  auto handle = engine->Submit(Greedy({1, 2, 3}, 2));
  ASSERT_TRUE(handle.ok());
  // The step is held: the stall grows (waited for, with a deadline, not slept).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (engine->StalledFor() < std::chrono::milliseconds(20) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  EXPECT_GE(engine->StalledFor(), std::chrono::milliseconds(20));
  gated.Open();
  RequestUpdate u;
  bool finished = false;
  while (!finished && (*handle)->Next(&u, std::chrono::seconds(20))) finished = u.finished;
  ASSERT_TRUE(finished);
  // Idle: nothing waits, so nothing is stalled.
  while (engine->StalledFor().count() != 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::yield();
  EXPECT_EQ(engine->StalledFor().count(), 0);
  engine->Shutdown(std::chrono::milliseconds(0));
}

// The host tier (kv_tiers.h): a pool of 24 pages holds one 100-token prompt at a
// time; with a host cache the evicted prompt comes back from host memory (its
// pages loaded, not computed) and its tokens are the cold run's.
TEST_F(EngineTest, HostTierServesPromptsEvictedFromTheDevice) {
  model::MakeModelOptions options;
  options.arch = "llama";
  options.preset = "tiny";
  options.seed = 7;
  auto small = testing::MakeTestModel(options, "engine_tiers", /*page_size=*/8, /*num_pages=*/24);
  ASSERT_NE(small, nullptr);
  std::mt19937 rng(11);
  std::vector<std::vector<int32_t>> prompts(3, std::vector<int32_t>(100));
  for (auto& p : prompts)
    for (auto& t : p) t = static_cast<int32_t>(rng() % 256);
  auto run = [&](bool host) {
    EngineOptions o;
    o.max_running = 1;
    if (host) o.tiers.host_bytes = 64 * small->backend->page_bytes();
    auto e = Engine::Create(small->backend.get(), tokenizer_, o);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    std::vector<Output> outs;
    for (int k : {0, 1, 2, 0}) {
      auto h = (*e)->Submit(Greedy(prompts[static_cast<size_t>(k)], 4));
      EXPECT_TRUE(h.ok());
      outs.push_back(Drain(**h));
    }
    EngineSnapshot snap = (*e)->Snapshot();
    (*e)->Shutdown(std::chrono::milliseconds(0));
    return std::make_pair(outs, snap);
  };
  auto [plain, plain_snap] = run(false);
  auto [tiered, snap] = run(true);
  // Without the tier the first prompt was evicted: computed again.
  EXPECT_EQ(plain[3].cached, 0);
  EXPECT_FALSE(plain_snap.host_tier);
  // With it: every full page before the last prompt token (99 / 8 = 12 pages)
  // comes from the host, and the tokens are the cold run's.
  EXPECT_EQ(tiered[3].cached, 96);
  EXPECT_EQ(tiered[3].host_cached, 96);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(tiered[i].tokens, plain[i].tokens) << i;
    if (i < 3) {
      EXPECT_EQ(tiered[i].host_cached, 0) << i;
    }
  }
  EXPECT_TRUE(snap.host_tier);
  EXPECT_EQ(snap.tiers.loaded_blocks, 12);
  EXPECT_GE(snap.tiers.written_blocks, 36);  // every full page of the three prompts
  EXPECT_EQ(snap.host_cached_prompt_tokens, 96);
  EXPECT_EQ(snap.tiers.host_capacity_blocks, 64);
}

// A host cache needs a backend that moves pages and the prefix cache.
TEST_F(EngineTest, HostTierOptionsAreChecked) {
  EngineOptions o;
  o.tiers.host_bytes = 1;
  auto e = Engine::Create(model_->backend.get(), tokenizer_, o);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("holds no page"), std::string::npos) << e.status().ToString();
  o.tiers.host_bytes = int64_t{1} << 20;
  o.prefix_cache = false;
  EXPECT_FALSE(Engine::Create(model_->backend.get(), tokenizer_, o).ok());
  o.prefix_cache = true;
  o.tiers.host_admission = "sometimes";
  EXPECT_FALSE(Engine::Create(model_->backend.get(), tokenizer_, o).ok());
}

}  // namespace radixlm::engine
