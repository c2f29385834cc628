// KvTierOptions and KvTierStats: what EngineOptions and EngineSnapshot carry
// of the KV tiers below the device (kv_tiers.h), apart from the class itself.
#pragma once

#include <cstdint>
#include <string>

namespace radixlm::engine {

struct KvTierOptions {
  int64_t host_bytes = 0;              // the host tier's size (whole pages of it are used)
  std::string host_admission = "all";  // all | second-hit
};

struct KvTierStats {
  int64_t host_capacity_blocks = 0;
  int64_t host_blocks = 0;     // held now
  int64_t block_bytes = 0;     // one page of every layer's K and V
  int64_t loaded_blocks = 0;   // host to device (prefix hits below the device)
  int64_t written_blocks = 0;  // device to host (write-through)
  int64_t evicted_blocks = 0;  // dropped from the host tier to make room
  int64_t refused_blocks = 0;  // turned away by admission
  int64_t copy_ns = 0;         // the step thread's time enqueueing (GPU) or making (CPU) copies
};

}  // namespace radixlm::engine
