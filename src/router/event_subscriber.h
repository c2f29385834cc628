// EventSubscriber: keeps one replica's part of a BlockIndex equal to its cache,
// from its KV events (docs/KV_EVENTS.md: ZeroMQ SUB at the replica's events
// endpoint, msgpack batches decoded by events/kv_event_codec.h).
//
// Batches are applied in sequence order. A gap (a batch number past the next one
// expected) is filled through the replay endpoint when there is one; when replay
// cannot fill it (no endpoint, no answer within 2 s, or batches gone from the
// replica's buffer) the replica's blocks are forgotten (BlockIndex::Clear) and
// learning starts again from the batch at hand: the index under-estimates, never
// over-estimates. A batch number lower than the last one means the replica
// restarted: its blocks are forgotten too. Forget() is for the health checker
// (a dead replica's cache is gone).
//
// One thread per subscriber owns both sockets; Stop (or the destructor) ends it
// within ~100 ms.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "core/status.h"
#include "router/block_index.h"

namespace radixlm::router {

struct EventSubscriberOptions {
  std::string endpoint;         // the replica's --kv-events-endpoint
  std::string replay_endpoint;  // its --kv-events-replay-endpoint; empty: none
  int replica = 0;              // index in the BlockIndex
};

struct EventSubscriberStats {
  uint64_t batches = 0;
  uint64_t events = 0;
  uint64_t replayed_batches = 0;
  uint64_t resets = 0;  // times the replica's blocks were forgotten
  uint64_t decode_errors = 0;
};

class EventSubscriber {
 public:
  // `index` is not owned and must outlive the subscriber.
  static StatusOr<std::unique_ptr<EventSubscriber>> Create(const EventSubscriberOptions& options,
                                                           BlockIndex* index);
  ~EventSubscriber();
  EventSubscriber(const EventSubscriber&) = delete;
  EventSubscriber& operator=(const EventSubscriber&) = delete;

  void Forget();
  EventSubscriberStats stats() const;
  int64_t last_sequence() const { return last_seq_.load(); }

 private:
  EventSubscriber(const EventSubscriberOptions& options, BlockIndex* index);
  void Run();
  void Apply(const std::string& payload);
  bool Replay(int64_t from, int64_t until);

  EventSubscriberOptions options_;
  BlockIndex* index_;
  void* context_ = nullptr;
  void* sub_ = nullptr;
  void* replay_ = nullptr;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> last_seq_{-1};
  std::atomic<uint64_t> batches_{0}, events_{0}, replayed_{0}, resets_{0}, decode_errors_{0};
  std::thread thread_;
};

}  // namespace radixlm::router
