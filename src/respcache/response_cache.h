// ResponseCache: finished responses kept by a key that fixes everything that
// determines them, so an identical request is answered without the model. Two
// layers: L1, an in-process LRU bounded in bytes (lru_store.h); L2, Redis shared
// by every replica (redis_store.h), optional. A lookup tries L1, then L2; an L2
// hit is copied into L1 (with the L2 entry's remaining lifetime unknown, L1 keeps
// it for the request's TTL at most). A store writes both.
//
// The store never fails a request: an L2 error counts in `store_errors`, is
// logged at most once per 10 s (with the number of errors since the last line),
// and the lookup reports a miss (or the store carries on with L1 only).
//
// Keys are opaque strings built by the caller (server/response_key.h); their
// prefixes group them (a model fingerprint, a namespace), so EraseByPrefix
// invalidates a model version or a tenant in both layers, and on every replica
// sharing the Redis: the prefix is published on the channel
// redis_prefix + "flush" (PUBLISH), and each replica's subscriber
// (RedisSubscriber) erases it from its own L1. A replica that lost its
// subscription for a while (Redis down or restarted) may have missed flushes,
// so each re-subscription empties its L1.
//
// Lifetime: with Redis, a subscriber thread runs until destruction.
//
// Thread safety: every method may run concurrently.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/histogram.h"
#include "core/status.h"
#include "respcache/error_log.h"
#include "respcache/lru_store.h"
#include "store/redis_store.h"

namespace radixlm::respcache {

// kSemantic: the semantic cache (semantic_cache.h), which answers from L1 or L2
// through the key of a near-duplicate request.
enum class Layer { kL1, kL2, kSemantic };
const char* LayerName(Layer layer);  // "l1", "l2", "semantic"

struct ResponseCacheOptions {
  int64_t l1_bytes = int64_t{256} << 20;
  std::optional<store::RedisOptions> redis;  // no L2 when absent
  // Prepended to every key in Redis (so one Redis can hold other data).
  std::string redis_prefix = "radixlm:resp:";
  // Milliseconds on a steady clock; tests replace it to expire L1 entries.
  std::function<int64_t()> now_ms;
};

// Lookup latency buckets: 10 us to 1 s (an L1 hit is microseconds, an L2 one a
// network round trip).
std::vector<double> LookupSeconds();

struct LayerStats {
  std::atomic<int64_t> hits{0};
  std::atomic<int64_t> misses{0};
  Histogram hit_seconds{LookupSeconds()};
  Histogram miss_seconds{LookupSeconds()};
};

class ResponseCache {
 public:
  explicit ResponseCache(ResponseCacheOptions options);

  struct Hit {
    std::string value;
    Layer layer = Layer::kL1;
  };
  std::optional<Hit> Lookup(const std::string& key, int64_t ttl_ms);
  void Store(const std::string& key, std::string value, int64_t ttl_ms);
  // Removes every key starting with `prefix` from both layers. The L2 part may
  // fail (UNAVAILABLE); L1 is cleared regardless.
  StatusOr<int64_t> EraseByPrefix(const std::string& prefix);

  bool has_l2() const { return redis_ != nullptr; }
  // Whether Redis answers now (OK without an L2).
  Status Ping() { return redis_ ? redis_->Ping() : OkStatus(); }
  const LayerStats& stats(Layer layer) const;  // kL1 or kL2
  int64_t stores() const { return stores_.load(); }
  int64_t store_errors() const { return errors_.total(); }
  int64_t l1_bytes() const { return l1_.bytes(); }
  int64_t l1_entries() const { return l1_.entries(); }
  int64_t l1_evictions() const { return l1_.evictions(); }
  int64_t l1_capacity_bytes() const { return l1_.capacity_bytes(); }
  // Flushes from other replicas applied to L1, and subscriptions to them.
  int64_t remote_flushes() const { return remote_flushes_.load(); }
  int64_t subscriptions() const { return subscriber_ ? subscriber_->subscriptions() : 0; }

 private:
  void OnFlushMessage(std::string_view message);

  ResponseCacheOptions options_;
  LruStore l1_;
  std::unique_ptr<store::RedisStore> redis_;
  std::string origin_;  // this cache's id in flush messages (its own are skipped)
  std::atomic<int64_t> remote_flushes_{0};
  LayerStats l1_stats_, l2_stats_;
  std::atomic<int64_t> stores_{0};
  ErrorLog errors_{"response cache", "store error(s) (answered by the model)"};
  std::unique_ptr<store::RedisSubscriber> subscriber_;  // last: stopped first
};

}  // namespace radixlm::respcache
