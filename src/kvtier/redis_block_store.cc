#include "kvtier/redis_block_store.h"

#include <vector>

namespace radixlm::kvtier {

Status RedisBlockStoreOptions::Validate() const {
  RETURN_IF_ERROR(fingerprint.Validate());
  if (block_bytes <= 0) return InvalidArgumentError("Redis KV store: block_bytes must be > 0");
  if (ttl_ms < 0) return InvalidArgumentError("Redis KV store: ttl_ms must be >= 0");
  if (queue_blocks < 1) return InvalidArgumentError("Redis KV store: queue_blocks must be >= 1");
  if (redis.host.empty()) return InvalidArgumentError("Redis KV store: no host");
  return OkStatus();
}

StatusOr<std::unique_ptr<RedisBlockStore>> RedisBlockStore::Create(
    const RedisBlockStoreOptions& options) {
  RETURN_IF_ERROR(options.Validate());
  std::unique_ptr<RedisBlockStore> store(new RedisBlockStore(options));
  store->queue_ = std::make_unique<BlockWriteQueue>(
      options.queue_blocks, [s = store.get()](const BlockHash& hash, std::span<std::byte> frame) {
        s->Write(hash, frame);
      });
  return store;
}

RedisBlockStore::RedisBlockStore(const RedisBlockStoreOptions& options)
    : options_(options),
      fingerprint_digest_(options.fingerprint.Digest()),
      key_space_(options.key_prefix + options.fingerprint.Hex() + ":"),
      counters_("redis " + options.redis.host + ":" + std::to_string(options.redis.port)),
      redis_(options.redis) {}

RedisBlockStore::~RedisBlockStore() { queue_.reset(); }

std::string RedisBlockStore::Key(const BlockHash& hash) const { return key_space_ + Hex128(hash); }

BlockPut RedisBlockStore::Put(const BlockHash& hash, std::span<const std::byte> payload) {
  CHECK_EQ(static_cast<int64_t>(payload.size()), options_.block_bytes);
  ++counters_.puts;
  return queue_->OfferCounted(hash, payload, counters_);
}

void RedisBlockStore::Write(const BlockHash& hash, std::span<std::byte> frame) {
  SealBlockFrame(fingerprint_digest_, hash, frame);
  const std::string key = Key(hash);
  const std::string_view value(reinterpret_cast<const char*>(frame.data()), frame.size());
  const Status s =
      options_.ttl_ms > 0 ? redis_.Set(key, value, options_.ttl_ms) : redis_.Set(key, value);
  if (!s.ok()) {
    ++counters_.write_errors;
    counters_.NoteError(s);
    return;
  }
  if (listener() != nullptr) listener()->OnBlocksStored(std::span(&hash, 1));
  ++counters_.writes;
  counters_.bytes_written += static_cast<int64_t>(frame.size());
}

Status RedisBlockStore::Get(const BlockHash& hash, std::span<std::byte> out) {
  CHECK_EQ(static_cast<int64_t>(out.size()), options_.block_bytes);
  ++counters_.gets;
  if (queue_->CopyPendingCounted(hash, out, counters_)) return OkStatus();
  auto value = redis_.Get(Key(hash));
  if (!value.ok()) {
    ++counters_.read_errors;
    counters_.NoteError(value.status());
    return value.status();
  }
  if (!value->has_value()) {
    // Expired or evicted by Redis (or never stored by this replica).
    if (listener() != nullptr) listener()->OnBlocksRemoved(std::span(&hash, 1));
    ++counters_.misses;
    return NotFoundError("KV block " + Hex128(hash) + ": not in Redis");
  }
  BlockDefect defect{};
  if (Status s = DecodeBlock(AsBytes(**value), fingerprint_digest_, hash, out, &defect); !s.ok()) {
    counters_.CountDefect(defect);
    if (listener() != nullptr) listener()->OnBlocksRemoved(std::span(&hash, 1));
    return s;
  }
  ++counters_.hits;
  counters_.bytes_read += static_cast<int64_t>(out.size());
  return OkStatus();
}

StatusOr<int64_t> RedisBlockStore::CountHeld(std::span<const BlockHash> hashes) {
  std::vector<std::string> keys;
  keys.reserve(hashes.size());
  for (const BlockHash& hash : hashes) keys.push_back(Key(hash));
  auto held = redis_.Exists(keys);
  if (!held.ok()) return held.status();
  int64_t run = 0;
  for (size_t i = 0; i < hashes.size(); ++i) {
    if (!(*held)[i] && !queue_->Pending(hashes[i])) break;
    ++run;
  }
  return run;
}

void RedisBlockStore::Flush() { queue_->Flush(); }

BlockStoreStats RedisBlockStore::stats() const {
  BlockStoreStats s = counters_.Snapshot();
  s.queued = queue_->size();
  return s;
}

StatusOr<int64_t> RedisBlockStore::DeleteAll() { return redis_.DeleteByPrefix(key_space_); }

}  // namespace radixlm::kvtier
