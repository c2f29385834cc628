// BlockStore: the KV tiers that outlive the process, behind one interface: a
// local directory (directory_block_store.h) and Redis shared by replicas
// (redis_block_store.h). The host tier is slot-addressed instead (the engine
// keeps its own slab and kvcache::TierIndex, engine/kv_tiers.h;
// host_block_pool.h is a standalone pool of the same shape).
//
// A block is one full KV page of every layer (block_bytes, fixed per store),
// keyed by its chained block hash (kvcache/block_hash.h); blocks are immutable,
// so a hash names the same bytes forever. Stored blocks are framed and checked
// (block_format.h): a block that fails a check is a miss, never served.
//
// What the engine can rely on:
//   Put    never blocks on I/O: it copies the payload into the store's bounded
//          write queue (the caller may reuse its buffer at once) and returns;
//          a writer thread stores it later. A full queue drops the block and
//          counts it (puts_dropped): a tier is a cache, the block is
//          recomputable, and the step loop must not wait for a disk.
//   Get    synchronous, into the caller's buffer; call it from a worker, never
//          from the step thread (a disk read or a Redis round trip). Any
//          number of threads may call it at once. A block still in the write
//          queue is served from there. Every failure is a miss with a Status
//          saying why: NOT_FOUND (absent: never stored, evicted, expired),
//          DATA_LOSS (a defective block: block_format.h; dropped where the
//          store can), UNAVAILABLE (the disk or Redis failed); each counted.
//          On failure the contents of `out` are unspecified.
//   CountHeld  how many of a prompt's hashes, from the first, the store holds
//          now (a hint for matching: a later Get may still miss).
//   Flush  waits until every write queued before it is done (tests, shutdown).
// The destructor finishes the queued writes, then joins the writer thread.
//
// Put's payload and Get's buffer are block_bytes long (a precondition,
// CHECKed: the engine's page buffers are, by construction).
//
// Thread safety: every method may be called from any thread at once.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <span>
#include <string>

#include "core/status.h"
#include "kvcache/types.h"
#include "kvtier/block_format.h"

namespace radixlm::kvtier {

struct BlockHashHasher {
  size_t operator()(const BlockHash& h) const { return static_cast<size_t>(h.lo); }
};

enum class BlockPut {
  kQueued,   // a writer thread will store it
  kHeld,     // the store holds it already, or is writing it (a directory hit is touched)
  kDropped,  // the write queue was full: not stored (counted)
};

// Counters since the store opened. Every Get is exactly one of hits, misses,
// read_errors or a defect; every Put one of puts_queued, puts_held or
// puts_dropped; every queued put ends as one write or one write error (or, rarely,
// nothing: the block was stored by an earlier write meanwhile).
struct BlockStoreStats {
  int64_t puts = 0;
  int64_t puts_queued = 0;
  int64_t puts_held = 0;
  int64_t puts_dropped = 0;   // the write queue was full
  int64_t writes = 0;         // blocks stored by the writer thread
  int64_t write_errors = 0;   // disk or Redis failures while storing
  int64_t bytes_written = 0;  // frames (header + payload)
  int64_t gets = 0;
  int64_t hits = 0;
  int64_t misses = 0;                       // absent
  int64_t read_errors = 0;                  // disk or Redis failures while reading
  int64_t defects[kBlockDefectCount] = {};  // by BlockDefect
  int64_t bytes_read = 0;                   // payload bytes served
  int64_t evictions = 0;                    // removed to stay within capacity (directory)
  int64_t blocks = -1;                      // held now; -1 where unknown (Redis)
  int64_t bytes = -1;                       // frames' bytes held now; -1 where unknown
  int64_t queued = 0;                       // writes waiting or in progress now
  std::string last_error;                   // the last read or write error, "" if none

  int64_t defects_total() const;
  int64_t defects_of(BlockDefect d) const { return defects[static_cast<int>(d)]; }
};

// Told which blocks a store gained and lost, for KV events (engine/kv_tiers.h
// passes them on with the store's medium). Stored: a block written (and, when
// the listener is set, every block a directory already holds: a restart's).
// Removed: a block deleted to make room, found defective, or found missing by
// a Get (how a store that evicts on its own, Redis, is noticed). Called from
// the store's threads (its writer, Get's callers): thread-safe, returns at once.
class BlockStoreListener {
 public:
  virtual ~BlockStoreListener() = default;
  virtual void OnBlocksStored(std::span<const BlockHash> hashes) = 0;
  virtual void OnBlocksRemoved(std::span<const BlockHash> hashes) = 0;
};

class BlockStore {
 public:
  virtual ~BlockStore() = default;

  // Not owned; outlives the store. Set once, before the first Put.
  virtual void SetListener(BlockStoreListener* listener) { listener_ = listener; }

  // Payload bytes of every block (one page of every layer).
  virtual int64_t block_bytes() const = 0;
  // Queues a copy of `payload` (block_bytes) to be stored under `hash`.
  virtual BlockPut Put(const BlockHash& hash, std::span<const std::byte> payload) = 0;
  // Reads block `hash` into `out` (block_bytes): OK on a hit, else a miss.
  virtual Status Get(const BlockHash& hash, std::span<std::byte> out) = 0;
  // The length of the leading run of `hashes` the store holds (or is writing).
  // The directory answers from memory (microseconds); Redis in one pipelined
  // round trip (UNAVAILABLE when it is down).
  virtual StatusOr<int64_t> CountHeld(std::span<const BlockHash> hashes) = 0;
  // Whether CountHeld answers from memory (cheap enough for the step thread).
  virtual bool counts_in_memory() const { return false; }
  virtual void Flush() = 0;
  // Puts the write queue takes now without dropping (a caller that can hold a
  // block a while, as the host tier can, waits for room instead of losing it).
  virtual int64_t queue_room() const = 0;
  virtual BlockStoreStats stats() const = 0;

 protected:
  BlockStoreListener* listener() const { return listener_; }

 private:
  BlockStoreListener* listener_ = nullptr;
};

// Implementation helpers: the counters behind BlockStoreStats, and the last
// error (logged at most once per 10 s, so a dead disk does not flood the log).
class BlockStoreCounters {
 public:
  explicit BlockStoreCounters(std::string store_name) : name_(std::move(store_name)) {}

  std::atomic<int64_t> puts{0}, puts_queued{0}, puts_held{0}, puts_dropped{0};
  std::atomic<int64_t> writes{0}, write_errors{0}, bytes_written{0};
  std::atomic<int64_t> gets{0}, hits{0}, misses{0}, read_errors{0}, bytes_read{0};
  std::atomic<int64_t> defects[kBlockDefectCount] = {};
  std::atomic<int64_t> evictions{0};

  void CountDefect(BlockDefect d) { ++defects[static_cast<int>(d)]; }
  // Remembers (and maybe logs) a read or write error.
  void NoteError(const Status& status);
  // Everything but blocks, bytes and queued.
  BlockStoreStats Snapshot() const;

 private:
  const std::string name_;
  mutable std::mutex mu_;
  std::string last_error_;
  std::chrono::steady_clock::time_point next_log_{};
  int64_t unlogged_ = 0;
};

}  // namespace radixlm::kvtier
