#include "sim/simulator.h"

#include <algorithm>
#include <deque>
#include <memory>
#include <span>

#include "core/check.h"
#include "core/clock.h"
#include "kvcache/page_adoption.h"
#include "kvcache/page_pool.h"
#include "kvcache/prefix_cache.h"
#include "sim/oracle.h"
#include "sim/prompt_builder.h"

namespace radixlm::sim {

using kvcache::CacheHandle;
using kvcache::PageId;

Status SimOptions::Validate() const {
  if (page_size <= 0) return InvalidArgumentError("page size must be positive");
  if (capacity_pages <= 0) return InvalidArgumentError("capacity must be at least one page");
  if (token_budget <= 0 || chunk_tokens <= 0 || max_running <= 0) {
    return InvalidArgumentError("token budget, chunk size and batch size must be positive");
  }
  return profile.Validate();
}

double Quantile(std::vector<double> values, double q) {
  if (values.empty()) return 0;
  size_t k = static_cast<size_t>(q * static_cast<double>(values.size() - 1) + 0.5);
  std::nth_element(values.begin(), values.begin() + static_cast<ptrdiff_t>(k), values.end());
  return values[k];
}

namespace {

struct Seq {
  uint32_t request = 0;
  std::vector<Token> tokens;  // prompt, then the output generated so far
  std::vector<Token> output;  // the whole output, generated ahead
  size_t prompt_len = 0;
  size_t computed = 0;        // tokens whose KV is in `pages`
  size_t generated = 0;
  std::vector<PageId> pages;  // ceil(computed / page_size) after each step
  std::vector<uint8_t> owned;  // by page: ours to release (not the cache's)
  // Locked: the newest entry, after older ones still pinning foreign pages.
  std::vector<CacheHandle> locks;
  uint64_t admitted = 0;      // admission order
  bool started = false;       // admitted at least once
  // Tokens to prefill before decoding (re)starts.
  size_t prefill_target() const { return generated == 0 ? prompt_len : tokens.size() - 1; }
  bool decoding() const { return computed >= prefill_target(); }
};

class Run {
 public:
  Run(const Trace& trace, const SimOptions& options)
      : trace_(trace), options_(options), builder_(trace, options.seed) {}

  StatusOr<SimResult> Go() {
    RETURN_IF_ERROR(options_.Validate());
    RETURN_IF_ERROR(trace_.Validate());
    ASSIGN_OR_RETURN(pool_, kvcache::PagePool::Create({options_.capacity_pages, options_.page_size}));
    kvcache::PrefixCacheOptions cache_options;
    cache_options.page_size = options_.page_size;
    cache_options.eviction = options_.eviction;
    if (options_.eviction == "oracle") {
      oracle_ = std::make_shared<OraclePolicy>(trace_, builder_, options_.page_size);
      cache_options.eviction_policy = oracle_;
    }
    cache_options.admission = options_.admission;
    ASSIGN_OR_RETURN(cache_, kvcache::CreatePrefixCache(cache_options, pool_.get(), &clock_));
    result_.records.resize(trace_.requests.size());

    const size_t n = trace_.requests.size();
    size_t next = 0;
    double now = n > 0 ? trace_.requests[0].arrival_s : 0;
    while (next < n || !waiting_.empty() || !running_.empty()) {
      if (waiting_.empty() && running_.empty()) now = std::max(now, trace_.requests[next].arrival_s);
      while (next < n && trace_.requests[next].arrival_s <= now) {
        waiting_.push_back(NewSeq(static_cast<uint32_t>(next++)));
      }
      clock_.Set(static_cast<int64_t>(now * 1e9));
      Admit();
      if (running_.empty()) continue;
      now += Step(now);
    }
    result_.duration_s = n > 0 ? now - trace_.requests[0].arrival_s : 0;
    cache_.reset();
    return std::move(result_);
  }

 private:
  std::unique_ptr<Seq> NewSeq(uint32_t request) {
    auto seq = std::make_unique<Seq>();
    seq->request = request;
    builder_.Build(request, &seq->tokens);
    seq->prompt_len = seq->tokens.size();
    builder_.AppendOutput(request, &seq->output);
    return seq;
  }

  const std::string& Ns(const Seq& s) const { return trace_.requests[s.request].ns; }

  void Admit() {
    while (!waiting_.empty() && static_cast<int64_t>(running_.size()) < options_.max_running) {
      std::unique_ptr<Seq> seq = std::move(waiting_.front());
      waiting_.pop_front();
      // Match what this sequence would compute (all but a pending last token),
      // less its last token: that one is always computed, for its logits.
      if (oracle_ != nullptr) oracle_->SetNow(seq->request);
      std::span<const Token> wanted(seq->tokens.data(), seq->prefill_target());
      cache_->Match(Ns(*seq), wanted.first(wanted.empty() ? 0 : wanted.size() - 1), &match_);
      CHECK(cache_->Lock(match_.handle).ok());
      const size_t ps = options_.page_size;
      size_t full = match_.matched_tokens / ps;
      // Admission control: the rest of its prefill must fit in free and evictable
      // pages, less a page for each running sequence's next token; otherwise it
      // waits (admitting it would only preempt someone).
      int64_t available = pool_->pages_free() + cache_->GetStats().pages_cached;
      int64_t wanted_pages = static_cast<int64_t>(PagesFor(wanted.size()) - full) +
                             static_cast<int64_t>(running_.size());
      if (available < wanted_pages && !running_.empty()) {
        CHECK(cache_->Unlock(match_.handle).ok());
        waiting_.push_front(std::move(seq));
        return;
      }
      seq->locks.assign(1, match_.handle);
      seq->pages.assign(match_.pages.begin(), match_.pages.begin() + static_cast<ptrdiff_t>(full));
      seq->owned.assign(full, 0);
      seq->computed = full * ps;
      // The boundary page's slots are copied into a fresh page when one is free;
      // otherwise those few tokens are recomputed.
      if (match_.boundary_slots > 0 && pool_->pages_free() > 0) {
        seq->pages.push_back(*pool_->AllocateOne());
        seq->owned.push_back(1);
        seq->computed = match_.matched_tokens;
      }
      if (!seq->started) {
        seq->started = true;
        const TraceRequest& r = trace_.requests[seq->request];
        RequestRecord& rec = result_.records[seq->request];
        rec.arrival_s = r.arrival_s;
        rec.prompt_tokens = static_cast<int64_t>(seq->prompt_len);
        rec.cached_tokens = static_cast<int64_t>(match_.matched_tokens);
        rec.output_tokens = r.output_tokens;
        for (HitCounts* h : {&result_.hits, &result_.hits_by_namespace[r.ns]}) {
          ++h->requests;
          h->prompt_tokens += rec.prompt_tokens;
          h->cached_tokens += rec.cached_tokens;
          h->requests_hit += rec.cached_tokens > 0;
        }
        result_.prefill_tokens_saved += static_cast<int64_t>(seq->computed);
      }
      seq->admitted = admissions_++;
      running_.push_back(std::move(seq));
    }
  }

  size_t PagesFor(size_t tokens) const {
    return (tokens + options_.page_size - 1) / options_.page_size;
  }

  // Returns the step's duration.
  double Step(double now) {
    std::vector<std::pair<Seq*, size_t>> plan;
    while (true) {
      plan.clear();
      int64_t budget = options_.token_budget;
      int64_t need = 0;
      for (auto& s : running_) {
        if (s->decoding() && budget > 0) {
          plan.emplace_back(s.get(), 1);
          --budget;
        }
      }
      for (auto& s : running_) {
        if (s->decoding() || budget <= 0) continue;
        size_t chunk = std::min<size_t>({static_cast<size_t>(options_.chunk_tokens),
                                         s->prefill_target() - s->computed,
                                         static_cast<size_t>(budget)});
        plan.emplace_back(s.get(), chunk);
        budget -= static_cast<int64_t>(chunk);
      }
      for (const auto& [s, tokens] : plan) {
        need += static_cast<int64_t>(PagesFor(s->computed + tokens) - s->pages.size());
      }
      if (pool_->pages_free() < need) {
        result_.evicted_pages += cache_->Evict(need - pool_->pages_free());
      }
      if (pool_->pages_free() >= need) break;
      // Preempt the most recently admitted; a lone request that cannot fit even in
      // an empty cache is dropped.
      auto victim = std::max_element(running_.begin(), running_.end(),
                                     [](const auto& a, const auto& b) { return a->admitted < b->admitted; });
      if (running_.size() == 1) {
        Release(**victim);
        ++result_.dropped_requests;
        running_.erase(victim);
        return 0;
      }
      Preempt(std::move(*victim));
      running_.erase(victim);
    }

    StepWork work;
    for (const auto& [s, tokens] : plan) {
      std::vector<PageId> fresh;
      int64_t more = static_cast<int64_t>(PagesFor(s->computed + tokens) - s->pages.size());
      CHECK(pool_->Allocate(more, &fresh).ok());
      for (PageId p : fresh) {
        s->pages.push_back(p);
        s->owned.push_back(1);
      }
      if (s->decoding()) {
        ++work.decode_sequences;
        work.decode_context_tokens += static_cast<int64_t>(s->computed + 1);
      } else {
        work.prefill_tokens += static_cast<int64_t>(tokens);
        work.attention_pairs += static_cast<double>(tokens) *
                                (static_cast<double>(s->computed) + static_cast<double>(tokens + 1) / 2);
      }
    }
    kvcache::CacheStats stats = cache_->GetStats();
    result_.peak_pages_in_use =
        std::max(result_.peak_pages_in_use, pool_->pages_allocated() - stats.pages_cached);
    const double seconds = options_.profile.StepSeconds(work);
    const double end = now + seconds;
    clock_.Set(static_cast<int64_t>(end * 1e9));
    ++result_.steps;
    result_.prefill_tokens_computed += work.prefill_tokens;

    std::vector<Seq*> finished;
    for (const auto& [s, tokens] : plan) {
      const bool was_decoding = s->decoding();
      s->computed += tokens;
      if (!was_decoding) {
        InsertComputed(*s);  // each finished chunk is shared at once
        if (!s->decoding()) continue;
        // The prefill is complete: it yields the next token.
        RequestRecord& rec = result_.records[s->request];
        if (s->generated == 0) rec.first_token_s = end;
      }
      if (s->generated < s->output.size()) {
        s->tokens.push_back(s->output[s->generated++]);
        ++result_.output_tokens;
      }
      if (s->generated >= s->output.size()) finished.push_back(s);
    }
    for (Seq* s : finished) {
      result_.records[s->request].finish_s = end;
      InsertComputed(*s);
      Release(*s);
      auto it = std::find_if(running_.begin(), running_.end(),
                             [s](const auto& p) { return p.get() == s; });
      running_.erase(it);
    }
    if (options_.check_invariants) CheckConservation();
    return seconds;
  }

  // Inserts the computed tokens and swaps the sequence's lock to the new entry.
  void InsertComputed(Seq& s) {
    if (s.computed == 0) return;
    std::span<const Token> tokens(s.tokens.data(), s.computed);
    std::span<const PageId> pages(s.pages.data(), PagesFor(s.computed));
    kvcache::InsertOptions insert_options;
    insert_options.request_id = s.request;
    CHECK(cache_->Insert(Ns(s), tokens, pages, insert_options, &insert_).ok());
    CHECK(kvcache::AdoptInsert(cache_.get(), pool_.get(), insert_,
                               std::span(s.pages).first(pages.size()),
                               std::span(s.owned).first(pages.size()), &s.locks)
              .ok());
  }

  void Release(Seq& s) {
    for (CacheHandle h : s.locks) CHECK(cache_->Unlock(h).ok());
    s.locks.clear();
    kvcache::ReleaseOwnedPages(pool_.get(), s.pages, s.owned);
    s.pages.clear();
    s.owned.clear();
    s.computed = 0;
  }

  void Preempt(std::unique_ptr<Seq> s) {
    InsertComputed(*s);  // its computed prefix stays cached
    Release(*s);
    ++result_.preemptions;
    ++result_.records[s->request].preemptions;
    waiting_.push_front(std::move(s));
  }

  void CheckConservation() const {
    cache_->CheckInvariants();
    int64_t owned = 0;
    for (const auto& s : running_) {
      for (uint8_t o : s->owned) owned += o;
    }
    kvcache::CacheStats stats = cache_->GetStats();
    CHECK_EQ(pool_->pages_allocated(), stats.pages_cached + stats.pages_locked + owned)
        << "pages are not conserved";
  }

  const Trace& trace_;
  const SimOptions& options_;
  PromptBuilder builder_;
  ManualClock clock_;
  std::unique_ptr<kvcache::PagePool> pool_;
  std::shared_ptr<OraclePolicy> oracle_;  // when options_.eviction is "oracle"
  std::unique_ptr<kvcache::PrefixCache> cache_;
  std::deque<std::unique_ptr<Seq>> waiting_;
  std::vector<std::unique_ptr<Seq>> running_;
  kvcache::MatchResult match_;
  kvcache::InsertResult insert_;
  uint64_t admissions_ = 0;
  SimResult result_;
};

}  // namespace

StatusOr<SimResult> Simulate(const Trace& trace, const SimOptions& options) {
  Run run(trace, options);
  return run.Go();
}

}  // namespace radixlm::sim
