#include "kvtier/block_store.h"

#include "core/logging.h"

namespace radixlm::kvtier {

int64_t BlockStoreStats::defects_total() const {
  int64_t total = 0;
  for (int64_t d : defects) total += d;
  return total;
}

void BlockStoreCounters::NoteError(const Status& status) {
  std::lock_guard<std::mutex> lock(mu_);
  last_error_ = status.ToString();
  const auto now = std::chrono::steady_clock::now();
  if (now < next_log_) {
    ++unlogged_;
    return;
  }
  // A failing disk fails every call: one line per 10 s says so without flooding.
  next_log_ = now + std::chrono::seconds(10);
  LOG(WARNING) << name_ << " KV store: " << last_error_ << " (a miss; " << unlogged_
               << " more errors since the last report)";
  unlogged_ = 0;
}

BlockStoreStats BlockStoreCounters::Snapshot() const {
  BlockStoreStats s;
  s.puts = puts.load();
  s.puts_queued = puts_queued.load();
  s.puts_held = puts_held.load();
  s.puts_dropped = puts_dropped.load();
  s.writes = writes.load();
  s.write_errors = write_errors.load();
  s.bytes_written = bytes_written.load();
  s.gets = gets.load();
  s.hits = hits.load();
  s.misses = misses.load();
  s.read_errors = read_errors.load();
  s.bytes_read = bytes_read.load();
  for (int i = 0; i < kBlockDefectCount; ++i) s.defects[i] = defects[i].load();
  s.evictions = evictions.load();
  std::lock_guard<std::mutex> lock(mu_);
  s.last_error = last_error_;
  return s;
}

}  // namespace radixlm::kvtier
