#include "engine/kv_tiers.h"

#include <algorithm>
#include <chrono>
#include <optional>

#include "core/check.h"
#include "core/logging.h"
#include "kvcache/cache_events.h"
#include "kvtier/directory_block_store.h"
#include "kvtier/redis_block_store.h"
#include "model/config.h"

namespace radixlm::engine {
namespace {

int64_t Since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() -
                                                              start)
      .count();
}

kvcache::TierOptions HostTierOptions(int64_t blocks, const std::string& admission) {
  kvcache::TierOptions host;
  host.name = "host";
  host.capacity_blocks = blocks;
  host.admission = admission;
  return host;
}

StatusOr<std::unique_ptr<kvtier::BlockStore>> OpenStore(const KvTierOptions& options,
                                                        backend::Backend* backend) {
  const model::ModelConfig& c = backend->config();
  kvtier::KvFingerprint fp;
  fp.model_digest = options.model_digest;
  // The backend's name with its pool's format ("cpu/f32", "cpu/fp8_e4m3",
  // "cuda/bf16"): equal names promise equal bytes, so a server with an FP8 pool
  // never reads an F32 server's blocks, nor the other way round.
  fp.kv_format = std::string(backend->name()) + "/" + std::string(backend->kv_format());
  fp.page_size = static_cast<int32_t>(backend->page_size());
  fp.layers = static_cast<int32_t>(c.num_layers);
  fp.kv_heads = static_cast<int32_t>(c.num_kv_heads);
  fp.head_dim = static_cast<int32_t>(c.head_dim);
  RETURN_IF_ERROR(fp.Validate());
  if (!options.disk_dir.empty()) {
    kvtier::DirectoryBlockStoreOptions d;
    d.dir = options.disk_dir;
    d.fingerprint = fp;
    d.block_bytes = backend->page_bytes();
    d.capacity_bytes = options.disk_bytes;
    d.queue_blocks = options.store_queue_blocks;
    ASSIGN_OR_RETURN(auto store, kvtier::DirectoryBlockStore::Create(d));
    const kvtier::DirectoryOpenReport& r = store->open_report();
    LOG(INFO) << "disk cache " << store->root() << ": " << r.blocks_found << " blocks found"
              << (r.temp_files_removed + r.bad_files_removed > 0
                      ? ", " + std::to_string(r.temp_files_removed + r.bad_files_removed) +
                            " unfinished or bad files removed"
                      : std::string());
    return std::unique_ptr<kvtier::BlockStore>(std::move(store));
  }
  kvtier::RedisBlockStoreOptions r;
  RETURN_IF_ERROR(store::ParseRedisUrl(options.redis_url, &r.redis));
  r.key_prefix = options.redis_prefix;
  r.fingerprint = fp;
  r.block_bytes = backend->page_bytes();
  r.queue_blocks = options.store_queue_blocks;
  ASSIGN_OR_RETURN(auto store, kvtier::RedisBlockStore::Create(r));
  return std::unique_ptr<kvtier::BlockStore>(std::move(store));
}

void UpdateStatus(Status* status, Status next) {
  if (status->ok()) *status = std::move(next);
}

// The store's KV events, passed on under its medium.
class StoreEventRelay final : public kvtier::BlockStoreListener {
 public:
  StoreEventRelay(kvcache::CacheEventSink* sink, std::string medium, int32_t page_size)
      : sink_(sink), medium_(std::move(medium)), page_size_(page_size) {}
  void OnBlocksStored(std::span<const kvcache::BlockHash> hashes) override {
    sink_->OnTierBlocksStored(medium_, hashes, page_size_);
  }
  void OnBlocksRemoved(std::span<const kvcache::BlockHash> hashes) override {
    sink_->OnTierBlocksRemoved(medium_, hashes);
  }

 private:
  kvcache::CacheEventSink* const sink_;
  const std::string medium_;
  const int32_t page_size_;
};

}  // namespace

StatusOr<std::unique_ptr<KvTiers>> KvTiers::Create(const KvTierOptions& options,
                                                   backend::Backend* backend) {
  const int64_t block_bytes = backend->page_bytes();
  if (block_bytes <= 0) {
    return InvalidArgumentError("the " + std::string(backend->name()) +
                                " backend cannot move KV pages to a host cache");
  }
  if (options.host_bytes < block_bytes) {
    return InvalidArgumentError("a host cache of " + std::to_string(options.host_bytes) +
                                " bytes holds no page of " + std::to_string(block_bytes) +
                                " bytes (every layer's K and V of one page)");
  }
  const int64_t blocks = options.host_bytes / block_bytes;
  if (blocks >= (int64_t{1} << 31)) {
    return InvalidArgumentError("a host cache of " + std::to_string(blocks) +
                                " pages is more than the tier's index takes (2^31)");
  }
  if (!options.disk_dir.empty() && !options.redis_url.empty())
    return InvalidArgumentError("give a disk cache or a Redis KV cache, not both");
  if (!options.disk_dir.empty() && options.disk_bytes < block_bytes) {
    return InvalidArgumentError("a disk cache of " + std::to_string(options.disk_bytes) +
                                " bytes holds no page of " + std::to_string(block_bytes) +
                                " bytes");
  }
  if (options.store_admission != "all" && options.store_admission != "second-hit") {
    return InvalidArgumentError("disk or Redis cache admission must be all or second-hit, not '" +
                                options.store_admission + "'");
  }
  ASSIGN_OR_RETURN(auto stack,
                   kvcache::TierStack::Create({HostTierOptions(blocks, options.host_admission)}));
  backend::Backend::HostMemory memory =
      backend->AllocateHost(static_cast<size_t>(blocks) * static_cast<size_t>(block_bytes));
  if (memory == nullptr) {
    return ResourceExhaustedError("could not allocate " + std::to_string(blocks * block_bytes) +
                                  " bytes of host memory for the host cache");
  }
  std::unique_ptr<KvTiers> tiers(
      new KvTiers(options, backend, blocks, std::move(memory), std::move(stack)));
  if (!options.disk_dir.empty() || !options.redis_url.empty()) {
    ASSIGN_OR_RETURN(tiers->store_, OpenStore(options, backend));
    tiers->stats_.store = options.disk_dir.empty() ? "redis" : "disk";
    if (options.events != nullptr) {
      tiers->store_events_ = std::make_unique<StoreEventRelay>(
          options.events, options.disk_dir.empty() ? "REDIS" : "DISK",
          static_cast<int32_t>(backend->page_size()));
      tiers->store_->SetListener(tiers->store_events_.get());
    }
    for (int64_t i = 0; i < std::max<int64_t>(options.store_readers, 1); ++i) {
      tiers->loaders_.emplace_back([t = tiers.get()] { t->LoaderLoop(); });
    }
  }
  return tiers;
}

KvTiers::KvTiers(const KvTierOptions& options, backend::Backend* backend, int64_t blocks,
                 backend::Backend::HostMemory memory, std::unique_ptr<kvcache::TierStack> stack)
    : options_(options),
      backend_(backend),
      blocks_(blocks),
      block_bytes_(backend->page_bytes()),
      memory_(std::move(memory)),
      stack_(std::move(stack)),
      state_(static_cast<size_t>(blocks), SlotState::kIdle),
      from_store_(static_cast<size_t>(blocks), 0),
      stored_(static_cast<size_t>(blocks), 0),
      slot_mark_(static_cast<size_t>(blocks), 0),
      export_batch_of_(static_cast<size_t>(blocks), 0) {
  if (options_.events != nullptr) {
    announced_.assign(static_cast<size_t>(blocks), 0);
    announced_hash_.resize(static_cast<size_t>(blocks));
    stack_->set_drop_log(&drops_);
  }
  stats_.host_capacity_blocks = blocks;
  stats_.block_bytes = block_bytes_;
}

KvTiers::~KvTiers() {
  if (!loaders_.empty()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    for (std::thread& t : loaders_) t.join();
  }
  // What the host holds for the store goes to it; its destructor finishes the writes.
  if (store_ != nullptr) FlushPuts(/*all=*/true);
}

bool KvTiers::Ready(const kvcache::BlockHash& hash) const {
  const kvcache::TierSlot slot = host().Find(hash);
  return slot != kvcache::kNoSlot && host().ready(slot) == kReady;
}

int64_t KvTiers::HeldFrom(std::span<const kvcache::BlockHash> hashes, int64_t first) const {
  int64_t page = first;
  while (page < static_cast<int64_t>(hashes.size()) && Ready(hashes[static_cast<size_t>(page)])) {
    ++page;
  }
  return page;
}

int64_t KvTiers::Prefetch(std::span<const kvcache::BlockHash> hashes, int64_t first,
                          uint64_t request, double page_compute_seconds) {
  if (store_ == nullptr) return 0;
  const int64_t n = static_cast<int64_t>(hashes.size());
  const int64_t start = HeldFrom(hashes, first);
  int64_t page = start;
  // Pages already on their way.
  while (page < n) {
    const kvcache::TierSlot slot = host().Find(hashes[static_cast<size_t>(page)]);
    if (slot == kvcache::kNoSlot || host().ready(slot) != kLoadingMark) break;
    ++page;
  }
  if (page >= n) return page - start;
  // At most half the host tier loads at once, so a long prefetch does not
  // evict the blocks it is loading.
  const int64_t room = std::max<int64_t>(blocks_ / 2, 1) - loading_;
  if (room <= 0) return page - start;
  // Whether the device computes a page sooner than the store reads one (one
  // such decision in kExploreEvery reads anyway, to keep the estimate current).
  auto slower = [&] {
    return options_.loads_when_faster && page_compute_seconds > 0 &&
           stats_.store_read_seconds > 0 &&
           stats_.store_read_seconds / static_cast<double>(loaders_.size()) >
               page_compute_seconds &&
           ++slower_decisions_ % kExploreEvery != 0;
  };
  int64_t held = 0;
  if (store_->counts_in_memory()) {
    StatusOr<int64_t> counted = store_->CountHeld(hashes.subspan(static_cast<size_t>(page)));
    held = counted.ok() ? *counted : 0;
    if (held > 0 && slower()) {
      stats_.store_skipped_blocks += held;
      return page - start;
    }
  } else {
    // A round trip (Redis): asked on the loader thread, never here; the
    // request waits for the answer, which Poll brings. A store slower than
    // computing is not asked at all.
    auto it = probes_.find(request);
    if (it == probes_.end()) {
      if (slower()) {
        ++stats_.store_skipped_requests;
        return page - start;
      }
      probes_.emplace(request, Probe{page, kUnanswered});
      {
        std::lock_guard<std::mutex> lock(mu_);
        probe_jobs_.push_back(
            {request, std::vector<kvcache::BlockHash>(hashes.begin() + page, hashes.end())});
      }
      ++probing_;
      wake_.notify_all();
      return kProbing;
    }
    if (it->second.held == kUnanswered) return kProbing;
    // Counted from the page the probe started at; the cache may have moved on.
    held = std::max<int64_t>(it->second.first + it->second.held - page, 0);
    probes_.erase(it);
  }
  if (held <= 0) return page - start;
  const int64_t end = page + std::min(held, room);
  int64_t queued = 0;
  for (; page < end; ++page) {
    const kvcache::BlockHash& hash = hashes[static_cast<size_t>(page)];
    kvcache::TierSlot slot = kvcache::kNoSlot;
    std::optional<kvcache::TierBlock> evicted;
    // Offered as used twice: the store holds it because a request used it
    // before, so second-hit admission takes it.
    const kvcache::TierPut put =
        host().Put(hash, request, /*uses=*/2, kLoadingMark, &slot, &evicted);
    if (put != kvcache::TierPut::kStored) break;  // held already (a race with a write) or refused
    if (evicted.has_value()) Withdraw(evicted->slot);
    Settle(slot);
    WaitSlotCopy(slot);
    state_[static_cast<size_t>(slot)] = SlotState::kLoading;
    from_store_[static_cast<size_t>(slot)] = 1;
    stored_[static_cast<size_t>(slot)] = 1;
    ++loading_;
    {
      std::lock_guard<std::mutex> lock(mu_);
      jobs_.push_back({hash, slot});
    }
    ++queued;
  }
  if (queued > 0) wake_.notify_all();
  Publish();
  return page - start;
}

bool KvTiers::LoadingAt(std::span<const kvcache::BlockHash> hashes, int64_t page) const {
  if (loading_ == 0 || page < 0 || page >= static_cast<int64_t>(hashes.size())) return false;
  const kvcache::TierSlot slot = host().Find(hashes[static_cast<size_t>(page)]);
  return slot != kvcache::kNoSlot && host().ready(slot) == kLoadingMark;
}

void KvTiers::WaitForLoads(std::chrono::milliseconds timeout) {
  if (loading_ == 0 && probing_ == 0) return;
  std::unique_lock<std::mutex> lock(mu_);
  idle_.wait_for(lock, timeout, [&] { return !done_.empty() || !probes_done_.empty() || stop_; });
}

void KvTiers::Forget(uint64_t request) {
  if (!probes_.empty()) probes_.erase(request);
}

Status KvTiers::Load(std::span<const kvcache::BlockHash> hashes, int64_t first,
                     std::span<const kvcache::PageId> into, uint64_t request, int64_t* from_store) {
  const auto start = std::chrono::steady_clock::now();
  page_scratch_.clear();
  in_scratch_.clear();
  *from_store = 0;
  for (size_t i = 0; i < into.size(); ++i) {
    const kvcache::BlockHash& hash = hashes[static_cast<size_t>(first) + i];
    const kvcache::TierSlot slot = host().Find(hash);
    if (slot == kvcache::kNoSlot || host().ready(slot) != kReady)
      return InternalError("Load: a page the host tier does not hold ready");
    moves_.clear();
    stack_->Use(hash, request, /*level=*/1, &moves_);  // held: marks the use, moves nothing
    CHECK(moves_.empty());
    page_scratch_.push_back(into[i]);
    in_scratch_.push_back(Slot(slot));
    *from_store += from_store_[static_cast<size_t>(slot)];
  }
  Status status = backend_->ImportPages(page_scratch_, in_scratch_);
  const uint64_t mark = backend_->HostCopyMark();
  for (const std::byte* slot : in_scratch_) {
    slot_mark_[static_cast<size_t>((slot - memory_.get()) / block_bytes_)] = mark;
  }
  if (status.ok()) stats_.loaded_blocks += static_cast<int64_t>(into.size());
  stats_.copy_ns += Since(start);
  return status;
}

Status KvTiers::Use(std::span<const kvcache::BlockHash> hashes,
                    std::span<const kvcache::PageId> pages, uint64_t request) {
  const auto start = std::chrono::steady_clock::now();
  page_scratch_.clear();
  out_scratch_.clear();
  hash_scratch_.clear();
  ++export_batch_;
  const bool second_hit = options_.store_admission == "second-hit";
  Status status = OkStatus();
  for (size_t i = 0; i < pages.size(); ++i) {
    moves_.clear();
    stack_->Use(hashes[i], request, kvcache::kDeviceLevel, &moves_);
    TakeDrops();
    for (const kvcache::TierMove& move : moves_) {
      // One tier: the only moves are write-throughs from the device.
      CHECK(move.from == kvcache::kDeviceLevel && move.to == 1);
      const size_t s = static_cast<size_t>(move.to_slot);
      // The slot took a block earlier in this call (a host tier smaller than
      // the call's pages): that export must be enqueued before the slot is
      // settled, or its pending put would hand the store the slot's old bytes.
      if (export_batch_of_[s] == export_batch_) {
        UpdateStatus(&status, ExportCollected());
        ++export_batch_;
      }
      Settle(move.to_slot);
      from_store_[s] = 0;
      stored_[s] = 0;
      export_batch_of_[s] = export_batch_;
      page_scratch_.push_back(pages[i]);
      out_scratch_.push_back(Slot(move.to_slot));
      hash_scratch_.push_back(hashes[i]);
      if (store_ != nullptr && !second_hit) {
        puts_.push_back({hashes[i], move.to_slot, 0});  // its mark: after the export
        state_[s] = SlotState::kPutPending;
      }
    }
    if (moves_.empty() && store_ != nullptr && second_hit) {
      // Held: a second request's use sends it to the store (once).
      const kvcache::TierSlot slot = host().Find(hashes[i]);
      const size_t s = static_cast<size_t>(slot);
      if (slot != kvcache::kNoSlot && host().ready(slot) == kReady && host().uses(slot) >= 2 &&
          !stored_[s] && state_[s] == SlotState::kIdle) {
        puts_.push_back({hashes[i], slot, std::max<uint64_t>(slot_mark_[s], 1)});
        state_[s] = SlotState::kPutPending;
      }
    }
  }
  UpdateStatus(&status, ExportCollected());
  stats_.copy_ns += Since(start);
  Publish();
  return status;
}

Status KvTiers::ExportCollected() {
  if (page_scratch_.empty()) return OkStatus();
  Status status = backend_->ExportPages(page_scratch_, out_scratch_);
  const uint64_t mark = backend_->HostCopyMark();
  for (const std::byte* slot : out_scratch_) {
    slot_mark_[static_cast<size_t>((slot - memory_.get()) / block_bytes_)] = mark;
  }
  for (PendingPut& p : puts_) {
    if (p.mark == 0) p.mark = mark;
  }
  if (status.ok()) {
    stats_.written_blocks += static_cast<int64_t>(page_scratch_.size());
    for (size_t i = 0; i < out_scratch_.size(); ++i) {
      const auto slot =
          static_cast<kvcache::TierSlot>((out_scratch_[i] - memory_.get()) / block_bytes_);
      if (host().Find(hash_scratch_[i]) == slot) Announce(slot, hash_scratch_[i]);
    }
  } else {
    // The slots were promised blocks that never arrived: forget them.
    for (const kvcache::BlockHash& hash : hash_scratch_) {
      const kvcache::TierSlot slot = host().Find(hash);
      if (slot != kvcache::kNoSlot) state_[static_cast<size_t>(slot)] = SlotState::kIdle;
      host().Erase(hash);
    }
    std::erase_if(puts_, [&](const PendingPut& p) { return host().Find(p.hash) != p.slot; });
  }
  page_scratch_.clear();
  out_scratch_.clear();
  hash_scratch_.clear();
  return status;
}

void KvTiers::Settle(kvcache::TierSlot slot) {
  const SlotState state = state_[static_cast<size_t>(slot)];
  if (state == SlotState::kLoading) ApplyDone(/*wait_all=*/true);
  if (state == SlotState::kPutPending) FlushPuts(/*all=*/true);
}

void KvTiers::WaitSlotCopy(kvcache::TierSlot slot) {
  if (backend_->HostCopyDone(slot_mark_[static_cast<size_t>(slot)])) return;
  Status s = backend_->WaitHostCopies();
  if (!s.ok()) {
    LOG(WARNING) << "waiting for host cache copies: " << s.ToString();
  }
}

void KvTiers::FlushPuts(bool all) {
  if (puts_.empty()) return;
  Status s = all ? backend_->WaitHostCopies() : OkStatus();
  // A slot with a put pending is rewritten only after Settle flushed it, so it
  // still holds the block named here, even if the index has let it go.
  size_t kept = 0;
  for (size_t i = 0; i < puts_.size(); ++i) {
    const PendingPut p = puts_[i];
    const size_t slot = static_cast<size_t>(p.slot);
    if (state_[slot] != SlotState::kPutPending) continue;
    if (!all && (!backend_->HostCopyDone(p.mark) || store_->queue_room() <= 0)) {
      // Its export is still running, or the store's write queue is full: the
      // host slot keeps the block until a later poll finds room (a burst of
      // pages, a long prompt's, is written as fast as the store writes, not
      // dropped). Settling the slot for another block drops it instead.
      puts_[kept++] = p;
      continue;
    }
    state_[slot] = SlotState::kIdle;
    if (!s.ok()) continue;
    store_->Put(p.hash,
                std::span<const std::byte>(Slot(p.slot), static_cast<size_t>(block_bytes_)));
    stored_[slot] = 1;
    ++stats_.store_put_blocks;
  }
  if (!s.ok()) {
    LOG(WARNING) << "host cache copies failed; blocks not stored: " << s.ToString();
  }
  puts_.resize(kept);
}

void KvTiers::ApplyDone(bool wait_all) {
  {
    std::unique_lock<std::mutex> lock(mu_);
    // Loads only: a probe (a Redis round trip) never holds the step thread up.
    if (wait_all) idle_.wait(lock, [&] { return jobs_.empty() && busy_ == 0; });
    done_scratch_.swap(done_);
    probes_scratch_.swap(probes_done_);
  }
  for (const ProbeDone& d : probes_scratch_) {
    --probing_;
    auto it = probes_.find(d.request);
    if (it != probes_.end()) it->second.held = d.held;  // else: admitted or gone meanwhile
  }
  probes_scratch_.clear();
  for (const LoadDone& d : done_scratch_) {
    const size_t s = static_cast<size_t>(d.slot);
    if (state_[s] == SlotState::kLoading) {
      state_[s] = SlotState::kIdle;
      --loading_;
    }
    if (host().Find(d.hash) != d.slot) continue;  // forgotten meanwhile (a flush)
    if (d.status.ok()) {
      // The read time a block, averaged (a new read weighs 1/8).
      double& avg = stats_.store_read_seconds;
      avg = avg < 0 ? d.seconds : avg + 0.125 * (d.seconds - avg);
      host().set_ready(d.slot, kReady);
      Announce(d.slot, d.hash);
      ++stats_.store_loaded_blocks;
    } else {
      host().Erase(d.hash);  // a miss: computed instead
    }
  }
  done_scratch_.clear();
  Publish();
}

void KvTiers::Poll() {
  if (store_ == nullptr) return;
  FlushPuts(/*all=*/false);
  if (loading_ > 0 || probing_ > 0) ApplyDone(/*wait_all=*/false);
}

void KvTiers::LoaderLoop() {
  while (true) {
    LoadJob job;
    ProbeJob probe;
    bool probing = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [&] { return stop_ || !jobs_.empty() || !probe_jobs_.empty(); });
      if (!probe_jobs_.empty()) {
        // Probes first: a request waits on each, and each is one round trip.
        probe = std::move(probe_jobs_.front());
        probe_jobs_.pop_front();
        probing = true;
      } else {
        if (jobs_.empty()) return;  // stopping
        job = jobs_.front();
        jobs_.pop_front();
        ++busy_;  // loads only (ApplyDone may wait for them)
      }
    }
    if (probing) {
      StatusOr<int64_t> held = store_->CountHeld(probe.hashes);
      {
        std::lock_guard<std::mutex> lock(mu_);
        probes_done_.push_back({probe.request, held.ok() ? *held : 0});
      }
      idle_.notify_all();
      continue;
    }
    const auto read_start = std::chrono::steady_clock::now();
    Status status = store_->Get(
        job.hash, std::span<std::byte>(Slot(job.slot), static_cast<size_t>(block_bytes_)));
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - read_start).count();
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_.push_back({job.hash, job.slot, std::move(status), seconds});
      --busy_;
    }
    idle_.notify_all();
  }
}

void KvTiers::Clear() {
  if (store_ != nullptr) {
    ApplyDone(/*wait_all=*/true);
    FlushPuts(/*all=*/true);
  }
  for (size_t slot = 0; slot < announced_.size(); ++slot) {
    Withdraw(static_cast<kvcache::TierSlot>(slot));
  }
  Publish();
  auto stack = kvcache::TierStack::Create({HostTierOptions(blocks_, options_.host_admission)});
  CHECK(stack.ok()) << stack.status().ToString();
  // Counters of the old stack carry over.
  const kvcache::TierStats& old = stack_->stats(1);
  stats_.evicted_blocks += old.blocks_evicted;
  stats_.refused_blocks += old.blocks_refused;
  stack_ = std::move(*stack);
  if (options_.events != nullptr) stack_->set_drop_log(&drops_);
  std::fill(state_.begin(), state_.end(), SlotState::kIdle);
  std::fill(from_store_.begin(), from_store_.end(), 0);
  std::fill(stored_.begin(), stored_.end(), 0);
  loading_ = 0;
}

KvTierStats KvTiers::stats() const {
  KvTierStats s = stats_;
  s.host_blocks = host().blocks();
  s.evicted_blocks += stack_->stats(1).blocks_evicted;
  s.refused_blocks += stack_->stats(1).blocks_refused;
  s.store_loading_blocks = loading_;
  if (store_ != nullptr) {
    const kvtier::BlockStoreStats b = store_->stats();
    s.store_misses = b.misses;
    s.store_defects = b.defects_total();
    s.store_read_errors = b.read_errors;
    s.store_write_errors = b.write_errors;
    s.store_dropped_puts = b.puts_dropped;
    s.store_blocks = b.blocks;
  }
  return s;
}

bool KvTiers::busy() const {
  return !puts_.empty() || loading_ > 0 || probing_ > 0 ||
         (store_ != nullptr && store_->stats().queued > 0);
}

void KvTiers::Announce(kvcache::TierSlot slot, const kvcache::BlockHash& hash) {
  if (options_.events == nullptr) return;
  const size_t s = static_cast<size_t>(slot);
  if (announced_[s]) Withdraw(slot);  // (its old block left unannounced: not expected)
  announced_[s] = 1;
  announced_hash_[s] = hash;
  events_.push_back({hash, true});
}

void KvTiers::Withdraw(kvcache::TierSlot slot) {
  if (options_.events == nullptr) return;
  const size_t s = static_cast<size_t>(slot);
  if (!announced_[s]) return;
  announced_[s] = 0;
  events_.push_back({announced_hash_[s], false});
}

void KvTiers::TakeDrops() {
  for (const kvcache::TierBlock& b : drops_) Withdraw(b.slot);
  drops_.clear();
}

void KvTiers::Publish() {
  if (options_.events == nullptr) return;
  // In order, runs of one kind per call: a slot that took a block and dropped
  // it within one call reports both, in that order.
  for (size_t i = 0; i < events_.size();) {
    const bool stored = events_[i].stored;
    run_.clear();
    for (; i < events_.size() && events_[i].stored == stored; ++i) run_.push_back(events_[i].hash);
    if (stored) {
      options_.events->OnTierBlocksStored(options_.host_medium, run_,
                                          static_cast<int32_t>(backend_->page_size()));
    } else {
      options_.events->OnTierBlocksRemoved(options_.host_medium, run_);
    }
  }
  events_.clear();
}

}  // namespace radixlm::engine
