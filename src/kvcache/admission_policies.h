// The concrete admission policies (see admission_policy.h).
#pragma once

#include <vector>

#include "kvcache/admission_policy.h"

namespace radixlm::kvcache {

class AdmitAllPolicy final : public AdmissionPolicy {
 public:
  std::string_view name() const override { return "all"; }
  size_t Admit(const AdmissionRequest& request) override { return request.tokens.size(); }
};

class MinLengthPolicy final : public AdmissionPolicy {
 public:
  explicit MinLengthPolicy(int64_t min_tokens) : min_tokens_(min_tokens) {}
  std::string_view name() const override { return "min-length"; }
  size_t Admit(const AdmissionRequest& request) override;

 private:
  int64_t min_tokens_;
};

// Remembers the block hashes of recent sequences in a fixed-size open-addressing
// table with FIFO replacement; a page is admitted once a request other than the
// one that first produced it produces it again.
class SecondHitPolicy final : public AdmissionPolicy {
 public:
  explicit SecondHitPolicy(int64_t capacity);
  std::string_view name() const override { return "second-hit"; }
  size_t Admit(const AdmissionRequest& request) override;
  size_t MemoryBytes() const override;

 private:
  struct Slot {
    BlockHash hash;
    uint64_t first_request = 0;
    bool used = false;
    bool seen_twice = false;
  };
  // Returns the slot holding `hash`, or the empty slot where it would go.
  size_t Probe(const BlockHash& hash) const;
  void Forget(const BlockHash& hash);

  std::vector<Slot> slots_;      // power of two, at most half full
  std::vector<BlockHash> fifo_;  // remembered hashes in insertion order (ring)
  size_t fifo_head_ = 0;         // oldest entry
  size_t fifo_size_ = 0;
  size_t capacity_;
  std::vector<BlockHash> scratch_;  // reused per call: no allocation per token
};

}  // namespace radixlm::kvcache
