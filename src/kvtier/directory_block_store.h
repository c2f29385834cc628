// DirectoryBlockStore: KV blocks as files in a local directory, a tier that
// survives restarts (block_store.h has the interface and what every store
// guarantees).
//
// Layout: DIR/<fingerprint hex>/ holds one process's blocks (kv_fingerprint.h:
// another model, KV format or page geometry gets another directory, so it
// never sees these files), with
//   LOCK          flock'ed while a store is open: one process per directory
//                 (a second Create fails with FAILED_PRECONDITION)
//   FINGERPRINT   the fingerprint in words, for people (never read back)
//   ab/<32 hex>.kv  a block (block_format.h frame), named by Hex128 of its
//                 hash; `ab` is the hash's first two hex digits: 256 fan-out
//                 directories keep each one small (a million blocks: ~4,000 a
//                 directory)
//
// Crash consistency: the writer thread writes a block to `<name>.kv.tmp`, then
// renames it into place (atomic), so a block file is whole or absent after a
// process crash. fsync policy (Options::fsync): off by default: the file is
// not forced to disk, so a power loss (not a process crash) may leave a
// renamed file short or zeroed; the checksum makes that a miss, and a cache
// block is recomputable, so the default buys write throughput (an fsync costs
// milliseconds per block) over durability. With fsync on, the file is
// fdatasync'ed before the rename and its directory fsync'ed after, so a block
// acknowledged by the rename survives a power loss. Leftover temp files (a
// crash mid-write) are deleted when the store opens.
//
// Capacity: at most capacity_bytes of block files (each kBlockHeaderBytes +
// block_bytes); storing into a full store first deletes the least recently
// used blocks. A hit, or a Put of a block already held, makes it the most
// recent; a hit also sets the file's mtime, so recency survives a restart.
//
// Open (Create) scans the directory to rebuild the index, so a restarted
// process finds its blocks: every fan-out directory is listed and each block
// file stat'ed (one stat a block; contents are checked on read, not at open),
// recency from mtime. Temp files and block files of the wrong size (or in the
// wrong fan-out directory) are deleted, and if the blocks found exceed the
// capacity (it shrank) the oldest are deleted.
//
// Reads are synchronous, in the calling thread (pread into the caller's
// buffer, then the checksum): the engine reads from its own workers, not the
// step thread, so a reader pool here would only add a hand-off; callers choose
// their parallelism by calling from several threads. Files go through the
// page cache (no O_DIRECT): recently written blocks are read at memory speed.
//
// Failures: a failing disk (EIO, ENOSPC, a directory removed or made
// unwritable) costs only misses and counted errors (stats: read_errors,
// write_errors, last_error; logged at most once per 10 s), never a crash or
// a blocked caller. A block whose file vanished or is defective is dropped
// from the index (a defective file is deleted). A removed directory is
// re-created by the next write. Only Create reports errors: an unusable
// directory at open is the operator's to fix.
//
// Thread safety: every method may be called from any thread at once (one
// mutex guards the index; no I/O under it).
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "kvtier/block_store.h"
#include "kvtier/block_write_queue.h"
#include "kvtier/kv_fingerprint.h"

namespace radixlm::kvtier {

struct DirectoryBlockStoreOptions {
  std::string dir;  // the root; blocks go under dir/<fingerprint hex>/
  KvFingerprint fingerprint;
  int64_t block_bytes = 0;     // payload bytes of a block (> 0)
  int64_t capacity_bytes = 0;  // of block files; holds at least one block
  int64_t queue_blocks = 64;   // writes waiting at most (memory: that many blocks)
  bool fsync = false;          // see the header comment
  Status Validate() const;
};

// What Create found in the directory.
struct DirectoryOpenReport {
  int64_t blocks_found = 0;          // indexed
  int64_t temp_files_removed = 0;    // left by a crash mid-write
  int64_t bad_files_removed = 0;     // block files of the wrong size
  int64_t blocks_over_capacity = 0;  // the oldest, deleted to fit the capacity
};

class DirectoryBlockStore final : public BlockStore {
 public:
  // Creates DIR/<fingerprint hex>/ if needed, locks it, scans it, starts the
  // writer thread. INVALID_ARGUMENT for bad options, FAILED_PRECONDITION when
  // another store holds the lock, UNAVAILABLE when the directory cannot be
  // created, locked or listed.
  static StatusOr<std::unique_ptr<DirectoryBlockStore>> Create(
      const DirectoryBlockStoreOptions& options);
  ~DirectoryBlockStore() override;

  int64_t block_bytes() const override { return options_.block_bytes; }
  BlockPut Put(const BlockHash& hash, std::span<const std::byte> payload) override;
  Status Get(const BlockHash& hash, std::span<std::byte> out) override;
  StatusOr<int64_t> CountHeld(std::span<const BlockHash> hashes) override;
  bool counts_in_memory() const override { return true; }
  void Flush() override;
  int64_t queue_room() const override { return queue_->room(); }
  BlockStoreStats stats() const override;
  // Also announces every block held now (found at open), oldest first.
  void SetListener(BlockStoreListener* listener) override;

  // DIR/<fingerprint hex>
  const std::string& root() const { return root_; }
  // Where block `hash` lives (whether or not it is stored).
  std::string BlockPath(const BlockHash& hash) const;
  const DirectoryOpenReport& open_report() const { return open_report_; }
  // Blocks the store can hold: capacity_bytes / (header + block_bytes).
  int64_t capacity_blocks() const { return capacity_blocks_; }

 private:
  DirectoryBlockStore(const DirectoryBlockStoreOptions& options, std::string root, int lock_fd);
  Status Scan();
  // The writer thread's work for one block.
  void Write(const BlockHash& hash, std::span<std::byte> frame);
  Status WriteFile(const BlockHash& hash, std::span<const std::byte> frame);
  // Drops `hash` from the index (its file is gone or bad); false if absent.
  bool Forget(const BlockHash& hash);
  void Touch(std::list<BlockHash>::iterator it);

  const DirectoryBlockStoreOptions options_;
  const Hash128 fingerprint_digest_;
  const std::string root_;
  const int64_t file_bytes_;
  const int64_t capacity_blocks_;
  int lock_fd_ = -1;
  DirectoryOpenReport open_report_;
  BlockStoreCounters counters_;

  mutable std::mutex mu_;
  std::list<BlockHash> lru_;  // front: most recently used
  std::unordered_map<BlockHash, std::list<BlockHash>::iterator, BlockHashHasher> index_;

  std::unique_ptr<BlockWriteQueue> queue_;  // last: its thread stops first
};

}  // namespace radixlm::kvtier
