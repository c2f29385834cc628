// KvTierOptions and KvTierStats: what EngineOptions and EngineSnapshot carry
// of the KV tiers below the device (kv_tiers.h), apart from the class itself.
#pragma once

#include <cstdint>
#include <string>

namespace radixlm::kvcache {
class CacheEventSink;
}

namespace radixlm::engine {

struct KvTierOptions {
  int64_t host_bytes = 0;              // the host tier's size (whole pages of it are used)
  std::string host_admission = "all";  // all | second-hit
  // A tier under the host one that outlives the process (kvtier/block_store.h):
  // a local directory (disk_dir, disk_bytes of block files) or Redis shared by
  // replicas (redis_url, keys under redis_prefix); at most one. Needs the host
  // tier (its blocks are loaded through it) and the model's digest.
  std::string disk_dir;
  int64_t disk_bytes = 0;
  std::string redis_url;
  std::string redis_prefix = "radixlm:kv:";
  std::string store_admission = "all";  // all | second-hit: the blocks the store takes
  // The store's write queue, in blocks (memory: that many blocks); puts beyond
  // it wait in their host slots (KvTiers::Poll).
  int64_t store_queue_blocks = 64;
  // Loader threads reading the store at once (a long prompt's blocks from a
  // directory arrive that many times as fast as from one reader).
  int64_t store_readers = 4;
  std::string model_digest;  // kvtier::KvFingerprint::ModelDigest(model dir)
  // KV events (kvcache/cache_events.h, not owned; null: none): which blocks the
  // host tier (under `host_medium`) and the store ("DISK" or "REDIS") hold.
  kvcache::CacheEventSink* events = nullptr;
  std::string host_medium = "CPU";
  // Read a prompt's pages from the store only when that is faster than
  // computing them (the store's measured read time a block over the readers
  // against the device's prefill time a page; until both are known, read). Off: always.
  bool loads_when_faster = true;
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
  // The store tier, when there is one ("disk" or "redis"): blocks loaded from
  // it into the host tier, given to it to store, in flight to the host now, and
  // its own counters (kvtier::BlockStoreStats: reads that missed or found a
  // defective block, failures, writes dropped for a full queue).
  std::string store;
  int64_t store_loaded_blocks = 0;
  int64_t store_put_blocks = 0;
  int64_t store_loading_blocks = 0;
  int64_t store_misses = 0;
  int64_t store_defects = 0;
  int64_t store_read_errors = 0;
  int64_t store_write_errors = 0;
  int64_t store_dropped_puts = 0;
  int64_t store_blocks = -1;  // held now (-1: unknown, Redis)
  // Blocks the store held that were computed instead, reading being slower
  // (loads_when_faster; the directory, which counts them from memory), and the
  // store's read time a block (moving average; -1: none read yet).
  int64_t store_skipped_blocks = 0;
  double store_read_seconds = -1;
  // Requests whose lookup in a store that answers by round trip (Redis) was
  // skipped for the same reason (how many blocks it held is not known).
  int64_t store_skipped_requests = 0;
};

}  // namespace radixlm::engine
