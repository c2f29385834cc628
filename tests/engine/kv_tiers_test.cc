// engine/kv_tiers.h against a backend whose page moves are asynchronous, as
// Backend::ExportPages/ImportPages allow (and the CUDA backend does): copies are
// queued and run, in order, at WaitHostCopies; HostCopyMark/HostCopyDone tell
// which are done.
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "backend/backend.h"
#include "engine/kv_tiers.h"
#include "kvcache/cache_events.h"
#include "store/redis_process.h"

namespace radixlm::engine {
namespace {

class DeferredBackend final : public backend::Backend {
 public:
  static constexpr int64_t kPages = 8, kPageSize = 4;
  DeferredBackend() : device_(static_cast<size_t>(kPages * Bytes())) {
    config_.num_layers = 1;
    config_.num_kv_heads = 1;
    config_.head_dim = 4;
    config_.vocab_size = 16;
    config_.max_position_embeddings = 64;
  }
  static int64_t Bytes() { return 64; }
  std::string_view name() const override { return "deferred"; }
  const model::ModelConfig& config() const override { return config_; }
  int64_t page_size() const override { return kPageSize; }
  int64_t num_pages() const override { return kPages; }
  Status Forward(std::span<const backend::SequenceInput>, std::vector<float>*) override {
    return UnimplementedError("no model");
  }
  Status CopyPage(int32_t, int32_t, int64_t) override { return OkStatus(); }
  int64_t page_bytes() const override { return Bytes(); }
  Status ExportPages(std::span<const int32_t> pages, std::span<std::byte* const> dst) override {
    for (size_t i = 0; i < pages.size(); ++i) queue_.push_back({true, pages[i], dst[i]});
    ++enqueued_;
    return OkStatus();
  }
  Status ImportPages(std::span<const int32_t> pages,
                     std::span<const std::byte* const> src) override {
    for (size_t i = 0; i < pages.size(); ++i)
      queue_.push_back({false, pages[i], const_cast<std::byte*>(src[i])});
    ++enqueued_;
    return OkStatus();
  }
  Status WaitHostCopies() override {
    for (const Copy& c : queue_) {
      std::byte* page = device_.data() + c.page * Bytes();
      if (c.to_host) {
        std::memcpy(c.host, page, static_cast<size_t>(Bytes()));
      } else {
        std::memcpy(page, c.host, static_cast<size_t>(Bytes()));
      }
    }
    queue_.clear();
    completed_ = enqueued_;
    return OkStatus();
  }
  uint64_t HostCopyMark() override { return enqueued_; }
  bool HostCopyDone(uint64_t mark) override { return mark <= completed_; }
  void Fill(int32_t page, uint8_t v) {
    std::memset(device_.data() + page * Bytes(), v, static_cast<size_t>(Bytes()));
  }
  uint8_t At(int32_t page) const { return static_cast<uint8_t>(device_[page * Bytes()]); }

 private:
  struct Copy {
    bool to_host;
    int64_t page;
    std::byte* host;
  };
  model::ModelConfig config_;
  std::vector<std::byte> device_;
  std::vector<Copy> queue_;
  uint64_t enqueued_ = 0, completed_ = 0;
};

class KvTiersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("kv_tiers_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  KvTierOptions Options(int64_t host_blocks, const std::string& store_admission) {
    KvTierOptions o;
    o.host_bytes = host_blocks * DeferredBackend::Bytes();
    o.disk_dir = dir_.string();
    o.disk_bytes = 1 << 20;
    o.store_admission = store_admission;
    o.model_digest = "review";
    return o;
  }
  // Writes blocks `hashes` (device pages filled with `values`) to the store.
  void Seed(const std::vector<kvcache::BlockHash>& hashes, const std::vector<uint8_t>& values) {
    auto tiers = KvTiers::Create(Options(16, "all"), &backend_);
    ASSERT_TRUE(tiers.ok()) << tiers.status().ToString();
    std::vector<int32_t> pages;
    for (size_t i = 0; i < hashes.size(); ++i) {
      backend_.Fill(static_cast<int32_t>(i), values[i]);
      pages.push_back(static_cast<int32_t>(i));
    }
    ASSERT_TRUE((*tiers)->Use(hashes, pages, /*request=*/100).ok());
    (*tiers)->Poll();  // Poll never waits: the exports are still queued
    EXPECT_EQ((*tiers)->stats().store_put_blocks, 0);
    ASSERT_TRUE(backend_.WaitHostCopies().ok());
    (*tiers)->Poll();  // now done: the blocks go to the store
    ASSERT_EQ((*tiers)->stats().store_put_blocks, static_cast<int64_t>(hashes.size()));
  }  // the store's destructor finishes its writes

  // Polls until `hashes` from 0 are held by the host tier, or 5 s pass.
  static int64_t WaitHeld(KvTiers* tiers, const std::vector<kvcache::BlockHash>& hashes) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (tiers->HeldFrom(hashes, 0) < static_cast<int64_t>(hashes.size()) &&
           std::chrono::steady_clock::now() < deadline) {
      tiers->WaitForLoads(std::chrono::milliseconds(5));
      tiers->Poll();
    }
    return tiers->HeldFrom(hashes, 0);
  }

  std::filesystem::path dir_;
  DeferredBackend backend_;
};

const kvcache::BlockHash kH1{1, 11}, kH2{2, 22}, kH3{3, 33};

// A write-through export into a host slot is still in flight (no store put is
// pending for it: store admission second-hit) when Prefetch hands that slot to
// the loader thread. The store's bytes are read into the slot, then the export
// lands over them: the host tier serves block H1's KV under H2's hash.
TEST_F(KvTiersTest, PrefetchReusesASlotAnExportIsStillFilling) {
  ASSERT_NO_FATAL_FAILURE(Seed({kH2}, {0xBB}));
  auto made = KvTiers::Create(Options(1, "second-hit"), &backend_);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  KvTiers* tiers = made->get();
  backend_.Fill(0, 0xAA);
  const std::vector<kvcache::BlockHash> h1 = {kH1}, h2 = {kH2};
  ASSERT_TRUE(tiers->Use(h1, std::vector<int32_t>{0}, /*request=*/1).ok());  // export queued
  EXPECT_EQ(tiers->Prefetch(h2, 0, /*request=*/2), 1);  // evicts H1: its slot goes to the loader
  ASSERT_EQ(WaitHeld(tiers, h2), 1);
  int64_t from_store = 0;
  ASSERT_TRUE(tiers->Load(h2, 0, std::vector<int32_t>{3}, /*request=*/3, &from_store).ok());
  ASSERT_TRUE(backend_.WaitHostCopies().ok());  // the copy stream drains in order
  EXPECT_EQ(backend_.At(3), 0xBB) << "page 3 got H1's bytes (0xAA) for block H2";
}

// More pages in the store than the host tier holds: Prefetch takes at most half
// the tier, so it never evicts the slots it is loading (which would make the
// step thread wait for the loader's reads and lose the prompt's first page).
TEST_F(KvTiersTest, PrefetchLongerThanTheHostTierTakesHalfOfIt) {
  ASSERT_NO_FATAL_FAILURE(Seed({kH1, kH2, kH3}, {1, 2, 3}));
  auto made = KvTiers::Create(Options(2, "all"), &backend_);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  KvTiers* tiers = made->get();
  const std::vector<kvcache::BlockHash> prompt = {kH1, kH2, kH3};
  const int64_t loading = tiers->Prefetch(prompt, 0, /*request=*/1);
  // Store reads finished inside Prefetch: the step thread waited for the disk.
  EXPECT_EQ(tiers->stats().store_loaded_blocks, 0) << "Prefetch waited for the loader's reads";
  EXPECT_EQ(loading, 1);
  EXPECT_TRUE(tiers->LoadingAt(prompt, 0)) << "the request does not wait for its first page";
  EXPECT_EQ(WaitHeld(tiers, {kH1}), 1);
}

// Host admission second-hit: a block the store holds is refused by the host
// tier on its first request, so after a restart the first repeated prompt is
// computed, not read from disk.
TEST_F(KvTiersTest, SecondHitHostAdmissionRefusesStoreBlocksOnTheFirstRequest) {
  ASSERT_NO_FATAL_FAILURE(Seed({kH1}, {7}));
  KvTierOptions o = Options(4, "all");
  o.host_admission = "second-hit";
  auto made = KvTiers::Create(o, &backend_);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  EXPECT_EQ((*made)->Prefetch(std::vector<kvcache::BlockHash>{kH1}, 0, /*request=*/1), 1);
}

struct HashLess {
  bool operator()(const kvcache::BlockHash& a, const kvcache::BlockHash& b) const {
    return a.hi != b.hi ? a.hi < b.hi : a.lo < b.lo;
  }
};
using HashSet = std::set<kvcache::BlockHash, HashLess>;

// Reads from the store are taken only when they beat computing the pages:
// once a read was timed, a device that computes a page in a nanosecond gets
// nothing read (but one such decision in kExploreEvery reads anyway), one that
// takes a second gets the pages; with loads_when_faster off, always.
TEST_F(KvTiersTest, TheStoreIsReadOnlyWhenFasterThanComputing) {
  std::vector<kvcache::BlockHash> prompt;
  std::vector<uint8_t> values;
  for (uint64_t i = 0; i < 6; ++i) {
    prompt.push_back({100 + i, 7});
    values.push_back(static_cast<uint8_t>(i));
  }
  ASSERT_NO_FATAL_FAILURE(Seed(prompt, values));
  const std::vector<kvcache::BlockHash> first(prompt.begin(), prompt.begin() + 1);
  {
    auto made = KvTiers::Create(Options(16, "all"), &backend_);
    ASSERT_TRUE(made.ok()) << made.status().ToString();
    KvTiers* tiers = made->get();
    // Nothing timed yet: read (the first page).
    EXPECT_EQ(tiers->Prefetch(first, 0, /*request=*/1, /*page_compute_seconds=*/1e-9), 1);
    ASSERT_EQ(WaitHeld(tiers, first), 1);
    const double read_s = tiers->stats().store_read_seconds;
    ASSERT_GT(read_s, 0);
    ASSERT_LT(read_s, 1.0);
    // Faster to compute: not read, and the request does not wait.
    EXPECT_EQ(tiers->Prefetch(prompt, 1, /*request=*/2, 1e-9), 0);
    EXPECT_EQ(tiers->stats().store_skipped_blocks, 5);
    EXPECT_FALSE(tiers->LoadingAt(prompt, 1));
    // Slower to compute: read.
    EXPECT_EQ(tiers->Prefetch(prompt, 1, /*request=*/3, 1.0), 5);
    EXPECT_EQ(WaitHeld(tiers, prompt), 6);
  }  // one store open on a directory at a time
  // Every kExploreEvery-th slower decision reads anyway (a fresh tier, whose
  // first read is timed first).
  {
    auto fresh = KvTiers::Create(Options(16, "all"), &backend_);
    ASSERT_TRUE(fresh.ok());
    EXPECT_EQ((*fresh)->Prefetch(first, 0, /*request=*/10, 1e-9), 1);
    ASSERT_EQ(WaitHeld(fresh->get(), first), 1);
    for (int64_t k = 1; k <= KvTiers::kExploreEvery; ++k) {
      const int64_t got = (*fresh)->Prefetch(prompt, 1, static_cast<uint64_t>(10 + k), 1e-9);
      EXPECT_EQ(got, k == KvTiers::kExploreEvery ? 5 : 0) << "decision " << k;
    }
  }
  KvTierOptions always = Options(16, "all");
  always.loads_when_faster = false;
  auto eager = KvTiers::Create(always, &backend_);
  ASSERT_TRUE(eager.ok());
  EXPECT_EQ((*eager)->Prefetch(first, 0, 1, 1e-9), 1);
  ASSERT_EQ(WaitHeld(eager->get(), first), 1);
  EXPECT_EQ((*eager)->Prefetch(prompt, 1, 2, 1e-9), 5) << "loads_when_faster off: always read";
}

// Redis: how far the store holds a prompt is a round trip, asked on the loader
// thread. Prefetch says kProbing (the request waits) until the answer is in,
// then queues the loads as for the directory.
TEST_F(KvTiersTest, RedisIsProbedOffTheStepThread) {
  radixlm::testing::RedisProcess redis;
  ASSERT_TRUE(redis.Start());
  KvTierOptions o = Options(8, "all");
  o.disk_dir.clear();
  o.redis_url = "redis://127.0.0.1:" + std::to_string(redis.port());
  {
    auto seeded = KvTiers::Create(o, &backend_);
    ASSERT_TRUE(seeded.ok()) << seeded.status().ToString();
    backend_.Fill(0, 0x31);
    backend_.Fill(1, 0x32);
    ASSERT_TRUE((*seeded)
                    ->Use(std::vector<kvcache::BlockHash>{kH1, kH2}, std::vector<int32_t>{0, 1},
                          /*request=*/1)
                    .ok());
    ASSERT_TRUE(backend_.WaitHostCopies().ok());
    (*seeded)->Poll();
  }  // written to Redis
  auto made = KvTiers::Create(o, &backend_);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  KvTiers* tiers = made->get();
  const std::vector<kvcache::BlockHash> prompt = {kH1, kH2, kH3};
  EXPECT_EQ(tiers->Prefetch(prompt, 0, /*request=*/7), KvTiers::kProbing);
  EXPECT_EQ(tiers->Prefetch(prompt, 0, /*request=*/7), KvTiers::kProbing) << "asked once";
  EXPECT_TRUE(tiers->busy());
  int64_t loading = KvTiers::kProbing;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (loading == KvTiers::kProbing && std::chrono::steady_clock::now() < deadline) {
    tiers->WaitForLoads(std::chrono::milliseconds(5));
    tiers->Poll();
    loading = tiers->Prefetch(prompt, 0, /*request=*/7);
  }
  EXPECT_EQ(loading, 2) << "H1 and H2 are in Redis, H3 is not";
  EXPECT_EQ(WaitHeld(tiers, {kH1, kH2}), 2);
  int64_t from_store = 0;
  ASSERT_TRUE(tiers->Load(prompt, 0, std::vector<int32_t>{4, 5}, /*request=*/7, &from_store).ok());
  ASSERT_TRUE(backend_.WaitHostCopies().ok());
  EXPECT_EQ(backend_.At(4), 0x31);
  EXPECT_EQ(backend_.At(5), 0x32);
  // Reads timed: a device faster than them is not even asked about (no round
  // trip, the request does not wait).
  ASSERT_GT(tiers->stats().store_read_seconds, 0);
  EXPECT_EQ(tiers->Prefetch(std::vector<kvcache::BlockHash>{kH3}, 0, /*request=*/9, 1e-9), 0);
  EXPECT_EQ(tiers->stats().store_skipped_requests, 1);
  // A request admitted before its answer came: the probe is dropped.
  EXPECT_EQ(tiers->Prefetch(prompt, 0, /*request=*/8), KvTiers::kProbing);
  tiers->Forget(8);
  tiers->WaitForLoads(std::chrono::milliseconds(500));
  tiers->Poll();
  EXPECT_FALSE(tiers->busy());
}

// A host tier smaller than one call's pages: H1's slot is taken again by H3
// within the same Use, before H1's export was enqueued. H1's put must still
// hand the store H1's bytes, not what the slot held before.
TEST_F(KvTiersTest, ABlockEvictedWithinOneUseReachesTheStoreWithItsOwnBytes) {
  {
    auto made = KvTiers::Create(Options(2, "all"), &backend_);
    ASSERT_TRUE(made.ok()) << made.status().ToString();
    for (int32_t p = 0; p < 3; ++p) backend_.Fill(p, static_cast<uint8_t>(0x10 + p));
    ASSERT_TRUE((*made)
                    ->Use(std::vector<kvcache::BlockHash>{kH1, kH2, kH3},
                          std::vector<int32_t>{0, 1, 2}, /*request=*/1)
                    .ok());
    ASSERT_TRUE(backend_.WaitHostCopies().ok());
    (*made)->Poll();
  }  // the store finishes its writes
  auto made = KvTiers::Create(Options(4, "all"), &backend_);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  KvTiers* tiers = made->get();
  const std::vector<kvcache::BlockHash> prompt = {kH1, kH2, kH3};
  ASSERT_EQ(tiers->Prefetch(prompt, 0, /*request=*/2), 2);  // half the tier
  ASSERT_EQ(WaitHeld(tiers, {kH1, kH2}), 2);
  int64_t from_store = 0;
  ASSERT_TRUE(tiers->Load(prompt, 0, std::vector<int32_t>{5, 6}, /*request=*/3, &from_store).ok());
  ASSERT_TRUE(backend_.WaitHostCopies().ok());
  EXPECT_EQ(from_store, 2);
  EXPECT_EQ(backend_.At(5), 0x10) << "the store holds other bytes under H1's hash";
  EXPECT_EQ(backend_.At(6), 0x11);
}

// A burst of blocks larger than the store's write queue (a long prompt's pages):
// the puts the queue has no room for wait in their host slots and go to the
// store on later polls, none dropped.
TEST_F(KvTiersTest, ABurstLargerThanTheWriteQueueWaitsInTheHostTier) {
  std::vector<kvcache::BlockHash> prompt;
  std::vector<int32_t> pages;
  for (int32_t p = 0; p < DeferredBackend::kPages; ++p) {
    prompt.push_back({static_cast<uint64_t>(100 + p), static_cast<uint64_t>(7 * p + 1)});
    pages.push_back(p);
    backend_.Fill(p, static_cast<uint8_t>(0x40 + p));
  }
  {
    KvTierOptions o = Options(16, "all");
    o.store_queue_blocks = 1;
    auto made = KvTiers::Create(o, &backend_);
    ASSERT_TRUE(made.ok()) << made.status().ToString();
    KvTiers* tiers = made->get();
    ASSERT_TRUE(tiers->Use(prompt, pages, /*request=*/1).ok());
    ASSERT_TRUE(backend_.WaitHostCopies().ok());
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    int polls = 0;
    while (tiers->busy() && std::chrono::steady_clock::now() < deadline) {
      tiers->Poll();
      ++polls;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    EXPECT_FALSE(tiers->busy());
    EXPECT_GT(polls, 1) << "one poll cannot put 8 blocks through a queue of 1";
    EXPECT_EQ(tiers->stats().store_put_blocks, DeferredBackend::kPages);
    EXPECT_EQ(tiers->stats().store_dropped_puts, 0);
  }  // the store finishes its writes
  for (int32_t p = 0; p < DeferredBackend::kPages; ++p) backend_.Fill(p, 0);
  auto made = KvTiers::Create(Options(16, "all"), &backend_);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  KvTiers* tiers = made->get();
  ASSERT_EQ(tiers->Prefetch(prompt, 0, /*request=*/2), DeferredBackend::kPages);
  ASSERT_EQ(WaitHeld(tiers, prompt), DeferredBackend::kPages);
  int64_t from_store = 0;
  ASSERT_TRUE(tiers->Load(prompt, 0, pages, /*request=*/3, &from_store).ok());
  ASSERT_TRUE(backend_.WaitHostCopies().ok());
  EXPECT_EQ(from_store, DeferredBackend::kPages);
  for (int32_t p = 0; p < DeferredBackend::kPages; ++p) EXPECT_EQ(backend_.At(p), 0x40 + p) << p;
}

// What the tiers report (KV events), applied in order per medium.
class TierEventLog final : public kvcache::CacheEventSink {
 public:
  void OnBlocksStored(std::span<const kvcache::BlockHash>, const kvcache::BlockHash*,
                      std::span<const kvcache::Token>, int32_t) override {}
  void OnBlocksRemoved(std::span<const kvcache::BlockHash>) override {}
  void OnAllBlocksCleared() override {}
  void OnTierBlocksStored(std::string_view medium, std::span<const kvcache::BlockHash> hashes,
                          int32_t page_size) override {
    std::lock_guard<std::mutex> lock(mu_);
    EXPECT_EQ(page_size, DeferredBackend::kPageSize);
    for (const auto& h : hashes) {
      EXPECT_TRUE(held_[std::string(medium)].insert(h).second) << medium << ": stored twice";
    }
  }
  void OnTierBlocksRemoved(std::string_view medium,
                           std::span<const kvcache::BlockHash> hashes) override {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& h : hashes) {
      EXPECT_EQ(held_[std::string(medium)].erase(h), 1u) << medium << ": removed, never stored";
      ++removed_;
    }
  }
  HashSet held(const std::string& medium) {
    std::lock_guard<std::mutex> lock(mu_);
    return held_[medium];
  }
  int removed() {
    std::lock_guard<std::mutex> lock(mu_);
    return removed_;
  }

 private:
  std::mutex mu_;
  std::map<std::string, HashSet> held_;
  int removed_ = 0;
};

// KV events of the host tier and the store: a block is reported where it is,
// once; the host's evictions (also of a block taken and dropped within one
// call) and a flush are reported removed; a reopened store announces its blocks.
TEST_F(KvTiersTest, EventsFollowWhatEachTierHolds) {
  TierEventLog log;
  const kvcache::BlockHash kH4{4, 44};
  {
    KvTierOptions o = Options(2, "all");
    o.events = &log;
    o.host_medium = "CPU";
    auto made = KvTiers::Create(o, &backend_);
    ASSERT_TRUE(made.ok()) << made.status().ToString();
    KvTiers* tiers = made->get();
    ASSERT_TRUE(tiers
                    ->Use(std::vector<kvcache::BlockHash>{kH1, kH2}, std::vector<int32_t>{0, 1},
                          /*request=*/1)
                    .ok());
    EXPECT_EQ(log.held("CPU"), (HashSet{kH1, kH2}));
    // Three blocks into a tier of two in one call: H1 and H2 leave for H3 and
    // H4, then H3 (taken and dropped within the call) for H1 again.
    ASSERT_TRUE(tiers
                    ->Use(std::vector<kvcache::BlockHash>{kH3, kH4, kH1},
                          std::vector<int32_t>{2, 3, 4}, /*request=*/2)
                    .ok());
    EXPECT_EQ(log.held("CPU"), (HashSet{kH4, kH1}));
    EXPECT_EQ(tiers->stats().host_blocks, 2);
    ASSERT_TRUE(backend_.WaitHostCopies().ok());
    tiers->Poll();  // the store takes what the host wrote
    tiers->Clear();
    EXPECT_TRUE(log.held("CPU").empty()) << "a flush empties the host tier";
  }  // the store finishes its writes
  const HashSet all = {kH1, kH2, kH3, kH4};
  EXPECT_EQ(log.held("DISK"), all);
  // Reopened: the directory's blocks are announced again (to a fresh log).
  TierEventLog reopened;
  KvTierOptions o = Options(2, "all");
  o.events = &reopened;
  auto made = KvTiers::Create(o, &backend_);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  EXPECT_EQ(reopened.held("DISK"), all);
}

}  // namespace
}  // namespace radixlm::engine
