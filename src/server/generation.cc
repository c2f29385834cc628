#include "server/generation.h"

#include <algorithm>

namespace radixlm::server {

Generation::Generation(std::vector<std::shared_ptr<engine::RequestHandle>> handles,
                       std::vector<int64_t> prompt_lengths, int32_t n)
    : handles_(std::move(handles)),
      usage_(handles_.size()),
      done_(handles_.size(), false),
      unfinished_(handles_.size()),
      n_(n) {
  for (size_t i = 0; i < usage_.size() && i < prompt_lengths.size(); ++i)
    usage_[i].prompt_tokens = prompt_lengths[i];
}

Generation::~Generation() { Cancel(); }

void Generation::Cancel() {
  for (size_t i = 0; i < handles_.size(); ++i) {
    if (!done_[i]) handles_[i]->Cancel();
  }
}

void Generation::SetWake(std::function<void()> wake) {
  for (auto& handle : handles_) handle->SetNotify(wake);
}

void Generation::Record(size_t prompt, const engine::RequestUpdate& u) {
  Usage& usage = usage_[prompt];
  if (u.prompt_tokens > 0) {
    usage.prompt_tokens = u.prompt_tokens;
    usage.cached_tokens = u.cached_tokens;
    usage.tiered = u.tiered;
    usage.host_cached_tokens = u.host_cached_tokens;
    usage.store = u.store;
    usage.store_cached_tokens = u.store_cached_tokens;
  }
  usage.completion_tokens = std::max(usage.completion_tokens, u.completion_tokens);
  if (!u.error.ok() && error_.ok()) error_ = u.error;
  if (u.finished && !done_[prompt]) {
    done_[prompt] = true;
    --unfinished_;
  }
}

void Generation::Poll(std::vector<Event>* events, std::chrono::milliseconds wait) {
  const size_t before = events->size();
  // Everything already there, without waiting.
  for (size_t i = 0; i < handles_.size(); ++i) {
    if (done_[i]) continue;
    Event e{i, {}};
    if (handles_[i]->Next(&e.update, std::chrono::milliseconds(0))) {
      Record(i, e.update);
      events->push_back(std::move(e));
    }
  }
  if (events->size() > before || finished()) return;
  // Then block on one request. With several running, briefly (2 ms), so news
  // from the others is not held up behind it.
  const auto first = std::find(done_.begin(), done_.end(), false) - done_.begin();
  const size_t i = static_cast<size_t>(first);
  const auto timeout = unfinished_ > 1 ? std::min(wait, std::chrono::milliseconds(2)) : wait;
  Event e{i, {}};
  if (handles_[i]->Next(&e.update, timeout)) {
    Record(i, e.update);
    events->push_back(std::move(e));
  }
}

Usage Generation::usage() const {
  Usage total;
  for (const Usage& u : usage_) {
    total.prompt_tokens += u.prompt_tokens;
    total.cached_tokens += u.cached_tokens;
    total.tiered = total.tiered || u.tiered;
    total.host_cached_tokens += u.host_cached_tokens;
    total.store_cached_tokens += u.store_cached_tokens;
    if (!u.store.empty()) total.store = u.store;
    total.completion_tokens += u.completion_tokens;
  }
  return total;
}

}  // namespace radixlm::server
