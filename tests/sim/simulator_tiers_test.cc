// The simulator's KV tiers below the device: link timing (TierModel) and whole
// runs: what the tiers serve, who waits for a load, page conservation.
#include <gtest/gtest.h>

#include <cmath>

#include "kvcache/block_hash.h"
#include "sim/infinite_cache.h"
#include "sim/simulator.h"
#include "sim/tier_model.h"
#include "sim/workloads.h"

namespace radixlm::sim {
namespace {

using kvcache::BlockHash;

std::vector<BlockHash> Pages(int n, kvcache::Token fill) {
  std::vector<BlockHash> out;
  kvcache::AppendBlockHashes(kvcache::NamespaceHash(""), std::vector<kvcache::Token>(16 * n, fill),
                             16, &out);
  return out;
}

// Page bytes 16 * 1024 = 16,384; at 1 GB/s a page takes 16,384 ns, plus 1 ms a copy.
std::unique_ptr<TierModel> Model(int64_t host_pages, int64_t disk_pages = 0) {
  SimTierOptions host{host_pages, "all", 1e9, 1e-3};
  SimTierOptions disk{disk_pages, "all", 0.5e9, 2e-3};
  auto m = TierModel::Create(host, disk, /*page_size=*/16, /*kv_bytes_per_token=*/1024);
  CHECK(m.ok()) << m.status().ToString();
  return std::move(m).value();
}

TEST(TierModelTest, LoadsWaitForTheWriteAndShareTheLink) {
  auto model = Model(100);
  std::vector<BlockHash> a = Pages(10, 1), b = Pages(10, 2);
  model->UseOnDevice(a, /*request=*/1, /*now=*/0);  // written through: ready at 163,840 + 1 ms
  model->UseOnDevice(b, /*request=*/2, /*now=*/0);  // queued behind a's copy on the same link
  kvcache::TierLookup la, lb;
  model->Lookup(a, 0, &la);
  model->Lookup(b, 0, &lb);
  ASSERT_EQ(la.end_page, 10);
  ASSERT_EQ(la.pages[1], 10);
  // a's load starts once its copy is done; b's, whose copy was done when a's
  // load ended, follows it on the link.
  const int64_t a_ready = 163'840 + 1'000'000;
  const int64_t ra = model->Load(a, 0, la, /*request=*/3, /*now=*/0);
  EXPECT_EQ(ra, a_ready + 163'840 + 1'000'000);
  const int64_t rb = model->Load(b, 0, lb, /*request=*/4, /*now=*/0);
  EXPECT_EQ(rb, a_ready + 2 * 163'840 + 1'000'000);
  std::vector<TierFigures> f = model->Figures();
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].pages_written, 20);
  EXPECT_EQ(f[0].pages_loaded, 20);
  EXPECT_DOUBLE_EQ(f[0].bytes_loaded, 20 * 16384.0);
  EXPECT_DOUBLE_EQ(f[0].busy_up_s, 2 * 163'840e-9);
}

TEST(TierModelTest, DiskLoadsCrossBothLinks) {
  auto model = Model(/*host_pages=*/4, /*disk_pages=*/16);
  std::vector<BlockHash> a = Pages(4, 1), b = Pages(4, 2);
  model->UseOnDevice(a, 1, 0);
  model->UseOnDevice(b, 2, 0);  // pushes a down to the disk
  kvcache::TierLookup lookup;
  model->Lookup(a, 0, &lookup);
  ASSERT_EQ(lookup.end_page, 4);
  ASSERT_EQ(lookup.pages[2], 4);
  const int64_t now = 1'000'000'000;  // long after every copy
  // Disk: 65,536 bytes at 0.5 GB/s + 2 ms; then the host link: 65,536 ns + 1 ms.
  EXPECT_EQ(model->Load(a, 0, lookup, 3, now), now + 131'072 + 2'000'000 + 65'536 + 1'000'000);
  // a passed up into the host (b went down).
  EXPECT_EQ(model->stack().Holder(a[0]), 1);
  EXPECT_EQ(model->stack().Holder(b[0]), 2);
}

TEST(TierModelTest, BadOptionsAreRefused) {
  SimTierOptions host{10, "all", 0, 0};  // no bandwidth
  EXPECT_FALSE(TierModel::Create(host, {}, 16, 1024).ok());
  host.bandwidth_bytes_per_s = 1e9;
  host.admission = "sometimes";
  EXPECT_FALSE(TierModel::Create(host, {}, 16, 1024).ok());
  host.admission = "all";
  EXPECT_FALSE(TierModel::Create(host, {}, 16, 0).ok());
  EXPECT_TRUE(TierModel::Create(host, {}, 16, 1024).ok());
}

SimOptions Options(int64_t capacity_pages, int64_t host_pages, int64_t disk_pages = 0) {
  SimOptions o;
  o.page_size = 16;
  o.capacity_pages = capacity_pages;
  o.profile = LoadCostProfile("llama3-8b-h100").value();
  o.host.capacity_pages = host_pages;
  o.disk.capacity_pages = disk_pages;
  o.check_invariants = true;
  return o;
}

Trace SharedPrefixTrace(int64_t requests) {
  WorkloadOptions w;
  w.name = "generated-shared-prefix";
  w.requests = requests;
  w.rate = 0.5;  // one at a time
  w.seed = 1;
  return GenerateWorkload(w).value();
}

int64_t Sum(const std::array<int64_t, 3>& a) { return a[0] + a[1] + a[2]; }

// One request at a time, a device too small to keep the 2,048-token system
// prompts between uses, a host that keeps them all: the infinite-cache bound,
// mostly from the host.
TEST(SimulatorTiersTest, HostTierRecoversWhatTheDeviceEvicts) {
  Trace trace = SharedPrefixTrace(256);
  auto bound = ReplayInfiniteCache(trace, 16);
  ASSERT_TRUE(bound.ok());
  auto alone = Simulate(trace, Options(/*capacity_pages=*/200, /*host_pages=*/0));
  ASSERT_TRUE(alone.ok());
  EXPECT_LT(alone->hits.cached_tokens, bound->cached_tokens / 2);
  EXPECT_TRUE(alone->tiers.empty());

  auto tiered = Simulate(trace, Options(200, /*host_pages=*/1 << 16));
  ASSERT_TRUE(tiered.ok()) << tiered.status().ToString();
  EXPECT_EQ(tiered->hits.cached_tokens, bound->cached_tokens);
  EXPECT_EQ(Sum(tiered->cached_by_level), tiered->hits.cached_tokens);
  EXPECT_GT(tiered->cached_by_level[1], tiered->cached_by_level[0]);
  ASSERT_EQ(tiered->tiers.size(), 1u);
  const TierFigures& host = tiered->tiers[0];
  EXPECT_EQ(host.name, "host");
  EXPECT_EQ(host.hit_tokens, tiered->cached_by_level[1]);
  EXPECT_GT(host.pages_loaded, 0);
  EXPECT_DOUBLE_EQ(host.bytes_loaded, static_cast<double>(host.pages_loaded) * 16 * 131072);
  // Every page evicted from the device was still in the host (write-through).
  EXPECT_GT(tiered->evicted_pages, 0);
  EXPECT_GT(tiered->evicted_pages_kept, tiered->evicted_pages * 9 / 10);
  EXPECT_EQ(tiered->evicted_pages_lost, 0);
  for (const RequestRecord& r : tiered->records) {
    EXPECT_EQ(Sum(r.cached_by_level), r.cached_tokens);
    if (r.cached_by_level[1] > 0) {
      EXPECT_GT(r.load_wait_s, 0);
      EXPECT_GE(r.first_token_s - r.arrival_s, r.load_wait_s);
    }
  }
}

// The host holds two system prompts; the disk keeps what it drops (a disk fast
// enough to beat recomputing them: 20 GB/s).
TEST(SimulatorTiersTest, DiskTierServesWhatTheHostDropped) {
  Trace trace = SharedPrefixTrace(256);
  auto bound = ReplayInfiniteCache(trace, 16);
  SimOptions options = Options(200, /*host_pages=*/256, /*disk_pages=*/1 << 16);
  options.disk.bandwidth_bytes_per_s = 20e9;
  auto sim = Simulate(trace, options);
  ASSERT_TRUE(sim.ok()) << sim.status().ToString();
  EXPECT_EQ(sim->hits.cached_tokens, bound->cached_tokens);
  EXPECT_GT(sim->cached_by_level[2], 0);
  ASSERT_EQ(sim->tiers.size(), 2u);
  EXPECT_EQ(sim->tiers[1].name, "disk");
  EXPECT_GT(sim->tiers[1].pages_written, 0);  // demoted from the host
  EXPECT_GT(sim->tiers[1].pages_loaded, 0);
  EXPECT_LE(sim->tiers[0].stats.peak_blocks, 256);  // capacity bounds
  EXPECT_EQ(sim->tiers[0].stats.blocks_dropped, 0);
}

double MeanTtft(const SimResult& r) {
  double sum = 0;
  for (const RequestRecord& rec : r.records) sum += rec.first_token_s - rec.arrival_s;
  return sum / static_cast<double>(r.records.size());
}

// With the GPU idle, 2,048 tokens compute in ~57 ms; from a 5 GB/s disk (then
// the host link) they take ~60 ms: not worth loading, unless told to.
TEST(SimulatorTiersTest, LoadsSlowerThanRecomputingAreNotTaken) {
  Trace trace = SharedPrefixTrace(256);
  SimOptions options = Options(200, /*host_pages=*/256, /*disk_pages=*/1 << 16);
  auto faster = Simulate(trace, options);
  ASSERT_TRUE(faster.ok());
  EXPECT_GT(faster->cached_by_level[1], 0);  // the host at 50 GB/s is worth it
  options.tier_loads_when_faster = false;
  auto always = Simulate(trace, options);
  ASSERT_TRUE(always.ok());
  // Only loads with prefill queued ahead of them (another request running)
  // still pay from the disk.
  EXPECT_GT(always->cached_by_level[2], 0);
  EXPECT_LT(faster->cached_by_level[2] * 10, always->cached_by_level[2]);
  EXPECT_GT(always->hits.cached_tokens, faster->hits.cached_tokens);
  EXPECT_LT(MeanTtft(*faster), MeanTtft(*always));
}

// A prompt whose prefix comes back from the host waits for its load alone: a
// request admitted beside it and one decoding meanwhile run as if it were not
// there, though the copy takes longer than their steps.
TEST(SimulatorTiersTest, OnlyTheRequestThatLoadsWaitsForIt) {
  Trace trace;
  const uint32_t doc = trace.Intern("doc");
  auto add = [&](double at, std::vector<Segment> segments, int64_t output) {
    TraceRequest r;
    r.arrival_s = at;
    r.segments = std::move(segments);
    r.output_tokens = output;
    trace.requests.push_back(r);
  };
  add(0, {{doc, 2048}}, 1);
  add(1, {{Segment::kUnique, 4000}}, 1);              // pushes the document out of the device
  add(9.99, {{Segment::kUnique, 64}}, 200);           // decoding while the load runs
  add(10, {{doc, 2048}, {Segment::kUnique, 16}}, 1);  // the document from the host
  add(10, {{Segment::kUnique, 64}}, 1);               // admitted beside it
  SimOptions options = Options(/*capacity_pages=*/300, /*host_pages=*/1 << 12);
  // 128 pages of 2 MiB: 27 ms at 10 GB/s, five decode steps (and less than the
  // 57 ms of computing them, so the load is taken).
  options.host.bandwidth_bytes_per_s = 10e9;
  auto with = Simulate(trace, options);
  ASSERT_TRUE(with.ok()) << with.status().ToString();
  const RequestRecord& loaded = with->records[3];
  EXPECT_EQ(loaded.cached_by_level[0], 0);
  EXPECT_EQ(loaded.cached_by_level[1], 2048);
  EXPECT_EQ(with->requests_loaded, 1);
  const double copy_s = 128 * 16 * 131072 / 10e9 + 10e-6;
  EXPECT_NEAR(loaded.load_wait_s, copy_s, 1e-3);
  EXPECT_GE(loaded.first_token_s - loaded.arrival_s, copy_s);

  // The same trace without the loading request: the others' times are unchanged
  // up to the load's end.
  Trace without = trace;
  without.requests.erase(without.requests.begin() + 3);
  auto alone = Simulate(without, options);
  ASSERT_TRUE(alone.ok());
  const RequestRecord& beside = with->records[4];
  EXPECT_LT(beside.first_token_s - beside.arrival_s, 0.05);
  EXPECT_DOUBLE_EQ(beside.first_token_s, alone->records[3].first_token_s);
  EXPECT_DOUBLE_EQ(with->records[2].first_token_s, alone->records[2].first_token_s);
  // The decoding request ran through the load; it finished later only by the
  // loaded request's 17-token chunk in one of its steps (< 1 ms), not the copy.
  const double load_end = loaded.arrival_s + loaded.load_wait_s;
  EXPECT_GT(with->records[2].finish_s, load_end);
  EXPECT_GE(with->records[2].finish_s, alone->records[2].finish_s);
  EXPECT_LT(with->records[2].finish_s - alone->records[2].finish_s, 1e-3);
}

// Many conversations at once on a small device with a small host: preemption
// of requests mid-load, pages conserved every step (check_invariants).
TEST(SimulatorTiersTest, PreemptionHeavyRunWithTiersConservesPages) {
  WorkloadOptions o;
  o.name = "multi-turn";
  o.groups = 40;
  o.turns = 3;
  o.rate = 50;
  o.think_time_s = 0.05;
  Trace trace = GenerateWorkload(o).value();
  SimOptions options = Options(400, /*host_pages=*/300, /*disk_pages=*/2000);
  options.max_running = 64;
  options.disk.admission = "second-hit";
  auto sim = Simulate(trace, options);
  ASSERT_TRUE(sim.ok()) << sim.status().ToString();
  EXPECT_GT(sim->preemptions, 0);
  EXPECT_EQ(sim->dropped_requests, 0);
  EXPECT_GT(sim->cached_by_level[1] + sim->cached_by_level[2], 0);
  for (const RequestRecord& r : sim->records) EXPECT_GT(r.finish_s, 0);
  EXPECT_LE(sim->tiers[0].stats.peak_blocks, 300);
  EXPECT_LE(sim->tiers[1].stats.peak_blocks, 2000);
  EXPECT_GT(sim->tiers[1].stats.blocks_refused, 0);  // used once: not worth the disk
  // Deterministic, tiers included.
  auto again = Simulate(trace, options);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->cached_by_level, sim->cached_by_level);
  EXPECT_EQ(again->steps, sim->steps);
}

TEST(SimulatorTiersTest, BadTierOptionsAreRefused) {
  Trace trace = SharedPrefixTrace(4);
  SimOptions options = Options(200, -1);
  EXPECT_FALSE(Simulate(trace, options).ok());
  options = Options(200, 100);
  options.host.bandwidth_bytes_per_s = 0;
  EXPECT_FALSE(Simulate(trace, options).ok());
  options = Options(200, 100);
  options.kv_bytes_per_token = 0;
  EXPECT_FALSE(Simulate(trace, options).ok());
}

}  // namespace
}  // namespace radixlm::sim
