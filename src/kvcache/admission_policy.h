// AdmissionPolicy: decides how much of an inserted sequence the prefix cache keeps.
//
// Called by Insert with the sequence; returns the length of the prefix to cache
// (the rest stays the caller's, uncached). Tokens already cached are never dropped:
// the cache keeps max(admitted, already cached).
//
//   all          cache everything (the default)
//   second-hit   cache a page only once a different request has also produced it
//                (prefixes seen once, e.g. unique user questions, never take space)
//   min-length   cache a sequence only if it has at least `min_tokens` tokens
//
// Not thread-safe; owned by one cache.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "kvcache/types.h"

namespace radixlm::kvcache {

struct AdmissionOptions {
  std::string policy = "all";
  // min-length: shortest sequence worth caching.
  int64_t min_tokens = 0;
  // second-hit: how many page hashes to remember (oldest forgotten first).
  int64_t second_hit_capacity = 1 << 20;
  Status Validate() const;
};

struct AdmissionRequest {
  std::span<const Token> tokens;
  int page_size = 16;
  BlockHash namespace_hash;
  // Identifies the request; repeated inserts of one request (chunked prefill) count
  // as one sighting.
  uint64_t request_id = 0;
};

class AdmissionPolicy {
 public:
  virtual ~AdmissionPolicy() = default;
  virtual std::string_view name() const = 0;
  // Length of the prefix of request.tokens to cache.
  virtual size_t Admit(const AdmissionRequest& request) = 0;
  virtual size_t MemoryBytes() const { return 0; }
};

const std::vector<std::string>& AdmissionPolicyNames();
StatusOr<std::unique_ptr<AdmissionPolicy>> CreateAdmissionPolicy(const AdmissionOptions& options);

}  // namespace radixlm::kvcache
