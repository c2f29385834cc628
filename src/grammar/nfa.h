// Nfa: a nondeterministic automaton over bytes, built Thompson-style by the
// JSON and schema builders (json_nfa.h, schema_compiler.h) and determinized by
// dfa.h. States are ints; edges carry a byte range [lo, hi]; epsilon edges
// carry nothing. Builders grow the automaton from a state and return the state
// where what they built ends (or kNone: the empty language, nothing can follow).
//
// The size is bounded: past max_states, AddState keeps returning a state but
// overflowed() turns true, and the compiler refuses the grammar. States that
// cannot reach `accept` (dead ends left by kNone) are harmless: determinization
// skips them.
//
// Not thread-safe; built once, then read.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace radixlm::grammar {

class Nfa {
 public:
  static constexpr int32_t kNone = -1;
  struct Edge {
    uint8_t lo = 0, hi = 0;
    int32_t to = 0;
  };

  explicit Nfa(int64_t max_states) : max_states_(max_states) {}

  int32_t AddState();
  void AddEdge(int32_t from, uint8_t lo, uint8_t hi, int32_t to);
  void AddEpsilon(int32_t from, int32_t to);

  // `bytes` from `from`, one state per byte; returns the state after the last.
  int32_t Literal(int32_t from, std::string_view bytes);
  // One byte of [lo, hi].
  int32_t Range(int32_t from, uint8_t lo, uint8_t hi);

  int64_t num_states() const { return static_cast<int64_t>(edges_.size()); }
  bool overflowed() const { return num_states() > max_states_; }
  const std::vector<Edge>& edges(int32_t s) const { return edges_[static_cast<size_t>(s)]; }
  const std::vector<int32_t>& epsilons(int32_t s) const {
    return epsilons_[static_cast<size_t>(s)];
  }

  int32_t start = kNone;
  int32_t accept = kNone;

 private:
  int64_t max_states_;
  std::vector<std::vector<Edge>> edges_;
  std::vector<std::vector<int32_t>> epsilons_;
};

}  // namespace radixlm::grammar
