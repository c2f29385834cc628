// Basic vocabulary of the kvcache layer (see ../shared/DESIGN.md "Vocabulary").
#pragma once

#include <cstdint>

#include "core/hash.h"

namespace radixlm::kvcache {

// A token id.
using Token = int32_t;
// Index of a page in a PagePool.
using PageId = int32_t;
inline constexpr PageId kNoPage = -1;

// Chained content hash of one full page: hash(parent page's hash, page tokens), with
// the chain rooted at a hash of the namespace. 128 bits, so a collision (which would
// serve another prompt's KV) is out of reach even across replicas and tiers.
using BlockHash = Hash128;

}  // namespace radixlm::kvcache
