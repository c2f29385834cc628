#include "router/event_subscriber.h"

#include <zmq.h>

#include <chrono>
#include <vector>

#include "core/logging.h"
#include "events/kv_event_codec.h"

namespace radixlm::router {

namespace {

void PutSeq(int64_t seq, unsigned char out[8]) {
  const auto u = static_cast<uint64_t>(seq);
  for (int i = 0; i < 8; ++i) out[i] = static_cast<unsigned char>(u >> (8 * (7 - i)));
}

int64_t GetSeq(const std::string& s) {
  uint64_t u = 0;
  for (unsigned char c : s) u = (u << 8) | c;
  return static_cast<int64_t>(u);
}

// Receives one multipart message (waiting up to timeout_ms); false on none.
bool Receive(void* socket, int timeout_ms, std::vector<std::string>* frames) {
  zmq_pollitem_t item{socket, 0, ZMQ_POLLIN, 0};
  if (zmq_poll(&item, 1, timeout_ms) <= 0 || (item.revents & ZMQ_POLLIN) == 0) return false;
  frames->clear();
  int more = 1;
  while (more) {
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    if (zmq_msg_recv(&msg, socket, 0) < 0) {
      zmq_msg_close(&msg);
      return false;
    }
    frames->emplace_back(static_cast<const char*>(zmq_msg_data(&msg)), zmq_msg_size(&msg));
    more = zmq_msg_more(&msg);
    zmq_msg_close(&msg);
  }
  return true;
}

}  // namespace

EventSubscriber::EventSubscriber(const EventSubscriberOptions& options, BlockIndex* index)
    : options_(options), index_(index) {}

StatusOr<std::unique_ptr<EventSubscriber>> EventSubscriber::Create(
    const EventSubscriberOptions& options, BlockIndex* index) {
  std::unique_ptr<EventSubscriber> s(new EventSubscriber(options, index));
  s->context_ = zmq_ctx_new();
  s->sub_ = zmq_socket(s->context_, ZMQ_SUB);
  const int linger = 0;
  zmq_setsockopt(s->sub_, ZMQ_LINGER, &linger, sizeof(linger));
  zmq_setsockopt(s->sub_, ZMQ_SUBSCRIBE, "", 0);
  if (zmq_connect(s->sub_, options.endpoint.c_str()) != 0) {
    return InvalidArgumentError("cannot connect to KV events endpoint '" + options.endpoint +
                                "': " + zmq_strerror(zmq_errno()));
  }
  if (!options.replay_endpoint.empty()) {
    s->replay_ = zmq_socket(s->context_, ZMQ_DEALER);
    zmq_setsockopt(s->replay_, ZMQ_LINGER, &linger, sizeof(linger));
    if (zmq_connect(s->replay_, options.replay_endpoint.c_str()) != 0) {
      return InvalidArgumentError("cannot connect to KV events replay endpoint '" +
                                  options.replay_endpoint + "': " + zmq_strerror(zmq_errno()));
    }
  }
  s->thread_ = std::thread([raw = s.get()] { raw->Run(); });
  return s;
}

EventSubscriber::~EventSubscriber() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  if (sub_ != nullptr) zmq_close(sub_);
  if (replay_ != nullptr) zmq_close(replay_);
  if (context_ != nullptr) zmq_ctx_term(context_);
}

void EventSubscriber::Forget() {
  index_->Clear(options_.replica);
  resets_.fetch_add(1);
}

EventSubscriberStats EventSubscriber::stats() const {
  EventSubscriberStats s;
  s.batches = batches_.load();
  s.events = events_.load();
  s.replayed_batches = replayed_.load();
  s.resets = resets_.load();
  s.decode_errors = decode_errors_.load();
  return s;
}

void EventSubscriber::Apply(const std::string& payload) {
  auto batch = events::DecodeKvEventBatch(payload);
  if (!batch.ok()) {
    decode_errors_.fetch_add(1);
    LOG(WARNING) << "router: replica " << options_.replica << ": " << batch.status().message();
    return;
  }
  batches_.fetch_add(1);
  events_.fetch_add(batch->events.size());
  for (const events::KvEvent& e : batch->events) {
    switch (e.kind) {
      case events::KvEventKind::kBlockStored:
        index_->Store(options_.replica, e.block_hashes, e.medium);
        break;
      case events::KvEventKind::kBlockRemoved:
        index_->Remove(options_.replica, e.block_hashes, e.medium);
        break;
      case events::KvEventKind::kAllBlocksCleared:
        index_->Clear(options_.replica);
        break;
    }
  }
}

bool EventSubscriber::Replay(int64_t from, int64_t until) {
  if (replay_ == nullptr) return false;
  unsigned char seq[8];
  PutSeq(from, seq);
  // DONTWAIT: a DEALER with no connected peer would block the thread forever.
  if (zmq_send(replay_, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) return false;
  if (zmq_send(replay_, seq, 8, ZMQ_DONTWAIT) < 0) return false;
  int64_t next = from;
  std::vector<std::string> frames;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (std::chrono::steady_clock::now() < deadline) {
    if (!Receive(replay_, 100, &frames)) continue;
    if (frames.size() < 2) continue;
    const int64_t rseq = GetSeq(frames[frames.size() - 2]);
    if (rseq == -1) break;  // end marker
    if (rseq != next || rseq >= until) continue;
    Apply(frames.back());
    replayed_.fetch_add(1);
    next = rseq + 1;
  }
  // Drain a late end marker so the next replay reads its own answer.
  while (Receive(replay_, 0, &frames)) {
  }
  return next == until;
}

void EventSubscriber::Run() {
  std::vector<std::string> frames;
  while (!stop_.load()) {
    if (!Receive(sub_, 100, &frames)) continue;
    if (frames.size() != 3 || frames[1].size() != 8) continue;
    const int64_t seq = GetSeq(frames[1]);
    const int64_t last = last_seq_.load();
    if (last >= 0 && seq <= last) {
      // The replica restarted (its numbering began again): what we knew is gone.
      Forget();
    } else if (seq > last + 1 && !Replay(last + 1, seq)) {
      // A gap replay could not fill: forget rather than keep a wrong picture.
      Forget();
    }
    Apply(frames[2]);
    last_seq_.store(seq);
  }
}

}  // namespace radixlm::router
