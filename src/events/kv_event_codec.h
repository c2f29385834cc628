// The msgpack encoding of vLLM's KVEventBatch (docs/KV_EVENTS.md is the exact
// schema). msgspec structs with array_like=True are msgpack arrays of their fields
// in order; tagged structs put the class name first; trailing fields equal to
// their default are left out:
//
//   batch   = [ts: float64, events: [event...], data_parallel_rank: int]  (rank
//             only when given)
//   event   = ["BlockStored", [hash...], parent_hash | nil, [token...],
//              block_size, lora_id: nil, medium: str | nil]
//           | ["BlockRemoved", [hash...], medium: str | nil]
//           | ["AllBlocksCleared"]
//   hash    = bin 16: the BlockHash's lo then hi 64-bit words, each little-endian
//             (the exact 16 bytes the next page's chained hash reads)
//
// Also the decoder of that format (a router's subscriber uses it; tests check that
// both agree). Thread-compatible: no state.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "events/kv_event.h"

namespace radixlm::events {

struct KvEventBatch {
  double ts = 0;  // seconds since the Unix epoch
  std::vector<KvEvent> events;
  std::optional<int64_t> data_parallel_rank;
  std::string medium;  // decoded: the medium of the last event that had one
};

// `medium` is the device pool's: written for events whose own medium is empty
// (an event with a medium, a tier's, is written with it); empty encodes nil.
std::string EncodeKvEventBatch(double ts, std::span<const KvEvent> events, std::string_view medium,
                               std::optional<int64_t> data_parallel_rank);

// INVALID_ARGUMENT naming what is malformed.
StatusOr<KvEventBatch> DecodeKvEventBatch(std::string_view payload);

}  // namespace radixlm::events
