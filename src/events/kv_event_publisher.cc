#include "events/kv_event_publisher.h"

#include <zmq.h>

#include <chrono>
#include <cstring>
#include <deque>
#include <utility>
#include <vector>

#include "core/logging.h"
#include "events/kv_event_codec.h"

// libzmq's C API (Debian's libzmq3-dev), included here only: its errno-style
// returns map onto Status without exceptions crossing our code.

namespace radixlm::events {

namespace {

std::string ZmqError(const std::string& what) { return what + ": " + zmq_strerror(zmq_errno()); }

void PutSeq(int64_t seq, unsigned char out[8]) {
  const auto u = static_cast<uint64_t>(seq);
  for (int i = 0; i < 8; ++i) out[i] = static_cast<unsigned char>(u >> (8 * (7 - i)));
}

int64_t GetSeq(const unsigned char in[8]) {
  uint64_t u = 0;
  for (int i = 0; i < 8; ++i) u = (u << 8) | in[i];
  return static_cast<int64_t>(u);
}

bool IsZmqEndpoint(const std::string& e) {
  return e.rfind("tcp://", 0) == 0 || e.rfind("ipc://", 0) == 0 || e.rfind("inproc://", 0) == 0;
}

// Sends frames as one multipart message; false when ZeroMQ refused (no peer for a
// ROUTER reply, or a full queue with ZMQ_DONTWAIT).
bool SendFrames(void* socket, const std::vector<std::string_view>& frames) {
  for (size_t i = 0; i < frames.size(); ++i) {
    const int flags = ZMQ_DONTWAIT | (i + 1 < frames.size() ? ZMQ_SNDMORE : 0);
    if (zmq_send(socket, frames[i].data(), frames[i].size(), flags) < 0) return false;
  }
  return true;
}

}  // namespace

Status KvEventPublisherOptions::Validate() const {
  if (!IsZmqEndpoint(endpoint)) {
    return InvalidArgumentError("KV events endpoint '" + endpoint +
                                "' is not tcp://HOST:PORT (or ipc://, inproc://)");
  }
  if (!replay_endpoint.empty() && !IsZmqEndpoint(replay_endpoint)) {
    return InvalidArgumentError("KV events replay endpoint '" + replay_endpoint +
                                "' is not tcp://HOST:PORT (or ipc://, inproc://)");
  }
  if (replay_endpoint == endpoint) {
    return InvalidArgumentError("KV events replay endpoint must differ from the endpoint");
  }
  if (buffer_blocks < 2) return InvalidArgumentError("KV events buffer must hold >= 2 blocks");
  if (batch_interval_ms < 1 || batch_interval_ms > 10000) {
    return InvalidArgumentError("KV events batch interval must be 1..10000 ms");
  }
  if (send_high_water_mark < 1) {
    return InvalidArgumentError("KV events high-water mark must be >= 1");
  }
  return OkStatus();
}

KvEventPublisher::KvEventPublisher(const KvEventPublisherOptions& options)
    : options_(options), buffer_(options.buffer_blocks) {}

StatusOr<std::unique_ptr<KvEventPublisher>> KvEventPublisher::Create(
    const KvEventPublisherOptions& options) {
  RETURN_IF_ERROR(options.Validate());
  std::unique_ptr<KvEventPublisher> p(new KvEventPublisher(options));
  p->context_ = zmq_ctx_new();
  if (p->context_ == nullptr) return InternalError(ZmqError("zmq_ctx_new"));
  p->pub_ = zmq_socket(p->context_, ZMQ_PUB);
  if (p->pub_ == nullptr) return InternalError(ZmqError("zmq_socket(PUB)"));
  // Queued messages get half a second to leave at shutdown, then are dropped.
  const int linger_ms = 500;
  zmq_setsockopt(p->pub_, ZMQ_LINGER, &linger_ms, sizeof(linger_ms));
  zmq_setsockopt(p->pub_, ZMQ_SNDHWM, &options.send_high_water_mark, sizeof(int));
  if (zmq_bind(p->pub_, options.endpoint.c_str()) != 0) {
    return UnavailableError(ZmqError("cannot bind KV events endpoint " + options.endpoint));
  }
  if (!options.replay_endpoint.empty()) {
    p->replay_ = zmq_socket(p->context_, ZMQ_ROUTER);
    if (p->replay_ == nullptr) return InternalError(ZmqError("zmq_socket(ROUTER)"));
    zmq_setsockopt(p->replay_, ZMQ_LINGER, &linger_ms, sizeof(linger_ms));
    zmq_setsockopt(p->replay_, ZMQ_SNDHWM, &options.send_high_water_mark, sizeof(int));
    if (zmq_bind(p->replay_, options.replay_endpoint.c_str()) != 0) {
      return UnavailableError(
          ZmqError("cannot bind KV events replay endpoint " + options.replay_endpoint));
    }
  }
  p->thread_ = std::thread([raw = p.get()] { raw->Run(); });
  return p;
}

KvEventPublisher::~KvEventPublisher() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  if (pub_ != nullptr) zmq_close(pub_);
  if (replay_ != nullptr) zmq_close(replay_);
  if (context_ != nullptr) zmq_ctx_term(context_);
}

void KvEventPublisher::OnBlocksStored(std::span<const kvcache::BlockHash> hashes,
                                      const kvcache::BlockHash* parent,
                                      std::span<const kvcache::Token> tokens, int32_t page_size) {
  KvEvent e;
  e.kind = KvEventKind::kBlockStored;
  e.block_hashes.assign(hashes.begin(), hashes.end());
  if (parent != nullptr) e.parent_block_hash = *parent;
  e.token_ids.assign(tokens.begin(), tokens.end());
  e.block_size = page_size;
  buffer_.Push(std::move(e));
}

void KvEventPublisher::OnBlocksRemoved(std::span<const kvcache::BlockHash> hashes) {
  KvEvent e;
  e.kind = KvEventKind::kBlockRemoved;
  e.block_hashes.assign(hashes.begin(), hashes.end());
  buffer_.Push(std::move(e));
}

void KvEventPublisher::OnAllBlocksCleared() {
  KvEvent e;
  e.kind = KvEventKind::kAllBlocksCleared;
  buffer_.Push(std::move(e));
}

void KvEventPublisher::OnTierBlocksStored(std::string_view medium,
                                          std::span<const kvcache::BlockHash> hashes,
                                          int32_t page_size) {
  KvEvent e;
  e.kind = KvEventKind::kBlockStored;
  e.block_hashes.assign(hashes.begin(), hashes.end());
  e.block_size = page_size;
  e.medium = medium;
  buffer_.Push(std::move(e));
}

void KvEventPublisher::OnTierBlocksRemoved(std::string_view medium,
                                           std::span<const kvcache::BlockHash> hashes) {
  KvEvent e;
  e.kind = KvEventKind::kBlockRemoved;
  e.block_hashes.assign(hashes.begin(), hashes.end());
  e.medium = medium;
  buffer_.Push(std::move(e));
}

KvEventPublisherStats KvEventPublisher::stats() const {
  KvEventPublisherStats s;
  s.batches_sent = batches_sent_.load();
  s.events_sent = events_sent_.load();
  s.replay_requests = replay_requests_.load();
  s.dropped_blocks = buffer_.dropped_blocks();
  s.overflows = buffer_.overflows();
  return s;
}

void KvEventPublisher::Run() {
  std::deque<std::pair<int64_t, std::string>> replay;  // (seq, payload), oldest first
  std::vector<KvEvent> events;
  int64_t next_seq = 0;
  unsigned char seq_bytes[8];
  auto publish = [&] {
    events.clear();
    if (buffer_.Drain(&events) == 0) return;
    const double ts =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    std::string payload =
        EncodeKvEventBatch(ts, events, options_.medium, options_.data_parallel_rank);
    const int64_t seq = next_seq++;
    PutSeq(seq, seq_bytes);
    // PUB never blocks: past the high-water mark ZeroMQ drops for that subscriber.
    SendFrames(pub_, {options_.topic, std::string_view(reinterpret_cast<const char*>(seq_bytes), 8),
                      payload});
    batches_sent_.fetch_add(1, std::memory_order_relaxed);
    events_sent_.fetch_add(events.size(), std::memory_order_relaxed);
    if (options_.replay_batches > 0) {
      replay.emplace_back(seq, std::move(payload));
      while (replay.size() > options_.replay_batches) replay.pop_front();
    }
  };
  auto serve_replay = [&] {
    // Each request: envelope frames, then the start sequence number.
    while (true) {
      std::vector<std::string> frames;
      int more = 1;
      while (more) {
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, replay_, ZMQ_DONTWAIT) < 0) {
          zmq_msg_close(&msg);
          if (frames.empty()) return;
          break;
        }
        frames.emplace_back(static_cast<const char*>(zmq_msg_data(&msg)), zmq_msg_size(&msg));
        more = zmq_msg_more(&msg);
        zmq_msg_close(&msg);
      }
      if (frames.size() < 2 || frames.back().size() != 8) continue;  // not a replay request
      replay_requests_.fetch_add(1, std::memory_order_relaxed);
      const int64_t start = GetSeq(reinterpret_cast<const unsigned char*>(frames.back().data()));
      std::vector<std::string_view> reply(frames.begin(), frames.end() - 1);
      reply.emplace_back();  // seq
      reply.emplace_back();  // payload
      for (const auto& [seq, payload] : replay) {
        if (seq < start) continue;
        PutSeq(seq, seq_bytes);
        reply[reply.size() - 2] = std::string_view(reinterpret_cast<const char*>(seq_bytes), 8);
        reply.back() = payload;
        if (!SendFrames(replay_, reply)) break;
      }
      PutSeq(-1, seq_bytes);
      reply[reply.size() - 2] = std::string_view(reinterpret_cast<const char*>(seq_bytes), 8);
      reply.back() = std::string_view();
      SendFrames(replay_, reply);
    }
  };
  while (!stop_.load()) {
    if (replay_ != nullptr) {
      zmq_pollitem_t item{replay_, 0, ZMQ_POLLIN, 0};
      zmq_poll(&item, 1, options_.batch_interval_ms);
      publish();
      if (item.revents & ZMQ_POLLIN) serve_replay();
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(options_.batch_interval_ms));
      publish();
    }
  }
  publish();
  const KvEventPublisherStats s = stats();
  LOG(INFO) << "kv events: " << s.batches_sent << " batches, " << s.events_sent << " events sent, "
            << s.dropped_blocks << " blocks dropped";
}

}  // namespace radixlm::events
