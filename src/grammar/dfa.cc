#include "grammar/dfa.h"

#include <algorithm>
#include <bitset>
#include <deque>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>

namespace radixlm::grammar {
namespace {

constexpr int32_t kUnreachable = std::numeric_limits<int32_t>::max();

// The fewest bytes from each NFA state to `accept` (kUnreachable: never), by
// a 0-1 breadth-first search backwards (epsilon edges cost 0, bytes 1).
std::vector<int32_t> NfaDistances(const Nfa& nfa) {
  const auto n = static_cast<size_t>(nfa.num_states());
  std::vector<std::vector<std::pair<int32_t, int32_t>>> back(n);  // (from, cost)
  for (size_t s = 0; s < n; ++s) {
    for (const Nfa::Edge& e : nfa.edges(static_cast<int32_t>(s)))
      back[static_cast<size_t>(e.to)].push_back({static_cast<int32_t>(s), 1});
    for (int32_t t : nfa.epsilons(static_cast<int32_t>(s)))
      back[static_cast<size_t>(t)].push_back({static_cast<int32_t>(s), 0});
  }
  std::vector<int32_t> dist(n, kUnreachable);
  std::deque<int32_t> queue;
  dist[static_cast<size_t>(nfa.accept)] = 0;
  queue.push_back(nfa.accept);
  while (!queue.empty()) {
    const int32_t s = queue.front();
    queue.pop_front();
    const int32_t d = dist[static_cast<size_t>(s)];
    for (auto [from, cost] : back[static_cast<size_t>(s)]) {
      int32_t& df = dist[static_cast<size_t>(from)];
      if (d + cost < df) {
        df = d + cost;
        if (cost == 0) {
          queue.push_front(from);
        } else {
          queue.push_back(from);
        }
      }
    }
  }
  return dist;
}

// Byte classes: bytes that fall in the same set of the NFA's distinct edge
// ranges behave alike everywhere.
int32_t ByteClasses(const Nfa& nfa, std::array<uint8_t, 256>* classes) {
  std::map<std::pair<uint8_t, uint8_t>, size_t> ranges;
  for (int32_t s = 0; s < nfa.num_states(); ++s) {
    for (const Nfa::Edge& e : nfa.edges(s)) ranges.emplace(std::make_pair(e.lo, e.hi), 0);
  }
  std::vector<std::string> member(256);  // per byte: one char per distinct range, in or out
  for (auto& [range, index] : ranges) {
    for (int b = 0; b < 256; ++b)
      member[static_cast<size_t>(b)].push_back(b >= range.first && b <= range.second ? '1' : '0');
  }
  std::map<std::string, uint8_t> ids;
  for (int b = 0; b < 256; ++b) {
    auto [it, inserted] =
        ids.emplace(member[static_cast<size_t>(b)], static_cast<uint8_t>(ids.size()));
    (*classes)[static_cast<size_t>(b)] = it->second;
  }
  return static_cast<int32_t>(ids.size());
}

struct VectorHash {
  size_t operator()(const std::vector<int32_t>& v) const {
    return std::hash<std::string_view>()(
        std::string_view(reinterpret_cast<const char*>(v.data()), v.size() * 4));
  }
};

}  // namespace

StatusOr<Dfa> Dfa::Build(const Nfa& nfa, int64_t max_states) {
  const std::vector<int32_t> dist = NfaDistances(nfa);
  if (dist[static_cast<size_t>(nfa.start)] == kUnreachable)
    return InvalidArgumentError("the grammar accepts no value");
  Dfa dfa;
  dfa.num_classes_ = ByteClasses(nfa, &dfa.byte_class_);
  const auto classes = static_cast<size_t>(dfa.num_classes_);
  // A representative byte per class.
  std::vector<uint8_t> representative(classes);
  for (int b = 255; b >= 0; --b)
    representative[dfa.byte_class_[static_cast<size_t>(b)]] = static_cast<uint8_t>(b);

  std::vector<uint8_t> seen(static_cast<size_t>(nfa.num_states()), 0);
  std::vector<int32_t> stack;
  // The live epsilon closure of `set`, sorted.
  auto close = [&](std::vector<int32_t>* set) {
    stack.clear();
    std::vector<int32_t> out;
    for (int32_t s : *set) {
      if (dist[static_cast<size_t>(s)] == kUnreachable || seen[static_cast<size_t>(s)]) continue;
      seen[static_cast<size_t>(s)] = 1;
      stack.push_back(s);
    }
    while (!stack.empty()) {
      const int32_t s = stack.back();
      stack.pop_back();
      out.push_back(s);
      for (int32_t t : nfa.epsilons(s)) {
        if (dist[static_cast<size_t>(t)] == kUnreachable || seen[static_cast<size_t>(t)]) continue;
        seen[static_cast<size_t>(t)] = 1;
        stack.push_back(t);
      }
    }
    for (int32_t s : out) seen[static_cast<size_t>(s)] = 0;
    std::sort(out.begin(), out.end());
    *set = std::move(out);
  };

  std::unordered_map<std::vector<int32_t>, int32_t, VectorHash> ids;
  std::vector<std::vector<int32_t>> sets;
  auto intern = [&](std::vector<int32_t> set) -> int32_t {
    auto [it, inserted] = ids.emplace(std::move(set), static_cast<int32_t>(sets.size()));
    if (inserted) sets.push_back(it->first);
    return it->second;
  };
  std::vector<int32_t> first = {nfa.start};
  close(&first);
  intern(std::move(first));

  std::vector<std::vector<int32_t>> buckets(classes);
  for (size_t at = 0; at < sets.size(); ++at) {
    if (static_cast<int64_t>(sets.size()) > max_states) {
      return ResourceExhaustedError("the grammar needs more than " + std::to_string(max_states) +
                                    " automaton states");
    }
    for (auto& b : buckets) b.clear();
    for (int32_t s : sets[at]) {
      for (const Nfa::Edge& e : nfa.edges(s)) {
        if (dist[static_cast<size_t>(e.to)] == kUnreachable) continue;
        for (size_t c = 0; c < classes; ++c) {
          const uint8_t r = representative[c];
          if (r >= e.lo && r <= e.hi) buckets[c].push_back(e.to);
        }
      }
    }
    dfa.next_.resize((at + 1) * classes, kDead);
    // Classes that move to the same NFA states share one closure.
    std::unordered_map<std::vector<int32_t>, int32_t, VectorHash> moves;
    for (size_t c = 0; c < classes; ++c) {
      std::vector<int32_t>& targets = buckets[c];
      if (targets.empty()) continue;
      std::sort(targets.begin(), targets.end());
      targets.erase(std::unique(targets.begin(), targets.end()), targets.end());
      auto found = moves.find(targets);
      int32_t id;
      if (found != moves.end()) {
        id = found->second;
      } else {
        std::vector<int32_t> set = targets;
        close(&set);
        id = intern(std::move(set));
        moves.emplace(targets, id);
      }
      dfa.next_[at * classes + c] = id;
    }
  }
  const size_t n = sets.size();
  dfa.accepting_.assign(n, 0);
  dfa.final_.assign(n, 0);
  dfa.distance_.assign(n, 0);
  for (size_t s = 0; s < n; ++s) {
    int32_t d = kUnreachable;
    for (int32_t m : sets[s]) d = std::min(d, dist[static_cast<size_t>(m)]);
    dfa.distance_[s] = d;
    dfa.accepting_[s] = d == 0;
    bool moves = false;
    for (size_t c = 0; c < classes && !moves; ++c) moves = dfa.next_[s * classes + c] != kDead;
    dfa.final_[s] = d == 0 && !moves;
  }
  return dfa;
}

}  // namespace radixlm::grammar
