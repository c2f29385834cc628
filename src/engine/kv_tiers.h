// KvTiers: the KV tiers below the device pool as the engine uses them:
//
//   host    whole pages in host memory (Backend::AllocateHost: pinned on a GPU),
//           sized by `serve --host-cache`;
//   store   under it, optionally, a tier that outlives the process: a local
//           directory (`--disk-cache`) or Redis shared by replicas
//           (`--kv-redis-url`), kvtier/block_store.h: checksummed blocks keyed
//           by the model's KV fingerprint and the block hash.
//
// Which blocks the host tier holds is kvcache::TierStack's (tier_stack.h); this
// class performs the moves through the backend (Backend::ExportPages,
// ImportPages) and the store, and counts them. Blocks are full pages keyed by
// their chained block hash (kvcache/block_hash.h, the hash of KV events), so a
// block is the same KV wherever it is found. The scheduler (scheduler.h) calls:
//
//   HeldFrom   ranking: how far a prompt's cached prefix goes on in the host
//              tier (blocks being loaded into it do not count yet), from the
//              first page the device does not hold
//   Prefetch   ranking, with a store: the pages after that which the store
//              holds are read into host slots by the loader threads
//              (store_readers of them, never the step thread); returns how
//              many of the prompt's next pages are on their way, so the
//              request waits for them (as for in-batch sharing) instead of
//              computing them. How far the store holds the prompt is asked
//              once per request: a store that answers from memory (the
//              directory) at once; otherwise (Redis, a round trip) on a loader
//              thread, Prefetch returning kProbing until the answer is in (the
//              request waits for it too; Forget drops it)
//   Load       admission: host pages copied into fresh device pages (which the
//              scheduler then inserts into the prefix cache, so the request
//              matches them as it matches any cached page)
//   Use        pages a sequence computed or matched on the device, once full:
//              each use marks the host's copy recent, and a block the host does
//              not hold is written through to it (device to host, once per
//              block: evicting the device's page later costs nothing). A full
//              host tier drops its least recently used block. With a store, a
//              block is also written to it (asynchronously, through the
//              store's bounded queue) when the host takes it (store admission
//              "all") or when a second request uses it ("second-hit")
//   Poll       each step (and when idle): hands the store the host slots whose
//              exports are done (Backend::HostCopyDone: never waits for the
//              device) while its write queue has room (the rest wait in their
//              host slots for a later poll; a slot the host reuses first
//              drops its write), and makes the finished loads visible (a
//              failed or corrupt read is a miss: the slot is freed)
//   Clear      a cache flush: the host tier forgets every block (the store
//              keeps its blocks: other replicas and restarts share them)
//
// KV events (options.events): a block is reported stored in the host tier
// (medium options.host_medium) once it is ready to load (written through, or
// read from the store), and removed when the host drops it (evicted, or a
// flush); the store reports its own writes and losses under "DISK" or "REDIS"
// (kvtier::BlockStoreListener), from its threads.
//
// Copies between device and host are ordered with the steps by the backend (a
// load lands before the step that reads it; an export reads the page after the
// step that wrote it), so nothing here waits for the device, except when a host
// slot a copy still uses must be reused by the host's own threads (a store
// read into it, or its block handed to the store before the copy is done):
// each slot keeps the mark of its last copy (Backend::HostCopyMark), and only
// a slot whose copy is not yet done makes the step thread wait (rare: the
// least recently used slot is taken). A prefetch takes at most half the host
// tier, so it does not evict the blocks it is loading.
//
// Not thread-safe: the engine's step thread owns it (the loader threads only
// fill slots this class handed them and report back through a queue).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "backend/backend.h"
#include "core/status.h"
#include "engine/kv_tier_options.h"
#include "kvcache/tier_stack.h"
#include "kvcache/types.h"

namespace radixlm::kvtier {
class BlockStore;
class BlockStoreListener;
}  // namespace radixlm::kvtier

namespace radixlm::engine {

class KvTiers {
 public:
  static StatusOr<std::unique_ptr<KvTiers>> Create(const KvTierOptions& options,
                                                   backend::Backend* backend);
  ~KvTiers();

  // Pages [first, result) of a prompt whose page i hashes to hashes[i] are held
  // by the host tier, ready (result == first: none). Touches nothing.
  int64_t HeldFrom(std::span<const kvcache::BlockHash> hashes, int64_t first) const;
  // With a store: starts loading the pages after HeldFrom(hashes, first) that
  // the store holds into the host tier; returns how many pages from there on
  // are loading (0: none; the request need not wait).
  // kProbing: the store is being asked (a round trip on a loader thread);
  // call again after a Poll.
  static constexpr int64_t kProbing = -1;
  // `page_compute_seconds`: what computing a page costs the device now (-1:
  // unknown); with loads_when_faster, a store slower than that a block is not
  // read (one such decision in kExploreEvery reads anyway, so the store's
  // estimate follows it).
  static constexpr int64_t kExploreEvery = 32;
  int64_t Prefetch(std::span<const kvcache::BlockHash> hashes, int64_t first, uint64_t request,
                   double page_compute_seconds = -1);
  // The request no longer waits (admitted, finished): its probe is dropped.
  void Forget(uint64_t request);
  // Whether page `page` of such a prompt is being loaded into the host tier.
  bool LoadingAt(std::span<const kvcache::BlockHash> hashes, int64_t page) const;
  // Waits until a load or probe finishes or `timeout` passes (nothing in
  // flight: returns).
  void WaitForLoads(std::chrono::milliseconds timeout);
  // Copies pages [first, first + into.size()) (held: HeldFrom) into the device
  // pages `into`, marking them used by `request`; *from_store gets how many of
  // them the host had from the store.
  Status Load(std::span<const kvcache::BlockHash> hashes, int64_t first,
              std::span<const kvcache::PageId> into, uint64_t request, int64_t* from_store);
  // Full pages `pages` (device page ids) with hashes `hashes` were computed or
  // matched by `request`: marks each use, writing new blocks through.
  Status Use(std::span<const kvcache::BlockHash> hashes, std::span<const kvcache::PageId> pages,
             uint64_t request);
  void Poll();
  void Clear();

  bool has_store() const { return store_ != nullptr; }
  // Poll has something to finish (puts waiting for their copies, loads), or
  // the store is still writing (what stats() reports is about to change).
  bool busy() const;
  const std::string& store_name() const { return stats_.store; }
  KvTierStats stats() const;

 private:
  enum class SlotState : uint8_t { kIdle, kLoading, kPutPending };
  struct LoadJob {
    kvcache::BlockHash hash;
    kvcache::TierSlot slot;
  };
  struct LoadDone {
    kvcache::BlockHash hash;
    kvcache::TierSlot slot;
    Status status;
    double seconds = 0;  // the store's read
  };
  // A store probe: how many of `hashes` (a prompt's pages from `first`) the
  // store holds; held kUnanswered until a loader thread's answer is in.
  static constexpr int64_t kUnanswered = -1;
  struct Probe {
    int64_t first = 0;
    int64_t held = kUnanswered;
  };
  struct ProbeJob {
    uint64_t request = 0;
    std::vector<kvcache::BlockHash> hashes;
  };
  struct ProbeDone {
    uint64_t request;
    int64_t held;
  };
  static constexpr int64_t kReady = 0, kLoadingMark = 1;  // TierIndex::ready values

  KvTiers(const KvTierOptions& options, backend::Backend* backend, int64_t blocks,
          backend::Backend::HostMemory memory, std::unique_ptr<kvcache::TierStack> stack);
  std::byte* Slot(kvcache::TierSlot slot) const {
    return memory_.get() + static_cast<size_t>(slot) * static_cast<size_t>(block_bytes_);
  }
  kvcache::TierIndex& host() { return stack_->tier(1); }
  const kvcache::TierIndex& host() const { return stack_->tier(1); }
  bool Ready(const kvcache::BlockHash& hash) const;
  // Before `slot` takes another block: the load filling it finished, the
  // store given what an export put there.
  void Settle(kvcache::TierSlot slot);
  // Hands the store the pending puts whose exports are done while its queue
  // has room (all: waiting for the copies first, and dropped where it has none).
  void FlushPuts(bool all);
  // Before the host's threads write `slot`: its last device copy is done.
  void WaitSlotCopy(kvcache::TierSlot slot);
  // Use's write-throughs collected so far (page_scratch_, out_scratch_,
  // hash_scratch_): enqueues their exports, marks them, and empties the lists.
  Status ExportCollected();
  void ApplyDone(bool wait_all);
  void LoaderLoop();
  // KV events of the host tier: `slot` now holds `hash` ready to load, or
  // dropped what it held; Publish sends what these collected.
  void Announce(kvcache::TierSlot slot, const kvcache::BlockHash& hash);
  void Withdraw(kvcache::TierSlot slot);
  void TakeDrops();
  void Publish();

  KvTierOptions options_;
  backend::Backend* backend_;
  int64_t blocks_;
  int64_t block_bytes_;
  backend::Backend::HostMemory memory_;
  std::unique_ptr<kvcache::TierStack> stack_;
  KvTierStats stats_;
  std::vector<SlotState> state_;     // by host slot
  std::vector<uint8_t> from_store_;  // by host slot: its block came from the store
  std::vector<uint8_t> stored_;      // by host slot: its block was given to the store
  std::vector<uint64_t> slot_mark_;  // by host slot: HostCopyMark after its last copy
  // By host slot: the batch of Use's collected exports that last took it.
  std::vector<uint64_t> export_batch_of_;
  uint64_t export_batch_ = 0;
  // Writes to the store waiting for their exports.
  struct PendingPut {
    kvcache::BlockHash hash;
    kvcache::TierSlot slot;
    uint64_t mark;
  };
  std::vector<PendingPut> puts_;

  // KV events: the hash each host slot was reported holding (announced_[s]),
  // what to publish next, and the store's relay to options_.events.
  std::vector<uint8_t> announced_;
  std::vector<kvcache::BlockHash> announced_hash_;
  struct TierEvent {
    kvcache::BlockHash hash;
    bool stored;
  };
  std::vector<TierEvent> events_;
  std::vector<kvcache::BlockHash> run_;
  std::vector<kvcache::TierBlock> drops_;
  std::unique_ptr<kvtier::BlockStoreListener> store_events_;

  std::unique_ptr<kvtier::BlockStore> store_;
  std::vector<std::thread> loaders_;  // options_.store_readers of them
  std::mutex mu_;
  std::condition_variable wake_, idle_;
  std::deque<LoadJob> jobs_;                    // under mu_
  std::vector<LoadDone> done_;                  // under mu_
  std::deque<ProbeJob> probe_jobs_;             // under mu_
  std::vector<ProbeDone> probes_done_;          // under mu_
  std::unordered_map<uint64_t, Probe> probes_;  // by request: asked or answered
  int64_t probing_ = 0;                         // probes asked and not yet applied
  int64_t slower_decisions_ = 0;                // prefetches the store was too slow for
  std::vector<ProbeDone> probes_scratch_;
  int64_t busy_ = 0;     // jobs taken and not yet in done_, under mu_
  bool stop_ = false;    // under mu_
  int64_t loading_ = 0;  // slots in kLoading

  // Scratch.
  std::vector<kvcache::TierMove> moves_;
  std::vector<int32_t> page_scratch_;
  std::vector<std::byte*> out_scratch_;
  std::vector<const std::byte*> in_scratch_;
  std::vector<kvcache::BlockHash> hash_scratch_;
  std::vector<LoadDone> done_scratch_;
};

}  // namespace radixlm::engine
