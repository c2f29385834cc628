#include "engine/stop_matcher.h"

#include <algorithm>
#include <utility>

namespace radixlm::engine {

StopMatcher::StopMatcher(std::vector<std::string> stops, bool include_stop)
    : include_stop_(include_stop) {
  // An empty stop string would match before any text; it is ignored.
  for (std::string& s : stops) {
    if (s.empty()) continue;
    max_stop_ = std::max(max_stop_, s.size());
    stops_.push_back(std::move(s));
  }
}

StopMatcher::Result StopMatcher::Add(std::string_view piece) {
  Result result;
  if (stopped_) {
    result.stopped = true;
    return result;
  }
  if (stops_.empty()) {
    result.text.assign(piece);
    return result;
  }
  const size_t old_size = held_.size();
  held_.append(piece);

  // held_ never contains a whole stop string before this piece, so only
  // occurrences ending in the new text count. The earliest end wins; at the same
  // end, the longest (which is also the one starting first).
  size_t best_end = std::string::npos;
  const std::string* best = nullptr;
  for (const std::string& s : stops_) {
    const size_t from = old_size + 1 > s.size() ? old_size + 1 - s.size() : 0;
    const size_t at = held_.find(s, from);
    if (at == std::string::npos) continue;
    const size_t end = at + s.size();
    if (end < best_end || (end == best_end && s.size() > best->size())) {
      best_end = end;
      best = &s;
    }
  }
  if (best != nullptr) {
    const size_t start = best_end - best->size();
    result.text.assign(held_, 0, include_stop_ ? best_end : start);
    result.stopped = true;
    result.matched = *best;
    stopped_ = true;
    held_.clear();
    return result;
  }

  // Hold back the longest suffix that is a proper prefix of some stop string:
  // that much, and no more, may still turn into a match.
  const std::string_view text(held_);
  size_t hold = std::min(text.size(), max_stop_ - 1);
  for (; hold > 0; --hold) {
    const std::string_view tail = text.substr(text.size() - hold);
    const bool prefix = std::any_of(stops_.begin(), stops_.end(), [&](const std::string& s) {
      return s.size() > hold && std::string_view(s).starts_with(tail);
    });
    if (prefix) break;
  }
  result.text.assign(held_, 0, held_.size() - hold);
  held_.erase(0, held_.size() - hold);
  return result;
}

std::string StopMatcher::Flush() {
  std::string out;
  out.swap(held_);
  return out;
}

}  // namespace radixlm::engine
