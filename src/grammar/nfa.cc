#include "grammar/nfa.h"

namespace radixlm::grammar {

int32_t Nfa::AddState() {
  edges_.emplace_back();
  epsilons_.emplace_back();
  return static_cast<int32_t>(edges_.size() - 1);
}

void Nfa::AddEdge(int32_t from, uint8_t lo, uint8_t hi, int32_t to) {
  edges_[static_cast<size_t>(from)].push_back({lo, hi, to});
}

void Nfa::AddEpsilon(int32_t from, int32_t to) {
  epsilons_[static_cast<size_t>(from)].push_back(to);
}

int32_t Nfa::Literal(int32_t from, std::string_view bytes) {
  int32_t at = from;
  for (char c : bytes) {
    const auto b = static_cast<uint8_t>(c);
    at = Range(at, b, b);
  }
  return at;
}

int32_t Nfa::Range(int32_t from, uint8_t lo, uint8_t hi) {
  const int32_t to = AddState();
  AddEdge(from, lo, hi, to);
  return to;
}

}  // namespace radixlm::grammar
