#include "sim/simulator.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <span>

#include "core/check.h"
#include "core/clock.h"
#include "kvcache/block_hash.h"
#include "kvcache/page_pool.h"
#include "kvcache/prefix_cache.h"
#include "kvcache/sequence_pages.h"
#include "sim/oracle.h"
#include "sim/prompt_builder.h"

namespace radixlm::sim {

sched::PolicyOptions SchedulePolicyOptions(const SimOptions& options) {
  sched::PolicyOptions p;
  p.max_running = options.max_running;
  p.token_budget = options.token_budget;
  p.max_prefill_tokens = options.max_prefill_tokens;
  p.prefill_attention_span = options.prefill_attention_span;
  p.touch_waiting = options.touch_waiting;
  p.fairness_bound_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(options.fairness_bound).count();
  p.page_size = options.page_size;
  return p;
}

Status SimOptions::Validate() const {
  if (page_size <= 0) return InvalidArgumentError("page size must be positive");
  if (capacity_pages <= 0) return InvalidArgumentError("capacity must be at least one page");
  if (host.capacity_pages < 0 || disk.capacity_pages < 0) {
    return InvalidArgumentError("tier capacities cannot be negative");
  }
  RETURN_IF_ERROR(SchedulePolicyOptions(*this).Validate());
  return profile.Validate();
}

double Quantile(std::vector<double> values, double q) {
  if (values.empty()) return 0;
  size_t k = static_cast<size_t>(q * static_cast<double>(values.size() - 1) + 0.5);
  std::nth_element(values.begin(), values.begin() + static_cast<ptrdiff_t>(k), values.end());
  return values[k];
}

namespace {

int64_t Nanos(double seconds) { return std::llround(seconds * 1e9); }

// One request's sequence, as the engine's Request and Sequence (n = 1).
struct Seq {
  uint32_t request = 0;
  std::vector<Token> tokens;  // prompt, then the output generated so far
  std::vector<Token> output;  // the whole output, generated ahead
  int64_t prompt_len = 0;
  int64_t computed = 0;             // tokens whose KV is in `pages`
  kvcache::PrefixMemo prefix_memo;  // where ranking's last walk of the prompt ended
  size_t generated = 0;
  std::unique_ptr<kvcache::SequencePages> pages;  // null while waiting
  int64_t arrival_ns = 0;
  int64_t queued_ns = 0;    // when it last entered the queue
  int64_t admit_order = 0;  // larger: admitted more recently
  int32_t preemptions = 0;
  bool started = false;  // admitted at least once
  // With tiers below the device: the block hashes of the full pages of `tokens`
  // (as far as computed so far), the pages already offered to the tiers, and
  // the load this admission waits for.
  std::vector<kvcache::BlockHash> hashes;
  int64_t written_pages = 0;
  int64_t ready_ns = 0;     // the load is on the device (0: no load)
  int64_t loaded_from = 0;  // the device's match, where the load starts
  // Tokens to compute before the next sample (the engine's Sequence::pending).
  int64_t pending() const { return static_cast<int64_t>(tokens.size()) - computed; }
};

class Run final : public sched::AdmitHost {
 public:
  Run(const Trace& trace, const SimOptions& options)
      : trace_(trace),
        options_(options),
        policy_(SchedulePolicyOptions(options)),
        builder_(trace, options.seed) {}

  StatusOr<SimResult> Go() {
    RETURN_IF_ERROR(options_.Validate());
    RETURN_IF_ERROR(trace_.Validate());
    ASSIGN_OR_RETURN(pool_,
                     kvcache::PagePool::Create({options_.capacity_pages, options_.page_size}));
    kvcache::PrefixCacheOptions cache_options;
    cache_options.page_size = options_.page_size;
    cache_options.eviction = options_.eviction;
    if (options_.eviction == "oracle") {
      oracle_ = std::make_shared<OraclePolicy>(trace_, builder_, options_.page_size);
      cache_options.eviction_policy = oracle_;
    }
    cache_options.admission = options_.admission;
    ASSIGN_OR_RETURN(cache_, kvcache::CreatePrefixCache(cache_options, pool_.get(), &clock_));
    if (options_.host.capacity_pages > 0 || options_.disk.capacity_pages > 0) {
      ASSIGN_OR_RETURN(tiers_, TierModel::Create(options_.host, options_.disk, options_.page_size,
                                                 options_.kv_bytes_per_token));
      cache_->SetEvictionObserver([this](const kvcache::EvictedEntry& e) { CountDemoted(e); });
    }
    result_.records.resize(trace_.requests.size());

    const size_t n = trace_.requests.size();
    size_t next = 0;
    const int64_t start = n > 0 ? Nanos(trace_.requests[0].arrival_s) : 0;
    int64_t now = start;
    while (next < n || !waiting_.empty() || !running_.empty()) {
      if (waiting_.empty() && running_.empty()) {
        now = std::max(now, Nanos(trace_.requests[next].arrival_s));
      }
      while (next < n && Nanos(trace_.requests[next].arrival_s) <= now) Arrive(next++);
      clock_.Set(now);
      ScheduleRunning();
      Admit(now);
      if (plan_.empty()) {
        // Only requests waiting for their loads: on to the first load's end (or
        // the next arrival).
        int64_t wake = INT64_MAX;
        for (const auto& r : running_) {
          if (r->ready_ns > now) wake = std::min(wake, r->ready_ns);
        }
        if (wake != INT64_MAX) {
          now = next < n ? std::min(wake, Nanos(trace_.requests[next].arrival_s)) : wake;
          continue;
        }
        // Nothing fits (the engine never gets here: each request fits the pool
        // alone and the oldest is never preempted for a newer one). Wait for the
        // next arrival, or give up on the head of the queue.
        if (next < n) {
          now = std::max(now, Nanos(trace_.requests[next].arrival_s));
        } else if (!waiting_.empty()) {
          ++result_.dropped_requests;
          if (oracle_ != nullptr && !waiting_[0]->started) oracle_->Admit(waiting_[0]->request);
          waiting_.erase(waiting_.begin());
        }
        continue;
      }
      now += Step(now);
    }
    result_.duration_s = static_cast<double>(now - start) / 1e9;
    result_.evicted_pages = cache_->GetStats().pages_evicted;
    if (tiers_ != nullptr) {
      result_.tiers = tiers_->Figures();
      for (size_t i = 0; i < result_.tiers.size(); ++i) {
        result_.tiers[i].hit_tokens = result_.cached_by_level[i + 1];
      }
    }
    waiting_.clear();
    cache_.reset();
    return std::move(result_);
  }

 private:
  struct Item {
    Seq* seq;
    int64_t tokens;
    bool decode;
    bool sample;  // the chunk reaches the end: the next token follows
  };

  void Arrive(size_t request) {
    auto seq = std::make_unique<Seq>();
    seq->request = static_cast<uint32_t>(request);
    builder_.Build(seq->request, &seq->tokens);
    seq->prompt_len = static_cast<int64_t>(seq->tokens.size());
    builder_.AppendOutput(seq->request, &seq->output);
    seq->arrival_ns = Nanos(trace_.requests[request].arrival_s);
    seq->queued_ns = seq->arrival_ns;
    if (tiers_ != nullptr) EnsureHashes(*seq, seq->prompt_len);
    RequestRecord& rec = result_.records[request];
    rec.arrival_s = trace_.requests[request].arrival_s;
    rec.prompt_tokens = seq->prompt_len;
    rec.output_tokens = static_cast<int64_t>(seq->output.size());
    // Every request must fit the pool alone (Engine::Submit refuses it otherwise).
    const int64_t ps = options_.page_size;
    const int64_t total = seq->prompt_len + static_cast<int64_t>(seq->output.size());
    if ((total + ps - 1) / ps + 1 > options_.capacity_pages) {
      ++result_.dropped_requests;
      if (oracle_ != nullptr) oracle_->Admit(seq->request);  // never a use
      return;
    }
    waiting_.push_back(std::move(seq));
  }

  const std::string& Ns(const Seq& s) const { return trace_.requests[s.request].ns; }

  // --- Tiers below the device.

  // Extends s.hashes over the full pages of its first `tokens` tokens.
  void EnsureHashes(Seq& s, int64_t tokens) {
    const size_t pages = static_cast<size_t>(tokens / options_.page_size);
    if (s.hashes.size() >= pages) return;
    const size_t from = s.hashes.size() * static_cast<size_t>(options_.page_size);
    const kvcache::BlockHash parent =
        s.hashes.empty() ? kvcache::NamespaceHash(Ns(s)) : s.hashes.back();
    kvcache::AppendBlockHashes(
        parent,
        std::span(s.tokens).subspan(from, pages * static_cast<size_t>(options_.page_size) - from),
        options_.page_size, &s.hashes);
  }

  // The prompt pages a match may take from the tiers: all but the last token's.
  std::span<const kvcache::BlockHash> MatchableHashes(const Seq& s) const {
    const size_t pages = static_cast<size_t>((s.prompt_len - 1) / options_.page_size);
    return std::span(s.hashes).first(std::min(pages, s.hashes.size()));
  }

  // The whole match of s's prompt, device then tiers, from the device's.
  int64_t MatchBelow(const Seq& s, int64_t device) {
    tiers_->Lookup(MatchableHashes(s), device / options_.page_size, &lookup_);
    return std::max(device, lookup_.end_page * options_.page_size);
  }

  // Keeps of the match below the device (lookup_, s.computed) what arrives
  // before the GPU could compute it, dropping the slowest tier first. The GPU
  // would first finish the prefill of the running requests (their chunks go
  // ahead of a new one), so that counts on its side: under a long backlog even
  // a slow tier pays; with the GPU idle, a link slower than ~5 GB/s (Llama-3-8B
  // on an H100 computes a 128 KiB token in ~27 us) does not.
  void TrimLoad(Seq& s, int64_t device, int64_t now) {
    const int64_t ps = options_.page_size;
    const int64_t first = device / ps;
    int64_t backlog = 0;
    for (const auto& r : running_) {
      if (r->ready_ns <= now) backlog += std::max<int64_t>(0, r->prompt_len - r->computed);
    }
    const CostProfile& p = options_.profile;
    while (s.computed > device) {
      const double tokens = static_cast<double>(s.computed - device);
      const double compute_s =
          p.prefill_token_s * (tokens + static_cast<double>(backlog)) +
          p.attention_pair_s * tokens * (static_cast<double>(device) + (tokens + 1) / 2);
      if (tiers_->LoadReady(MatchableHashes(s), first, lookup_, now) - now <= Nanos(compute_s)) {
        return;
      }
      // Cut at the first page of the deepest level used.
      const int8_t deepest = *std::max_element(lookup_.level.begin(), lookup_.level.end());
      size_t keep = 0;
      if (deepest > 1) {
        keep = static_cast<size_t>(std::find(lookup_.level.begin(), lookup_.level.end(), deepest) -
                                   lookup_.level.begin());
      }
      lookup_.level.resize(keep);
      std::fill(lookup_.pages.begin(), lookup_.pages.end(), 0);
      for (int8_t l : lookup_.level) ++lookup_.pages[static_cast<size_t>(l)];
      lookup_.end_page = first + static_cast<int64_t>(keep);
      s.computed = std::max(device, lookup_.end_page * ps);
    }
  }

  // Offers the full pages of s's first `tokens` tokens not offered yet to the
  // tiers (write-through), at `now`.
  void WriteThrough(Seq& s, int64_t tokens, int64_t now) {
    const int64_t full = tokens / options_.page_size;
    if (full <= s.written_pages) return;
    EnsureHashes(s, full * options_.page_size);
    tiers_->UseOnDevice(std::span(s.hashes).subspan(static_cast<size_t>(s.written_pages),
                                                    static_cast<size_t>(full - s.written_pages)),
                        s.request, now);
    s.written_pages = full;
  }

  // A device eviction: its full pages that a tier still holds were demoted (the
  // write-through copy is there); the others are gone.
  void CountDemoted(const kvcache::EvictedEntry& e) {
    const size_t ps = static_cast<size_t>(options_.page_size);
    const size_t end = e.end / ps;
    if (end * ps <= e.start || e.path.size() < end * ps) return;
    evicted_hashes_.clear();
    kvcache::AppendBlockHashes(kvcache::NamespaceHash(e.ns), e.path.first(end * ps),
                               options_.page_size, &evicted_hashes_);
    for (size_t p = (e.start + ps - 1) / ps; p < end; ++p) {
      if (tiers_->HeldBelow(evicted_hashes_[p])) {
        ++result_.evicted_pages_kept;
      } else {
        ++result_.evicted_pages_lost;
      }
    }
  }

  // --- ScheduleRunning: the engine's, for one sequence per request.

  void ScheduleRunning() {
    plan_.clear();
    budget_ = policy_.StartStep();
    for (int pass = 0; pass < 2; ++pass) {
      if (pass == 1) {
        sched::SchedulePolicy::SetPrefillShare(&budget_, policy_.FixedShare(budget_.decode_rows));
      }
      for (size_t i = 0; i < running_.size(); ++i) {
        Seq* s = running_[i].get();
        if (s->ready_ns > clock_.NowNanos()) continue;  // its pages are still loading
        const bool decode = s->pending() == 1;
        if (decode != (pass == 0)) continue;
        const int64_t tokens = budget_.Chunk(s->pending(), decode, s->computed);
        if (tokens <= 0) continue;
        const int64_t got = ReservePages(i, tokens);
        if (got == 0) {
          --i;  // running_[i] left
          continue;
        }
        plan_.push_back({s, got, decode, got == s->pending()});
        budget_.Take(got, decode, s->computed);
      }
    }
  }

  // Pages for `tokens` more tokens of running_[owner]: evicting, then
  // preempting; the tokens that fit (0 when the owner itself was preempted).
  int64_t ReservePages(size_t owner, int64_t tokens) {
    Seq* s = running_[owner].get();
    const int64_t ps = options_.page_size;
    while (true) {
      if (s->pages->Reserve(static_cast<size_t>(s->computed + tokens)).ok()) return tokens;
      const int64_t have = static_cast<int64_t>(s->pages->pages().size()) + pool_->pages_free();
      const int64_t fit = have * ps - s->computed;
      if (fit > 0) {
        tokens = std::min(tokens, fit);
        continue;
      }
      running_desc_.resize(running_.size());
      for (size_t i = 0; i < running_.size(); ++i)
        running_desc_[i] = {running_[i]->admit_order, false};
      const size_t victim = sched::SchedulePolicy::PreemptionVictim(running_desc_, owner);
      Preempt(victim);
      if (victim == owner) return 0;
    }
  }

  void Preempt(size_t index) {
    Seq* s = running_[index].get();
    for (auto it = plan_.begin(); it != plan_.end();) {
      if (it->seq == s) {
        budget_.GiveBack(it->tokens, it->decode, it->seq->computed);
        it = plan_.erase(it);
      } else {
        ++it;
      }
    }
    // A load not done yet brought nothing: only the device's match is kept.
    if (s->ready_ns > clock_.NowNanos()) s->computed = s->loaded_from;
    s->ready_ns = 0;
    ReleaseSequence(*s, clock_.NowNanos());  // its computed prefix stays cached
    ++result_.preemptions;
    ++result_.records[s->request].preemptions;
    ++s->preemptions;
    s->queued_ns = clock_.NowNanos();
    waiting_.push_back(std::move(running_[index]));
    running_.erase(running_.begin() + static_cast<ptrdiff_t>(index));
  }

  // --- Admit: the policy over the ranked queue.

  void Admit(int64_t now) {
    if (waiting_.empty() || budget_.prefill_room() <= 0) return;
    // Ranked (and the queue's prefixes touched) whenever the step has prefill
    // room, as the engine does, even with every slot taken.
    const int64_t running = static_cast<int64_t>(running_.size());
    waiting_desc_.resize(waiting_.size());
    for (size_t i = 0; i < waiting_.size(); ++i) {
      Seq& s = *waiting_[i];
      kvcache::PrefixMemo& memo = s.prefix_memo;
      sched::WaitingRequest& w = waiting_desc_[i];
      w.id = s.request;
      w.arrival_ns = s.arrival_ns;
      w.queued_ns = s.queued_ns;
      w.preemptions = s.preemptions;
      const auto prompt = std::span(s.tokens).first(static_cast<size_t>(s.prompt_len - 1));
      w.cached_tokens = static_cast<int64_t>(cache_->PeekMatch(Ns(s), prompt, &memo));
      if (tiers_ != nullptr) w.cached_tokens = MatchBelow(s, w.cached_tokens);
    }
    policy_.Rank(waiting_desc_, now, &order_);
    if (options_.touch_waiting) {
      // Touched in queue order, as the engine does (Scheduler::RankWaiting).
      for (size_t k = 0; k < order_.size(); ++k) {
        Seq& s = *waiting_[order_[k]];
        const auto prompt = std::span(s.tokens).first(static_cast<size_t>(s.prompt_len - 1));
        cache_->TouchPrefix(Ns(s), prompt, &s.prefix_memo, static_cast<int64_t>(k));
      }
    }
    policy_.Admit(waiting_desc_, order_, now, running, &budget_, this, &admitted_);
    if (admitted_.empty()) return;
    std::erase_if(waiting_, [](const auto& s) { return s == nullptr; });
  }

  int64_t SharedWithPrefill(size_t i) override {
    const Seq& w = *waiting_[i];
    std::span<const Token> prompt(w.tokens.data(), static_cast<size_t>(w.prompt_len));
    int64_t best = 0;
    for (const auto& r : running_) {
      if (r->generated > 0 || r->computed >= r->prompt_len || Ns(*r) != Ns(w)) continue;
      best = std::max(best, sched::SharedPrefix(prompt, std::span(r->tokens).first(
                                                            static_cast<size_t>(r->prompt_len))));
    }
    return std::min(best, w.prompt_len - 1);
  }

  bool TryAdmit(size_t i, sched::StepBudget* budget, int64_t running_sequences) override {
    Seq* s = waiting_[i].get();
    if (oracle_ != nullptr && !s->started) oracle_->Admit(s->request);
    const int64_t ps = options_.page_size;
    s->pages = std::make_unique<kvcache::SequencePages>(cache_.get(), pool_.get(), Ns(*s));
    s->pages->set_request_id(s->request);
    s->pages->set_prompt_tokens(static_cast<size_t>(s->prompt_len));
    kvcache::PageCopy copy;  // the simulator has no KV to copy
    // All but the last token: that one is always computed, for its logits.
    auto matched = s->pages->Start(std::span(s->tokens).first(s->tokens.size() - 1), &copy);
    s->computed = matched.ok() ? static_cast<int64_t>(*matched) : 0;
    // The match goes on below the device; those pages are loaded, not computed.
    const int64_t device = s->computed;
    if (tiers_ != nullptr) {
      s->computed = MatchBelow(*s, device);
      if (options_.tier_loads_when_faster) TrimLoad(*s, device, clock_.NowNanos());
    }
    const int64_t tokens = budget->Chunk(s->pending(), /*decode=*/false, s->computed);
    bool ok = tokens > 0;
    if (ok) {
      const int64_t want = s->computed + tokens;
      const int64_t need = (want + ps - 1) / ps - static_cast<int64_t>(s->pages->pages().size());
      const int64_t reserve = sched::SchedulePolicy::AdmissionPages(need, running_sequences);
      if (pool_->pages_free() < reserve) cache_->Evict(reserve - pool_->pages_free());
      ok = pool_->pages_free() >= reserve && s->pages->Reserve(static_cast<size_t>(want)).ok();
    }
    if (!ok) {
      s->pages.reset();
      s->computed = 0;
      if (oracle_ != nullptr && !s->started) oracle_->Unadmit(s->request);
      return false;
    }
    const int64_t now = clock_.NowNanos();
    s->ready_ns = 0;
    if (tiers_ != nullptr) {
      const int64_t first = device / ps;
      std::span<const kvcache::BlockHash> hashes = MatchableHashes(*s);
      if (s->computed > device) {
        // Only this request waits for its load; the step runs beside it.
        s->loaded_from = device;
        s->ready_ns = tiers_->Load(hashes, first, lookup_, s->request, now);
      }
      // The device's hits are uses below too (and write-through where missing).
      tiers_->UseOnDevice(hashes.first(static_cast<size_t>(first)), s->request, now);
      s->written_pages = std::max(s->written_pages, s->computed / ps);
    }
    if (s->ready_ns <= now) {
      s->ready_ns = 0;
      plan_.push_back({s, tokens, false, tokens == s->pending()});
      budget->Take(tokens, /*decode=*/false, s->computed);
    }
    if (!s->started) {
      s->started = true;
      const TraceRequest& r = trace_.requests[s->request];
      RequestRecord& rec = result_.records[s->request];
      rec.cached_tokens = std::min(s->computed, s->prompt_len);
      rec.cached_by_level[0] = device;
      if (s->computed > device) {
        // Each page below the device counts for the tokens past the device's match.
        for (size_t i = 0; i < lookup_.level.size(); ++i) {
          const int64_t page = device / ps + static_cast<int64_t>(i);
          rec.cached_by_level[static_cast<size_t>(lookup_.level[i])] +=
              (page + 1) * ps - std::max(page * ps, device);
        }
        rec.load_wait_s = static_cast<double>(s->ready_ns - now) / 1e9;
        ++result_.requests_loaded;
      }
      for (size_t l = 0; l < rec.cached_by_level.size(); ++l) {
        result_.cached_by_level[l] += rec.cached_by_level[l];
      }
      rec.admit_order = ++first_admissions_;
      for (HitCounts* h : {&result_.hits, &result_.hits_by_namespace[r.ns]}) {
        ++h->requests;
        h->prompt_tokens += rec.prompt_tokens;
        h->cached_tokens += rec.cached_tokens;
        h->requests_hit += rec.cached_tokens > 0;
      }
      result_.prefill_tokens_saved += rec.cached_tokens;
    }
    s->admit_order = ++admissions_;
    // Running at once, so the requests ranked after it can share its prefill.
    running_.push_back(std::move(waiting_[i]));
    return true;
  }

  // --- The step: the forward's cost, chunks inserted, tokens sampled, finished released.

  int64_t Step(int64_t now) {
    StepWork work;
    for (const Item& item : plan_) {
      const Seq& s = *item.seq;
      if (item.decode) {
        ++work.decode_sequences;
        work.decode_context_tokens += s.computed + 1;
      } else {
        work.prefill_tokens += item.tokens;
        work.attention_pairs +=
            static_cast<double>(item.tokens) *
            (static_cast<double>(s.computed) + static_cast<double>(item.tokens + 1) / 2);
      }
    }
    kvcache::CacheStats stats = cache_->GetStats();
    result_.peak_pages_in_use =
        std::max(result_.peak_pages_in_use, pool_->pages_allocated() - stats.pages_cached);
    const int64_t duration = Nanos(options_.profile.StepSeconds(work));
    const int64_t end = now + duration;
    const double end_s = static_cast<double>(end) / 1e9;
    // The cache's clock stays at the step's start, as the engine's does while it
    // plans a step (entries touched in one step tie, as there).
    ++result_.steps;
    result_.prefill_tokens_computed += work.prefill_tokens;

    finished_.clear();
    for (const Item& item : plan_) {
      Seq& s = *item.seq;
      const int64_t before = s.computed;
      s.computed += item.tokens;
      // Prompt chunks (and recomputation after preemption) go into the cache at
      // once; decode tokens wait for the end of the sequence.
      if (!(item.tokens == 1 && before >= s.prompt_len)) {
        CHECK(s.pages->Commit(std::span(s.tokens).first(static_cast<size_t>(s.computed))).ok());
        if (tiers_ != nullptr) WriteThrough(s, s.computed, end);
      }
      if (!item.sample) continue;
      if (s.generated < s.output.size()) {
        s.tokens.push_back(s.output[s.generated++]);
        ++result_.output_tokens;
        if (s.generated == 1) result_.records[s.request].first_token_s = end_s;
      }
      if (s.generated >= s.output.size()) finished_.push_back(&s);
    }
    for (Seq* s : finished_) {
      result_.records[s->request].finish_s = end_s;
      ReleaseSequence(*s, end);
      auto it = std::find_if(running_.begin(), running_.end(),
                             [s](const auto& p) { return p.get() == s; });
      running_.erase(it);
    }
    if (options_.check_invariants) CheckConservation();
    return duration;
  }

  // Inserts what the sequence computed and lets go of its pages (at `now`).
  void ReleaseSequence(Seq& s, int64_t now) {
    if (s.pages == nullptr) return;
    const int64_t known = std::min(s.computed, static_cast<int64_t>(s.tokens.size()));
    if (known > 0) {
      const bool finished = s.generated >= s.output.size();
      CHECK(s.pages->Commit(std::span(s.tokens).first(static_cast<size_t>(known)), finished).ok());
      if (tiers_ != nullptr) WriteThrough(s, known, now);
    }
    s.pages.reset();
    s.computed = 0;
  }

  void CheckConservation() const {
    cache_->CheckInvariants();
    pool_->CheckInvariants();
    int64_t owned = 0;
    for (const auto& s : running_) owned += static_cast<int64_t>(s->pages->owned_pages());
    kvcache::CacheStats stats = cache_->GetStats();
    CHECK_EQ(pool_->pages_allocated(), stats.pages_cached + stats.pages_locked + owned)
        << "pages are not conserved";
  }

  const Trace& trace_;
  const SimOptions& options_;
  sched::SchedulePolicy policy_;
  PromptBuilder builder_;
  ManualClock clock_;
  std::unique_ptr<kvcache::PagePool> pool_;
  std::shared_ptr<OraclePolicy> oracle_;  // when options_.eviction is "oracle"
  std::unique_ptr<kvcache::PrefixCache> cache_;
  std::unique_ptr<TierModel> tiers_;  // when options_ configure a tier below the device
  kvcache::TierLookup lookup_;        // MatchBelow's, reused
  std::vector<kvcache::BlockHash> evicted_hashes_;
  std::vector<std::unique_ptr<Seq>> waiting_;
  std::vector<std::unique_ptr<Seq>> running_;  // in admission order
  std::vector<Item> plan_;
  sched::StepBudget budget_;
  std::vector<sched::WaitingRequest> waiting_desc_;
  std::vector<sched::RunningRequest> running_desc_;
  std::vector<uint32_t> order_, admitted_;
  std::vector<Seq*> finished_;
  int64_t admissions_ = 0;
  int64_t first_admissions_ = 0;
  SimResult result_;
};

}  // namespace

StatusOr<SimResult> Simulate(const Trace& trace, const SimOptions& options) {
  Run run(trace, options);
  return run.Go();
}

}  // namespace radixlm::sim
