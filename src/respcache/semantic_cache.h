// SemanticCache: the opt-in layer of the response cache that answers a request
// with the stored response of a different but near-identical one.
//
// A request's text is embedded (Embedder: the served model's own mean-pooled
// hidden states, or another server's /v1/embeddings) and looked up in a
// SemanticIndex. Lookups are scoped: the caller's scope string fixes the tenant,
// the model version and every sampling parameter, so only requests that would be
// answered the same way (but for their wording) can match. A match names the
// exact-cache key of the response it stands for; the caller fetches that entry
// from the ResponseCache (a flushed or expired entry is a miss). Index entries
// expire with the entry's TTL.
//
// An embedding failure (the embeddings server down, a timeout) never fails the
// request: it is counted, logged at most once per 10 s, and the request goes on
// as a miss.
//
// The index is per process: replicas sharing Redis share the responses, and each
// learns the vectors of the requests it served (or looked up).
//
// Thread safety: every method may run concurrently.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "respcache/error_log.h"
#include "respcache/response_cache.h"
#include "respcache/semantic_index.h"

namespace radixlm::respcache {

class Embedder {
 public:
  virtual ~Embedder() = default;
  // One vector per call; any length, the same for every call.
  virtual StatusOr<std::vector<float>> Embed(const std::string& text, const std::string& ns) = 0;
  // For logs and /metrics: "model" (the served model) or the remote URL.
  virtual std::string source() const = 0;
};

struct SemanticCacheOptions {
  float threshold = 0.95f;          // cosine similarity a hit needs, in (0, 1]
  std::function<int64_t()> now_ms;  // steady milliseconds; tests pass their own
};

class SemanticCache {
 public:
  // `embedder` is not owned and must outlive the cache.
  SemanticCache(Embedder* embedder, SemanticCacheOptions options);
  ~SemanticCache();

  // The text's embedding, or nullopt when the embedder failed (counted).
  std::optional<std::vector<float>> Embed(const std::string& text, const std::string& ns);
  // The most similar live entry of `scope` at or above the threshold.
  std::optional<SemanticMatch> Find(const std::string& scope, std::span<const float> embedding);
  // Counts a lookup as a hit or a miss, with its time from the embedding to the
  // response entry (a match whose entry is gone is a miss).
  void Record(bool hit, double seconds);
  void Add(const std::string& scope, std::span<const float> embedding, const std::string& key,
           int64_t ttl_ms);
  // Drops every scope starting with `prefix` (scopes start with the namespace
  // digest, so a namespace flush reaches them). Returns the live entries dropped.
  int64_t EraseByPrefix(const std::string& prefix);

  float threshold() const { return options_.threshold; }
  std::string source() const { return embedder_->source(); }
  const LayerStats& stats() const { return stats_; }
  int64_t embed_errors() const { return errors_.total(); }
  int64_t entries() const;
  int dimensions() const;  // 0 until the first embedding

 private:
  SemanticIndex* Index(size_t dimensions);

  Embedder* embedder_;
  SemanticCacheOptions options_;
  mutable std::mutex mu_;  // guards the creation of index_ (its size is the first vector's)
  std::unique_ptr<SemanticIndex> index_;
  LayerStats stats_;
  ErrorLog errors_{"semantic cache", "embedding error(s) (looked up as misses)"};
};

}  // namespace radixlm::respcache
