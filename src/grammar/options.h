// GrammarOptions: the bounds every compiled grammar keeps (grammar.h), in one
// place so the compiler's pieces and the cache key agree on them.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"

namespace radixlm::grammar {

struct GrammarOptions {
  // Whitespace bytes allowed at each place JSON allows whitespace (0..8; 1:
  // `{"a": 1, "b": [2, 3]}` and its compact form, never runs of blanks).
  int32_t max_whitespace = 1;
  // json_object mode: objects and arrays nested at most this deep, the
  // object itself included (1..16). Each level doubles the automaton.
  int32_t json_object_depth = 6;
  // A schema's free-form values ({}, true, a missing type, an object without
  // properties): containers nested at most this deep below them (0..8).
  int32_t any_value_depth = 3;
  // A recursive $ref expands at most this many times inside itself (0..8);
  // deeper, only its non-recursive alternatives remain (an empty array, an
  // absent optional property, another anyOf branch).
  int32_t max_recursion = 3;
  // Bounds on the automata (a schema past them is refused with 400).
  int64_t max_nfa_states = 1 << 21;
  int64_t max_dfa_states = 1 << 17;
  // Bytes of token masks each grammar keeps memoized (least recently used
  // masks go first past it).
  int64_t mask_memo_bytes = 64 << 20;
  Status Validate() const;
  // The options that shape the automaton, for cache keys.
  std::string Key() const;
};

}  // namespace radixlm::grammar
