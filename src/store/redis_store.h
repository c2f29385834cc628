// RedisStore: a Redis client over hiredis, shared by the layers that keep bytes
// in Redis: the response cache's L2 (respcache/response_cache.h) and the KV
// block store (kvtier/redis_block_store.h).
//
// Every radixlm replica pointed at the same Redis shares its entries; expiry is
// Redis's own (SET ... PX ttl), so a replica's clock does not matter. Values are
// binary-safe byte strings.
//
// Failure handling: every command runs with a timeout. A connection that fails
// (refused, reset, timed out, a protocol error) is dropped with every idle one
// (they are most likely dead too: a restarted Redis), and the store backs
// off: for the next `backoff` (100 ms, doubling up to 5 s after each failed
// reconnect) every call fails at once with UNAVAILABLE, without touching the
// network, so a dead Redis costs the caller nothing. The first call after the
// back-off window tries to reconnect; success resets the back-off.
//
// Thread safety: all methods may run concurrently. Connections come from a pool
// (one per concurrent caller, up to `max_connections`; a caller beyond that waits
// for one to be returned).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/status.h"

struct redisContext;

namespace radixlm::store {

struct RedisOptions {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::chrono::milliseconds connect_timeout{200};
  std::chrono::milliseconds command_timeout{100};
  int max_connections = 16;
};

// "redis://HOST[:PORT]" (or "HOST[:PORT]") into *options. INVALID_ARGUMENT
// naming the problem otherwise.
Status ParseRedisUrl(std::string_view url, RedisOptions* options);

class RedisStore {
 public:
  // Does not connect: the first call does (so a server starts while Redis is down).
  explicit RedisStore(RedisOptions options);
  ~RedisStore();
  RedisStore(const RedisStore&) = delete;
  RedisStore& operator=(const RedisStore&) = delete;

  // The value, or nullopt when the key is absent.
  StatusOr<std::optional<std::string>> Get(std::string_view key);
  // SET key value PX ttl_ms (ttl_ms below 1 counts as 1).
  Status Set(std::string_view key, std::string_view value, int64_t ttl_ms);
  // SET key value, with no expiry: the key stays until deleted or evicted by
  // Redis's maxmemory policy.
  Status Set(std::string_view key, std::string_view value);
  // EXISTS of each key, pipelined on one connection (one round trip): for each
  // key, whether Redis holds it now.
  StatusOr<std::vector<bool>> Exists(std::span<const std::string> keys);
  // Deletes every key starting with `prefix` (SCAN MATCH prefix* and UNLINK in
  // batches); returns how many were deleted. Glob characters in the prefix are
  // escaped.
  StatusOr<int64_t> DeleteByPrefix(std::string_view prefix);
  // PING: OK when Redis answers now.
  Status Ping();
  // PUBLISH channel message.
  Status Publish(std::string_view channel, std::string_view message);

  const RedisOptions& options() const { return options_; }

 private:
  class Lease;
  // A connection to run one command on, or UNAVAILABLE during the back-off.
  StatusOr<redisContext*> Acquire();
  void Release(redisContext* context, bool healthy);
  Status Failure(std::string what);

  const RedisOptions options_;
  std::mutex mu_;
  std::condition_variable returned_;
  std::vector<redisContext*> idle_;
  int open_ = 0;  // connections open, idle or leased
  std::chrono::steady_clock::time_point retry_at_{};
  std::chrono::milliseconds backoff_{0};
};

// RedisSubscriber: one connection of its own SUBSCRIBEd to `channel`, on a
// thread of its own: every message's payload goes to `on_message`. After each
// successful (re)subscription `on_subscribed` runs first: messages published
// while it was not subscribed are lost, and the caller decides what that means
// (the response cache drops its in-process layer). A lost connection is
// retried with the store's back-off (100 ms doubling up to 5 s). The callbacks
// run on the subscriber's thread.
class RedisSubscriber {
 public:
  RedisSubscriber(RedisOptions options, std::string channel,
                  std::function<void(std::string_view)> on_message,
                  std::function<void()> on_subscribed);
  ~RedisSubscriber();  // unsubscribes and joins the thread
  RedisSubscriber(const RedisSubscriber&) = delete;
  RedisSubscriber& operator=(const RedisSubscriber&) = delete;

  // Subscriptions made so far (a test waits for the first).
  int64_t subscriptions() const;

 private:
  void Loop();

  const RedisOptions options_;
  const std::string channel_;
  std::function<void(std::string_view)> on_message_;
  std::function<void()> on_subscribed_;
  mutable std::mutex mu_;
  std::condition_variable stopped_;
  redisContext* context_ = nullptr;  // under mu_: the destructor shuts its socket
  bool stop_ = false;
  int64_t subscriptions_ = 0;
  std::thread thread_;
};

}  // namespace radixlm::store
