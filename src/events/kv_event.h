// KvEvent: one change to a replica's prefix cache, as vLLM's KV-event publisher
// describes it (docs/KV_EVENTS.md has the wire format): pages stored, pages
// removed, or everything cleared. Block hashes are kvcache::BlockHash values
// (block_hash.h); tokens are the stored pages' tokens, page after page.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kvcache/types.h"

namespace radixlm::events {

enum class KvEventKind { kBlockStored, kBlockRemoved, kAllBlocksCleared };

struct KvEvent {
  KvEventKind kind = KvEventKind::kBlockStored;
  std::vector<kvcache::BlockHash> block_hashes;
  // kBlockStored: the page before block_hashes[0]; none for a prompt's first page.
  std::optional<kvcache::BlockHash> parent_block_hash;
  std::vector<kvcache::Token> token_ids;  // kBlockStored only
  int32_t block_size = 0;                 // kBlockStored only
  // Where the blocks are (kBlockStored, kBlockRemoved): empty for the device
  // pool (the publisher's medium, "GPU" or "CPU"), else the tier's ("CPU" or
  // "CPU_TIER" host memory, "DISK", "REDIS": docs/KV_EVENTS.md). Decoded: the
  // event's medium as sent ("" for nil).
  std::string medium;
};

}  // namespace radixlm::events
