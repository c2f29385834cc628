// RedisBlockStore: KV blocks as Redis values, shared by every replica pointed
// at the same Redis (block_store.h has the interface and what every store
// guarantees).
//
// Keys: key_prefix + fingerprint hex + ":" + Hex128(block hash), e.g.
// "radixlm:kv:" + 32 hex + ":" + 32 hex. The fingerprint (kv_fingerprint.h) in
// the key keeps other models, KV formats and page geometries in other key
// namespaces; the chained block hash already covers the request namespace
// (tenant, cache salt) and the tokens. Values: block frames (block_format.h),
// checked on every read like the directory's files, so a foreign, corrupt or
// truncated value is a counted miss, never served.
//
// Writes: Put queues a copy (bounded, dropped and counted when full); one
// writer thread SETs each block, with PX ttl_ms when ttl_ms > 0, else with no
// expiry (then bound Redis's memory with maxmemory and an allkeys-lru policy:
// Redis, not this store, evicts). Blocks are immutable, so two replicas
// writing one key write the same bytes and either may win.
//
// Failures: Redis down costs misses only: commands run under the client's
// timeouts, and after a failure the client backs off (store/redis_store.h:
// every call fails at once for 100 ms, doubling up to 5 s), so Get returns
// UNAVAILABLE without touching the network and queued writes fail fast
// (counted in write_errors). When Redis returns, the next call after the
// back-off reconnects; blocks written before a Redis restart are gone unless
// Redis persisted them.
//
// Thread safety: every method may be called from any thread at once; the
// client pools connections (RedisOptions::max_connections).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "kvtier/block_store.h"
#include "kvtier/block_write_queue.h"
#include "kvtier/kv_fingerprint.h"
#include "store/redis_store.h"

namespace radixlm::kvtier {

struct RedisBlockStoreOptions {
  RedisBlockStoreOptions() { redis.command_timeout = std::chrono::milliseconds(1000); }
  // Where Redis is. The command timeout defaults to 1 s here (the client's
  // 100 ms is for small values; a 2 MiB block over a busy link needs more).
  store::RedisOptions redis;
  std::string key_prefix = "radixlm:kv:";
  KvFingerprint fingerprint;
  int64_t block_bytes = 0;    // payload bytes of a block (> 0)
  int64_t ttl_ms = 0;         // 0: no expiry
  int64_t queue_blocks = 64;  // writes waiting at most (memory: that many blocks)
  Status Validate() const;
};

class RedisBlockStore final : public BlockStore {
 public:
  // Does not connect (Redis may come up later): the first call does.
  static StatusOr<std::unique_ptr<RedisBlockStore>> Create(const RedisBlockStoreOptions& options);
  ~RedisBlockStore() override;

  int64_t block_bytes() const override { return options_.block_bytes; }
  BlockPut Put(const BlockHash& hash, std::span<const std::byte> payload) override;
  Status Get(const BlockHash& hash, std::span<std::byte> out) override;
  StatusOr<int64_t> CountHeld(std::span<const BlockHash> hashes) override;
  void Flush() override;
  int64_t queue_room() const override { return queue_->room(); }
  BlockStoreStats stats() const override;

  // The key of block `hash`.
  std::string Key(const BlockHash& hash) const;
  // key_prefix + fingerprint hex + ":": every key of this store starts so.
  const std::string& key_space() const { return key_space_; }
  // Deletes every block of this fingerprint from Redis (all replicas'); the
  // number deleted.
  StatusOr<int64_t> DeleteAll();

 private:
  explicit RedisBlockStore(const RedisBlockStoreOptions& options);
  void Write(const BlockHash& hash, std::span<std::byte> frame);

  const RedisBlockStoreOptions options_;
  const Hash128 fingerprint_digest_;
  const std::string key_space_;
  BlockStoreCounters counters_;
  store::RedisStore redis_;
  std::unique_ptr<BlockWriteQueue> queue_;  // last: its thread stops first
};

}  // namespace radixlm::kvtier
