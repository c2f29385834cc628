#include "engine/trace_recorder.h"

#include <algorithm>
#include <vector>

#include "core/clock.h"
#include "kvcache/block_hash.h"

namespace radixlm::engine {

size_t TraceRecorder::HashOf::operator()(const kvcache::BlockHash& h) const {
  return static_cast<size_t>(h.lo ^ (h.hi * 0x9E3779B97F4A7C15ull));
}

StatusOr<std::unique_ptr<TraceRecorder>> TraceRecorder::Open(const std::string& path,
                                                             int32_t block_tokens) {
  if (block_tokens < 1)
    return InvalidArgumentError("the trace's block size must be at least 1 token");
  std::FILE* file = std::fopen(path.c_str(), "w");
  if (file == nullptr) return InvalidArgumentError("cannot write the trace file " + path);
  return std::unique_ptr<TraceRecorder>(new TraceRecorder(file, block_tokens));
}

TraceRecorder::TraceRecorder(std::FILE* file, int32_t block_tokens)
    : file_(file), block_tokens_(block_tokens), start_ns_(RealClock::Get().NowNanos()) {}

TraceRecorder::~TraceRecorder() {
  Close();
  std::fclose(file_);
}

uint64_t TraceRecorder::Arrive(std::string_view ns, std::span<const int32_t> prompt) {
  // The chain: full blocks, then the partial last one chained to them.
  std::vector<kvcache::BlockHash> hashes;
  const kvcache::BlockHash last =
      kvcache::AppendBlockHashes(kvcache::NamespaceHash(ns), prompt, block_tokens_, &hashes);
  const size_t tail = prompt.size() % static_cast<size_t>(block_tokens_);
  if (tail != 0) hashes.push_back(kvcache::ChainBlockHash(last, prompt.last(tail)));

  std::lock_guard<std::mutex> lock(mu_);
  // Read under the lock, so that times never decrease down the file.
  const double ms = static_cast<double>(RealClock::Get().NowNanos() - start_ns_) / 1e6;
  char head[128];
  std::snprintf(head, sizeof(head),
                "{\"timestamp\": %.3f, \"input_length\": %zu, \"output_length\": ", ms,
                prompt.size());
  Pending p;
  p.ticket = next_ticket_++;
  p.head = head;
  p.ids = ", \"hash_ids\": [";
  for (size_t i = 0; i < hashes.size(); ++i) {
    const auto [it, inserted] = ids_.try_emplace(hashes[i], static_cast<int64_t>(ids_.size()));
    if (i > 0) p.ids += ", ";
    p.ids += std::to_string(it->second);
  }
  p.ids += "]}\n";
  pending_.push_back(std::move(p));
  return pending_.back().ticket;
}

void TraceRecorder::Finish(uint64_t ticket, int64_t output_tokens) {
  End(ticket, output_tokens, false);
}

void TraceRecorder::Drop(uint64_t ticket) { End(ticket, 0, true); }

void TraceRecorder::End(uint64_t ticket, int64_t output_tokens, bool drop) {
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_ || pending_.empty() || ticket < pending_.front().ticket) return;
  const size_t index = static_cast<size_t>(ticket - pending_.front().ticket);
  if (index >= pending_.size()) return;
  pending_[index].output_tokens = std::max<int64_t>(output_tokens, 0);
  pending_[index].finished = true;
  pending_[index].dropped = drop;
  WriteReadyLocked();
}

void TraceRecorder::WriteReadyLocked() {
  bool wrote = false;
  while (!pending_.empty() && (pending_.front().finished || closed_)) {
    const Pending& p = pending_.front();
    if (!p.dropped) {
      const std::string line = p.head + std::to_string(p.output_tokens) + p.ids;
      std::fwrite(line.data(), 1, line.size(), file_);
      ++written_;
      wrote = true;
    }
    pending_.pop_front();
  }
  if (wrote) std::fflush(file_);
}

void TraceRecorder::Close() {
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) return;
  closed_ = true;
  WriteReadyLocked();
}

int64_t TraceRecorder::written() const {
  std::lock_guard<std::mutex> lock(mu_);
  return written_;
}

}  // namespace radixlm::engine
