// Matcher: one sequence's place in a grammar (grammar.h): the DFA state its
// generated tokens reached, the tokens allowed next, and the step onto the
// token chosen.
//
// The budget: Allowed(remaining) with `remaining` the tokens the sequence may
// still generate, this one included (max_tokens and the context both count),
// allows only tokens after which the value can be completed in remaining - 1
// tokens (grammar.h). Where even that is impossible (remaining below the
// distance already), it allows the tokens that bring completion nearest, so
// a short budget still ends as close to a complete value as it can.
//
// Not thread-safe (one sequence); the grammar it holds is shared.
#pragma once

#include <cstdint>
#include <memory>

#include "core/status.h"
#include "grammar/grammar.h"

namespace radixlm::grammar {

class Matcher {
 public:
  explicit Matcher(std::shared_ptr<const Grammar> grammar)
      : grammar_(std::move(grammar)), state_(grammar_->dfa().start()) {}

  // The tokens allowed next (remaining >= 1). Never null; it may allow no
  // token at all in an accepting state (only end tokens may follow), or where
  // the vocabulary cannot spell what the grammar needs.
  std::shared_ptr<const TokenMask> Allowed(int64_t remaining) const;
  // The value is complete: end tokens may come next.
  bool accepting() const { return grammar_->dfa().accepting(state_); }
  // Complete, and nothing may follow: the sequence is done.
  bool final() const { return grammar_->dfa().final(state_); }
  // Moves past `token`; INVALID_ARGUMENT (and no move) if the grammar refuses it.
  Status Advance(int32_t token);

  int32_t state() const { return state_; }
  // The fewest bytes from here to a complete value.
  int32_t distance() const { return grammar_->dfa().distance(state_); }
  const Grammar& grammar() const { return *grammar_; }

 private:
  std::shared_ptr<const Grammar> grammar_;
  int32_t state_;
};

}  // namespace radixlm::grammar
