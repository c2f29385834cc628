// KvEventPublisher: publishes a prefix cache's events (kvcache/cache_events.h) over
// ZeroMQ in vLLM's KV-event format, so routers built for vLLM (NVIDIA Dynamo,
// llm-d, ...) consume radixlm unchanged. docs/KV_EVENTS.md is the exact contract.
//
//   PUB socket (bound at `endpoint`): one message per batch, three frames:
//     [topic, sequence number (8 bytes, big-endian, from 0, +1 a batch),
//      msgpack KVEventBatch (events/kv_event_codec.h)]
//   ROUTER socket (bound at `replay_endpoint`, optional): a request whose last frame
//     is a start sequence number (8 bytes, big-endian) is answered with every
//     buffered batch from that number on, one message each [.., seq, payload], then
//     an end marker [.., seq = -1 (8 bytes, two's complement), empty payload]. The
//     reply repeats the request's envelope (identity, and the empty delimiter a REQ
//     socket sends). The last `replay_batches` batches are kept.
//
// Threads. The sink methods run on the scheduler thread (the tier methods also
// on a store's threads: the buffer takes any number of producers) and only append to a
// bounded EventBuffer (never block on I/O; see event_buffer.h for what happens when
// it is full). A publisher thread owns both sockets: every `batch_interval_ms` (or
// sooner under load) it drains the buffer into one batch, sends it and serves
// replay requests. A subscriber slower than the PUB high-water mark loses messages
// (ZeroMQ drops for it, the engine never waits); it sees a gap in the sequence
// numbers and fetches the missing batches through replay.
//
// Create binds both sockets, so a bad or busy endpoint fails before serving starts.
// The destructor sends what is buffered, then stops the thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>

#include "core/status.h"
#include "events/event_buffer.h"
#include "kvcache/cache_events.h"

namespace radixlm::events {

struct KvEventPublisherOptions {
  std::string endpoint;         // e.g. tcp://127.0.0.1:5557 (bound)
  std::string replay_endpoint;  // e.g. tcp://127.0.0.1:5558 (bound); empty: no replay
  std::string topic;            // first frame of every message; vLLM's default is empty
  // The device pool's medium (vLLM: "GPU" for device memory, "CPU" for host);
  // the tiers' events carry their own (KvEvent::medium).
  std::string medium = "GPU";
  std::optional<int64_t> data_parallel_rank;  // written into each batch when set
  size_t buffer_blocks = 1 << 20;             // EventBuffer capacity
  size_t replay_batches = 10000;
  int batch_interval_ms = 5;
  int send_high_water_mark = 100000;  // messages queued per subscriber before drops

  Status Validate() const;
};

struct KvEventPublisherStats {
  uint64_t batches_sent = 0;
  uint64_t events_sent = 0;
  uint64_t replay_requests = 0;
  uint64_t dropped_blocks = 0;  // lost to a full EventBuffer
  uint64_t overflows = 0;       // times the buffer was full
};

class KvEventPublisher final : public kvcache::CacheEventSink {
 public:
  static StatusOr<std::unique_ptr<KvEventPublisher>> Create(const KvEventPublisherOptions& options);
  ~KvEventPublisher() override;
  KvEventPublisher(const KvEventPublisher&) = delete;
  KvEventPublisher& operator=(const KvEventPublisher&) = delete;

  void OnBlocksStored(std::span<const kvcache::BlockHash> hashes, const kvcache::BlockHash* parent,
                      std::span<const kvcache::Token> tokens, int32_t page_size) override;
  void OnBlocksRemoved(std::span<const kvcache::BlockHash> hashes) override;
  void OnAllBlocksCleared() override;
  void OnTierBlocksStored(std::string_view medium, std::span<const kvcache::BlockHash> hashes,
                          int32_t page_size) override;
  void OnTierBlocksRemoved(std::string_view medium,
                           std::span<const kvcache::BlockHash> hashes) override;

  KvEventPublisherStats stats() const;

 private:
  explicit KvEventPublisher(const KvEventPublisherOptions& options);
  void Run();

  KvEventPublisherOptions options_;
  EventBuffer buffer_;
  void* context_ = nullptr;  // zmq context
  void* pub_ = nullptr;      // owned by the thread once it runs
  void* replay_ = nullptr;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> batches_sent_{0};
  std::atomic<uint64_t> events_sent_{0};
  std::atomic<uint64_t> replay_requests_{0};
  std::thread thread_;
};

}  // namespace radixlm::events
