// GrammarCache: compiled grammars for one vocabulary, by spec, so a schema
// that many requests share (a tool list, an agent's output format) is
// compiled once and its memoized token masks serve them all. Least recently
// used grammars go past `capacity`. Refusals are not cached (they are cheap to
// find again).
//
// Thread-safe: Get runs on any HTTP thread. Two threads that miss the same
// spec at once may both compile it; one result is kept.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "core/status.h"
#include "grammar/grammar.h"

namespace radixlm::grammar {

struct GrammarCacheStats {
  int64_t hits = 0, misses = 0, refused = 0;
  double compile_seconds = 0;  // of the misses
  int64_t entries = 0;
};

class GrammarCache {
 public:
  GrammarCache(std::shared_ptr<const TokenVocabulary> vocabulary, GrammarOptions options,
               size_t capacity = 64);

  StatusOr<std::shared_ptr<const Grammar>> Get(const GrammarSpec& spec);
  GrammarCacheStats stats() const;
  const std::shared_ptr<const TokenVocabulary>& vocabulary() const { return vocabulary_; }
  const GrammarOptions& options() const { return options_; }

 private:
  std::shared_ptr<const TokenVocabulary> vocabulary_;
  GrammarOptions options_;
  size_t capacity_;
  mutable std::mutex mu_;
  struct Entry {
    std::shared_ptr<const Grammar> grammar;
    std::list<std::string>::iterator lru;
  };
  std::unordered_map<std::string, Entry> entries_;
  std::list<std::string> lru_;  // most recent first
  GrammarCacheStats stats_;
};

}  // namespace radixlm::grammar
