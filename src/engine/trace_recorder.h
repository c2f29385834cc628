// TraceRecorder: `radixlm serve --record-trace FILE` writes the server's own
// requests as a hash-block trace (docs/TRACES.md), so that
// `radixlm sim run --trace FILE --block-tokens B --capacity-pages N` replays
// them through the real cache and shows what another size or policy would keep.
//
// One JSON line per request, in arrival order:
//   {"timestamp": MS, "input_length": N, "output_length": M, "hash_ids": [...]}
// timestamp: milliseconds since the recorder opened; hash_ids: one per block of
// `block_tokens` prompt tokens (the last possibly partial), each the chained
// content hash of the namespace and every token up to the block's end
// (kvcache/block_hash.h), numbered in order of first appearance. Equal ids mean
// the same namespace and the same tokens from the prompt's start, so sharing
// survives exactly while neither token ids nor text are written.
//
// A request's line is written once it has finished (output_length is then
// known: the tokens generated, for every sample together), and only after every
// request that arrived before it, so the file stays in arrival order. Lines are
// flushed as they are written; Close (or the destructor) writes the requests
// still running with the output they had.
//
// Memory: one 16-byte hash and id per distinct block seen (about 40 MB per
// million distinct blocks), plus the requests in flight. Thread-safe.
#pragma once

#include <cstdint>
#include <cstdio>
#include <deque>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/status.h"
#include "kvcache/types.h"

namespace radixlm::engine {

class TraceRecorder {
 public:
  static StatusOr<std::unique_ptr<TraceRecorder>> Open(const std::string& path,
                                                       int32_t block_tokens);
  ~TraceRecorder();

  // A request arrived; returns its ticket for Finish.
  uint64_t Arrive(std::string_view ns, std::span<const int32_t> prompt);
  // It finished (or failed, or was cancelled) after `output_tokens` tokens.
  void Finish(uint64_t ticket, int64_t output_tokens);
  // It was refused before it ran: no line.
  void Drop(uint64_t ticket);
  // Writes every pending line, finished or not; later calls do nothing.
  void Close();

  int64_t written() const;

 private:
  TraceRecorder(std::FILE* file, int32_t block_tokens);
  void End(uint64_t ticket, int64_t output_tokens, bool drop);
  void WriteReadyLocked();

  struct Pending {
    uint64_t ticket = 0;
    std::string head;  // the line up to output_length
    std::string ids;   // ", "hash_ids": [...]}"
    int64_t output_tokens = 0;
    bool finished = false;
    bool dropped = false;
  };
  struct HashOf {
    size_t operator()(const kvcache::BlockHash& h) const;
  };

  mutable std::mutex mu_;
  std::FILE* file_;
  const int32_t block_tokens_;
  const int64_t start_ns_;
  uint64_t next_ticket_ = 0;
  std::deque<Pending> pending_;  // arrival order; front is the oldest
  std::unordered_map<kvcache::BlockHash, int64_t, HashOf> ids_;
  int64_t written_ = 0;
  bool closed_ = false;
};

}  // namespace radixlm::engine
