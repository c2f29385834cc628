#include "respcache/response_cache.h"

#include <cstdio>
#include <random>

namespace radixlm::respcache {
namespace {

int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

std::vector<double> LookupSeconds() {
  return {1e-5, 2.5e-5, 5e-5,   1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3,
          5e-3, 1e-2,   2.5e-2, 5e-2, 0.1,    0.25, 0.5,  1};
}

const char* LayerName(Layer layer) {
  switch (layer) {
    case Layer::kL1:
      return "l1";
    case Layer::kL2:
      return "l2";
    case Layer::kSemantic:
      return "semantic";
  }
  return "?";
}

ResponseCache::ResponseCache(ResponseCacheOptions options)
    : options_(std::move(options)), l1_(options_.l1_bytes) {
  if (!options_.now_ms) options_.now_ms = SteadyMs;
  if (!options_.redis) return;
  redis_ = std::make_unique<store::RedisStore>(*options_.redis);
  std::random_device random;
  char id[20];
  std::snprintf(id, sizeof(id), "%08x%08x", random(), random());
  origin_ = id;
  subscriber_ = std::make_unique<store::RedisSubscriber>(
      *options_.redis, options_.redis_prefix + "flush",
      [this](std::string_view message) { OnFlushMessage(message); },
      [this, first = true]() mutable {
        // Re-subscribed: flushes may have gone by meanwhile.
        if (!first) l1_.EraseByPrefix("");
        first = false;
      });
}

// "ORIGIN\nPREFIX": another replica erased PREFIX.
void ResponseCache::OnFlushMessage(std::string_view message) {
  const size_t newline = message.find('\n');
  if (newline == std::string_view::npos || message.substr(0, newline) == origin_) return;
  l1_.EraseByPrefix(std::string(message.substr(newline + 1)));
  ++remote_flushes_;
}

const LayerStats& ResponseCache::stats(Layer layer) const {
  return layer == Layer::kL2 ? l2_stats_ : l1_stats_;
}

std::optional<ResponseCache::Hit> ResponseCache::Lookup(const std::string& key, int64_t ttl_ms) {
  auto start = std::chrono::steady_clock::now();
  const int64_t now = options_.now_ms();
  if (auto value = l1_.Get(key, now)) {
    ++l1_stats_.hits;
    l1_stats_.hit_seconds.Observe(SecondsSince(start));
    return Hit{std::move(*value), Layer::kL1};
  }
  ++l1_stats_.misses;
  l1_stats_.miss_seconds.Observe(SecondsSince(start));
  if (!redis_) return std::nullopt;

  start = std::chrono::steady_clock::now();
  auto value = redis_->Get(options_.redis_prefix + key);
  if (!value.ok()) errors_.Count(value.status());
  if (!value.ok() || !value->has_value()) {
    ++l2_stats_.misses;
    l2_stats_.miss_seconds.Observe(SecondsSince(start));
    return std::nullopt;
  }
  ++l2_stats_.hits;
  l2_stats_.hit_seconds.Observe(SecondsSince(start));
  l1_.Put(key, **value, now + ttl_ms);
  return Hit{std::move(**value), Layer::kL2};
}

void ResponseCache::Store(const std::string& key, std::string value, int64_t ttl_ms) {
  ++stores_;
  if (redis_) {
    if (Status s = redis_->Set(options_.redis_prefix + key, value, ttl_ms); !s.ok())
      errors_.Count(s);
  }
  l1_.Put(key, std::move(value), options_.now_ms() + ttl_ms);
}

StatusOr<int64_t> ResponseCache::EraseByPrefix(const std::string& prefix) {
  int64_t erased = l1_.EraseByPrefix(prefix);
  if (!redis_) return erased;
  auto remote = redis_->DeleteByPrefix(options_.redis_prefix + prefix);
  if (!remote.ok()) {
    errors_.Count(remote.status());
    return remote.status();
  }
  // The other replicas' L1s.
  if (Status s = redis_->Publish(options_.redis_prefix + "flush", origin_ + "\n" + prefix);
      !s.ok()) {
    errors_.Count(s);
    return s;
  }
  // The same entry is usually in both layers: report the larger count.
  return std::max(erased, *remote);
}

}  // namespace radixlm::respcache
