#include "sched/schedule_policy.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace radixlm::sched {

Status PolicyOptions::Validate() const {
  if (max_running <= 0) return InvalidArgumentError("max running sequences must be positive");
  if (token_budget <= 0) return InvalidArgumentError("the token budget must be positive");
  if (max_prefill_tokens < 0)
    return InvalidArgumentError("max prefill tokens must not be negative");
  if (prefill_attention_span < 0)
    return InvalidArgumentError("the prefill attention span must not be negative");
  if (fairness_bound_ns < 0) return InvalidArgumentError("the fairness bound must not be negative");
  if (page_size <= 0) return InvalidArgumentError("the page size must be positive");
  return OkStatus();
}

int64_t PrefillCost(int64_t tokens, int64_t start, int64_t span) {
  if (span <= 0 || tokens <= 0) return tokens;
  const double c = static_cast<double>(tokens);
  return static_cast<int64_t>(
      std::ceil(c * (1.0 + (static_cast<double>(start) + c / 2) / static_cast<double>(span))));
}

int64_t StepBudget::Chunk(int64_t pending, bool decode, int64_t start) const {
  if (decode || attention_span <= 0) {
    return std::min(pending, decode ? tokens_left : prefill_room());
  }
  const int64_t most = std::min(pending, tokens_left);
  if (most <= 0 || prefill_left <= 0) return 0;
  // The largest C with PrefillCost(C) <= prefill_left: C^2 / 2A + C (1 + s / A) = R.
  const double a = static_cast<double>(attention_span), r = static_cast<double>(prefill_left);
  const double b = 1.0 + static_cast<double>(start) / a;
  int64_t c = static_cast<int64_t>(a * (std::sqrt(b * b + 2.0 * r / a) - b));
  c = std::clamp<int64_t>(c, 0, most);
  while (c < most && PrefillCost(c + 1, start, attention_span) <= prefill_left) ++c;
  while (c > 0 && PrefillCost(c, start, attention_span) > prefill_left) --c;
  return std::max<int64_t>(c, 1);  // a token past the share rather than none
}

void StepBudget::Take(int64_t tokens, bool decode, int64_t start) {
  tokens_left -= tokens;
  if (decode) {
    ++decode_rows;
  } else {
    prefill_left -= PrefillCost(tokens, start, attention_span);
  }
}

void StepBudget::GiveBack(int64_t tokens, bool decode, int64_t start) {
  tokens_left += tokens;
  if (decode) {
    --decode_rows;
  } else {
    prefill_left += PrefillCost(tokens, start, attention_span);
  }
}

bool SchedulePolicy::Urgent(const WaitingRequest& w, int64_t now_ns) const {
  return w.preemptions > 0 || now_ns - w.queued_ns > options_.fairness_bound_ns;
}

void SchedulePolicy::Rank(std::span<const WaitingRequest> waiting, int64_t now_ns,
                          std::vector<uint32_t>* order) const {
  order->resize(waiting.size());
  std::iota(order->begin(), order->end(), 0u);
  // Urgency is computed once per entry: the sort compares O(n log n) times.
  std::vector<uint8_t> urgent(waiting.size());
  for (size_t i = 0; i < waiting.size(); ++i) urgent[i] = Urgent(waiting[i], now_ns);
  std::sort(order->begin(), order->end(), [&](uint32_t x, uint32_t y) {
    const WaitingRequest& a = waiting[x];
    const WaitingRequest& b = waiting[y];
    if (urgent[x] != urgent[y]) return urgent[x] > urgent[y];
    if (!urgent[x] && a.cached_tokens != b.cached_tokens) return a.cached_tokens > b.cached_tokens;
    if (a.arrival_ns != b.arrival_ns) return a.arrival_ns < b.arrival_ns;
    return a.id < b.id;
  });
}

StepBudget SchedulePolicy::StartStep() const {
  StepBudget b;
  b.tokens_left = options_.token_budget;
  b.prefill_left = options_.token_budget;
  b.attention_span = options_.prefill_attention_span;
  return b;
}

void SchedulePolicy::SetPrefillShare(StepBudget* budget, int64_t share) {
  budget->prefill_left = share;
}

int64_t SchedulePolicy::FixedShare(int64_t decode_rows) const {
  if (decode_rows == 0) return options_.token_budget;
  return options_.max_prefill_tokens > 0 ? options_.max_prefill_tokens : options_.token_budget;
}

void SchedulePolicy::Admit(std::span<const WaitingRequest> waiting, std::span<const uint32_t> order,
                           int64_t now_ns, int64_t running, StepBudget* budget, AdmitHost* host,
                           std::vector<uint32_t>* admitted) const {
  admitted->clear();
  for (uint32_t i : order) {
    if (budget->prefill_room() <= 0) break;
    const WaitingRequest& w = waiting[i];
    if (w.finished) continue;
    if (running + w.width > options_.max_running) break;
    const bool urgent = Urgent(w, now_ns);
    // In-batch sharing: a prompt being prefilled right now holds more of this
    // prompt than the cache does; once its chunks are inserted this one hits
    // them instead of computing them a second time (the cache matches to the
    // token, so even a few tokens short of a page count: the wait is a step).
    // Urgent requests wait for it too: the prefill is running, so the wait ends
    // with it, and admitting one early would compute the shared prefix twice
    // (and report fewer cached tokens than the prompts share).
    if (options_.prefix_cache && w.can_share && host->SharedWithPrefill(i) > w.cached_tokens) {
      continue;
    }
    // Its pages are on their way from a tier below the device: it waits for
    // them rather than computing them.
    if (!urgent && w.loading) continue;
    if (!host->TryAdmit(i, budget, running)) {
      if (urgent) break;  // nothing is admitted ahead of a starving request
      continue;
    }
    running += w.width;
    admitted->push_back(i);
  }
}

size_t SchedulePolicy::PreemptionVictim(std::span<const RunningRequest> running, size_t owner) {
  size_t victim = owner;
  for (size_t i = 0; i < running.size(); ++i) {
    if (i == owner || running[i].finished) continue;
    if (victim == owner || running[i].admit_order > running[victim].admit_order) victim = i;
  }
  if (victim != owner && running[victim].admit_order < running[owner].admit_order) return owner;
  return victim;
}

int64_t SharedPrefix(std::span<const int32_t> a, std::span<const int32_t> b) {
  const size_t n = std::min(a.size(), b.size());
  return std::mismatch(a.begin(), a.begin() + static_cast<ptrdiff_t>(n), b.begin()).first -
         a.begin();
}

}  // namespace radixlm::sched
