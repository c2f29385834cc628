// SemanticIndex: the near-duplicate lookup of the semantic response cache. Per
// namespace, an HNSW graph (hnswlib, Debian's libhnswlib-dev) over embeddings
// normalised to unit length, so the inner product is the cosine similarity.
// Each vector stands for the key of a cached response and expires with it.
//
// Nearest returns the most similar live entry at or above a threshold (callers
// keep the sampling parameters in the key they look up with, so only requests
// with the same parameters can match). Expired entries are skipped at lookup and
// dropped from the graph when a namespace's dead entries outnumber its live ones
// (HNSW graphs cannot unlink a node; the namespace is rebuilt from its live
// vectors, which are kept for that).
//
// Thread safety: lookups share a lock; adds and erases take it exclusively.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>

#include "core/status.h"

namespace radixlm::respcache {

struct SemanticMatch {
  std::string key;
  float similarity = 0;
};

class SemanticIndex {
 public:
  // `now_ms`: a steady clock in milliseconds (tests pass their own).
  explicit SemanticIndex(int dimensions, std::function<int64_t()> now_ms = nullptr);
  ~SemanticIndex();

  // INVALID_ARGUMENT for a vector of the wrong size, or of zero or non-finite norm.
  Status Add(const std::string& ns, std::span<const float> embedding, std::string key,
             int64_t expires_at_ms);
  std::optional<SemanticMatch> Nearest(const std::string& ns, std::span<const float> embedding,
                                       float threshold) const;
  int64_t EraseNamespace(const std::string& ns);
  // Every namespace whose name starts with `prefix`; returns the live entries dropped.
  int64_t EraseByPrefix(const std::string& prefix);
  void Clear();

  int dimensions() const { return dimensions_; }
  int64_t live_entries() const;

 private:
  struct Space;
  Status Normalise(std::span<const float> in, std::vector<float>* out) const;

  const int dimensions_;
  std::function<int64_t()> now_ms_;
  mutable std::shared_mutex mu_;
  std::map<std::string, std::unique_ptr<Space>> spaces_;
};

}  // namespace radixlm::respcache
