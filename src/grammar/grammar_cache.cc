#include "grammar/grammar_cache.h"

namespace radixlm::grammar {

GrammarCache::GrammarCache(std::shared_ptr<const TokenVocabulary> vocabulary,
                           GrammarOptions options, size_t capacity)
    : vocabulary_(std::move(vocabulary)), options_(options), capacity_(capacity) {}

StatusOr<std::shared_ptr<const Grammar>> GrammarCache::Get(const GrammarSpec& spec) {
  std::string key = spec.Key();
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(key);
    if (it != entries_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second.lru);
      ++stats_.hits;
      return it->second.grammar;
    }
  }
  auto compiled = Grammar::Compile(spec, vocabulary_, options_);
  std::lock_guard<std::mutex> lock(mu_);
  if (!compiled.ok()) {
    ++stats_.refused;
    return compiled.status();
  }
  ++stats_.misses;
  stats_.compile_seconds += (*compiled)->compile_seconds();
  auto [it, inserted] = entries_.try_emplace(key);
  if (!inserted) return it->second.grammar;
  lru_.push_front(std::move(key));
  it->second = Entry{*compiled, lru_.begin()};
  while (entries_.size() > capacity_ && lru_.size() > 1) {
    entries_.erase(lru_.back());
    lru_.pop_back();
  }
  stats_.entries = static_cast<int64_t>(entries_.size());
  return it->second.grammar;
}

GrammarCacheStats GrammarCache::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

}  // namespace radixlm::grammar
