// Dfa: the deterministic automaton of an Nfa (subset construction, every
// reachable state built at once), over byte classes: bytes that every edge of
// the NFA treats alike share a class, so a state's transitions are a row of
// num_classes ids rather than 256.
//
// Per state: whether it accepts (the value is complete), its distance (the
// fewest bytes that reach an accepting state: what a sample with a token
// budget must still write), and whether it is final (accepting, and no byte
// may follow). Only NFA states that can reach the accepting state take part,
// so every DFA state can complete: a byte that leads nowhere is kDead.
//
// Immutable once built; reads are thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "core/status.h"
#include "grammar/nfa.h"

namespace radixlm::grammar {

class Dfa {
 public:
  static constexpr int32_t kDead = -1;

  // RESOURCE_EXHAUSTED past `max_states` states; INVALID_ARGUMENT when the
  // NFA accepts nothing.
  static StatusOr<Dfa> Build(const Nfa& nfa, int64_t max_states);

  int32_t start() const { return 0; }
  int32_t num_states() const { return static_cast<int32_t>(accepting_.size()); }
  int32_t num_classes() const { return num_classes_; }
  uint8_t byte_class(uint8_t byte) const { return byte_class_[byte]; }
  int32_t Next(int32_t state, uint8_t byte) const {
    return next_[static_cast<size_t>(state) * static_cast<size_t>(num_classes_) +
                 byte_class_[byte]];
  }
  // The row of transitions of `state`, indexed by class.
  const int32_t* Row(int32_t state) const {
    return next_.data() + static_cast<size_t>(state) * static_cast<size_t>(num_classes_);
  }
  bool accepting(int32_t state) const { return accepting_[static_cast<size_t>(state)] != 0; }
  bool final(int32_t state) const { return final_[static_cast<size_t>(state)] != 0; }
  int32_t distance(int32_t state) const { return distance_[static_cast<size_t>(state)]; }
  const std::array<uint8_t, 256>& byte_classes() const { return byte_class_; }
  size_t bytes() const { return next_.size() * 4 + accepting_.size() * 6; }

 private:
  int32_t num_classes_ = 0;
  std::array<uint8_t, 256> byte_class_{};
  std::vector<int32_t> next_;
  std::vector<uint8_t> accepting_, final_;
  std::vector<int32_t> distance_;
};

}  // namespace radixlm::grammar
