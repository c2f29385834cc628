// Grammar: a compiled constraint on what a sequence generates, and the token
// masks that enforce it.
//
// A GrammarSpec names the text allowed: `prefix`, then one JSON value (any
// JSON object for kJsonObject, a value of a JSON Schema for kJsonSchema:
// schema_compiler.h's subset), then `suffix` (the wrapped form forced tool
// calls use: a family's opening and closing strings around a JSON call).
// Compile builds the value's NFA (json_nfa.h, schema_compiler.h) and its DFA
// (dfa.h), refusing what it cannot enforce with INVALID_ARGUMENT (a message
// that names the schema's place) or RESOURCE_EXHAUSTED (too large).
//
// Masks. For a DFA state, the allowed tokens are those of the vocabulary
// (vocabulary.h) whose whole byte string moves the DFA to a live state: one
// pass over the vocabulary's trie that skips every subtree the DFA rules out
// (a literal's state visits a handful of nodes; inside a string, every node).
// A mask is computed once per state and memoized in the grammar (shared by
// every sequence using it, least recently used masks dropped past
// GrammarOptions::mask_memo_bytes). End tokens (EOS, stop tokens) are not in
// masks: the caller adds them where the state accepts (matcher.h).
//
// The token budget. A mask may also bound each allowed token's destination
// distance (dfa.h: the fewest bytes from there to a complete value): a
// sequence with r tokens left allows only tokens after which the value can
// still be completed in r - 1 tokens, so max_tokens never cuts a value short
// when the vocabulary spells every byte as a token (then one token per byte of
// distance always suffices) and max_tokens covers the shortest completion.
// Such masks are memoized per (state, bound) too.
//
// Thread safety: Compile may run on any thread; a Grammar is shared as
// shared_ptr<const Grammar> and Mask may be called concurrently (the memo is
// locked).
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "grammar/dfa.h"
#include "grammar/grammar_spec.h"
#include "grammar/options.h"
#include "grammar/vocabulary.h"

namespace radixlm::grammar {

// The allowed tokens: bit (id % 32) of words[id / 32] for token id.
struct TokenMask {
  std::vector<uint32_t> words;
  int64_t allowed = 0;  // bits set
  bool Allows(int32_t id) const {
    return id >= 0 && static_cast<size_t>(id / 32) < words.size() &&
           ((words[static_cast<size_t>(id / 32)] >> (id % 32)) & 1u) != 0;
  }
  void Allow(int32_t id) {
    uint32_t& w = words[static_cast<size_t>(id / 32)];
    const uint32_t bit = 1u << (id % 32);
    allowed += (w & bit) == 0;
    w |= bit;
  }
};

// How the masks have been served, for benchmarks and /metrics.
struct MaskStats {
  int64_t hits = 0;      // served from the memo
  int64_t computed = 0;  // computed (a trie pass)
  int64_t nodes = 0;     // trie nodes those passes visited
  double compute_seconds = 0;
  int64_t memo_bytes = 0;
};

class Grammar {
 public:
  static constexpr int32_t kNoBudget = -1;

  static StatusOr<std::shared_ptr<const Grammar>> Compile(
      const GrammarSpec& spec, std::shared_ptr<const TokenVocabulary> vocabulary,
      const GrammarOptions& options);

  const Dfa& dfa() const { return dfa_; }
  const TokenVocabulary& vocabulary() const { return *vocabulary_; }
  const GrammarSpec& spec() const { return spec_; }
  double compile_seconds() const { return compile_seconds_; }

  // The tokens allowed in `state` whose destination lies at most `budget`
  // bytes from completion (kNoBudget: no bound). Never null.
  std::shared_ptr<const TokenMask> Mask(int32_t state, int32_t budget) const;
  // The largest distance any allowed token leads to from `state` (the bound
  // past which a budget changes nothing).
  int32_t MaxDestinationDistance(int32_t state) const;
  // The state after `token`'s bytes from `state` (Dfa::kDead if any byte is
  // refused, or the token has none).
  int32_t Next(int32_t state, int32_t token) const;

  MaskStats stats() const;

 private:
  Grammar() = default;
  // One trie pass (not locked: reads immutable data only).
  void ComputeMask(int32_t state, int32_t budget, TokenMask* mask, int32_t* max_destination,
                   int64_t* nodes) const;

  GrammarSpec spec_;
  GrammarOptions options_;
  std::shared_ptr<const TokenVocabulary> vocabulary_;
  Dfa dfa_;
  double compile_seconds_ = 0;

  struct Entry {
    std::shared_ptr<const TokenMask> mask;
    std::list<uint64_t>::iterator lru;
  };
  mutable std::mutex mu_;
  mutable std::unordered_map<uint64_t, Entry> memo_;  // key: state << 32 | budget + 1
  mutable std::list<uint64_t> lru_;                   // most recent first
  mutable std::vector<int32_t> max_destination_;      // per state; -1: not computed yet
  mutable MaskStats stats_;
};

}  // namespace radixlm::grammar
