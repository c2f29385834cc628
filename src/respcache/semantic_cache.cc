#include "respcache/semantic_cache.h"

#include <chrono>

namespace radixlm::respcache {
namespace {

int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

SemanticCache::SemanticCache(Embedder* embedder, SemanticCacheOptions options)
    : embedder_(embedder), options_(std::move(options)) {
  if (!options_.now_ms) options_.now_ms = SteadyMs;
}

SemanticCache::~SemanticCache() = default;

SemanticIndex* SemanticCache::Index(size_t dimensions) {
  std::lock_guard<std::mutex> lock(mu_);
  if (index_ == nullptr)
    index_ = std::make_unique<SemanticIndex>(static_cast<int>(dimensions), options_.now_ms);
  return index_.get();
}

int SemanticCache::dimensions() const {
  std::lock_guard<std::mutex> lock(mu_);
  return index_ == nullptr ? 0 : index_->dimensions();
}

int64_t SemanticCache::entries() const {
  std::lock_guard<std::mutex> lock(mu_);
  return index_ == nullptr ? 0 : index_->live_entries();
}

std::optional<std::vector<float>> SemanticCache::Embed(const std::string& text,
                                                       const std::string& ns) {
  auto embedding = embedder_->Embed(text, ns);
  if (!embedding.ok()) {
    errors_.Count(embedding.status());
    return std::nullopt;
  }
  if (embedding->empty()) {
    errors_.Count(InternalError("the embedder returned an empty vector"));
    return std::nullopt;
  }
  // The first vector fixes the index's size.
  const int dims = Index(embedding->size())->dimensions();
  if (static_cast<size_t>(dims) != embedding->size()) {
    errors_.Count(InternalError("the embedder returned " + std::to_string(embedding->size()) +
                                " dimensions, earlier ones " + std::to_string(dims)));
    return std::nullopt;
  }
  return std::move(*embedding);
}

std::optional<SemanticMatch> SemanticCache::Find(const std::string& scope,
                                                 std::span<const float> embedding) {
  return Index(embedding.size())->Nearest(scope, embedding, options_.threshold);
}

void SemanticCache::Record(bool hit, double seconds) {
  if (hit) {
    ++stats_.hits;
    stats_.hit_seconds.Observe(seconds);
  } else {
    ++stats_.misses;
    stats_.miss_seconds.Observe(seconds);
  }
}

void SemanticCache::Add(const std::string& scope, std::span<const float> embedding,
                        const std::string& key, int64_t ttl_ms) {
  Status s = Index(embedding.size())->Add(scope, embedding, key, options_.now_ms() + ttl_ms);
  if (!s.ok()) errors_.Count(s);
}

int64_t SemanticCache::EraseByPrefix(const std::string& prefix) {
  std::lock_guard<std::mutex> lock(mu_);
  return index_ == nullptr ? 0 : index_->EraseByPrefix(prefix);
}

}  // namespace radixlm::respcache
