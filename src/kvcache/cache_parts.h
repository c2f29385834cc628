// What every PrefixCache implementation is built from, checked and created once
// for all of them by MakeCacheParts (prefix_cache.cc).
#pragma once

#include <memory>

#include "core/status.h"
#include "kvcache/admission_policy.h"
#include "kvcache/eviction_policy.h"
#include "kvcache/prefix_cache.h"

namespace radixlm::kvcache {

struct CacheParts {
  PagePool* pool = nullptr;
  const Clock* clock = nullptr;  // RealClock when the caller gave none
  std::shared_ptr<EvictionPolicy> eviction;
  std::unique_ptr<AdmissionPolicy> admission;
};

// Validates `options` against `pool` (present, same page size) and creates the
// policies they name.
StatusOr<CacheParts> MakeCacheParts(const PrefixCacheOptions& options, PagePool* pool,
                                    const Clock* clock);

}  // namespace radixlm::kvcache
