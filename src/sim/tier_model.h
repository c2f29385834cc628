// TierModel: the simulator's KV tiers below the device: kvcache::TierStack (the
// rules the engine will use: which block goes where) plus the links between the
// levels, timed in virtual nanoseconds, and the figures `sim run` reports.
//
// Links. Level L (1: host, 2: disk or Redis) hangs below level L-1 by a link with
// a bandwidth and a latency, one each way (PCIe and NVMe are full duplex).
// Each direction serves its transfers one after another in the order they are
// issued: a transfer of B bytes issued at t starts when the link is free (a
// load, not before its blocks' copies into the source tier are done) and ends
// B / bandwidth later; its data is usable `latency` after that. A load from level 2 crosses
// the disk link, then the host link.
//
// What is timed and what waits:
//   - a load (Load) is issued when the request is admitted, at the start of a
//     step, and runs beside that step; the request computes nothing until it
//     returns `ready`: only it waits, never the batch;
//   - write-through (device -> host) and demotion (host -> disk) copies are
//     issued at the end of the step that computed the pages (or at the use that
//     stored them); nothing waits for them, but a block is not loaded back
//     before its copy into the tier is complete (TierIndex::ready).
//
// Not thread-safe; one per simulation.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "kvcache/tier_stack.h"
#include "kvcache/types.h"

namespace radixlm::sim {

struct SimTierOptions {
  int64_t capacity_pages = 0;  // 0: no such tier
  std::string admission = "all";
  double bandwidth_bytes_per_s = 0;  // each way, to the level above
  double latency_s = 0;              // per transfer
};

// Defaults: an H200's host link (PCIe Gen5 x16, ~50 GB/s achieved each way;
// cudaMemcpyAsync of pinned pages costs ~10 us to issue) and a local NVMe SSD
// (~5 GB/s sequential, ~100 us a read). Redis over 10 GbE: ~1.2 GB/s, ~300 us.
inline constexpr double kHostBandwidth = 50e9;
inline constexpr double kHostLatency = 10e-6;
inline constexpr double kDiskBandwidth = 5e9;
inline constexpr double kDiskLatency = 100e-6;
inline constexpr double kRedisBandwidth = 1.2e9;
inline constexpr double kRedisLatency = 300e-6;

// One tier's figures over a run.
struct TierFigures {
  std::string name;
  int64_t capacity_pages = 0;
  std::string admission;
  int64_t hit_tokens = 0;     // prompt tokens it served, at each request's first admission
  int64_t pages_loaded = 0;   // read out of it toward the device (every admission)
  int64_t pages_written = 0;  // copied into it from the level above
  double bytes_loaded = 0;    // pages_loaded * page bytes
  double bytes_written = 0;   // pages_written * page bytes
  double busy_up_s = 0;       // its link's time spent on loads
  double busy_down_s = 0;     // and on writes
  kvcache::TierStats stats;
};

class TierModel {
 public:
  // Levels from the options that have a capacity: host first, then disk.
  static StatusOr<std::unique_ptr<TierModel>> Create(const SimTierOptions& host,
                                                     const SimTierOptions& disk, int32_t page_size,
                                                     double kv_bytes_per_token);

  int levels() const { return stack_->levels(); }
  const kvcache::TierStack& stack() const { return *stack_; }

  // How far below the device the prompt whose full pages hash to `hashes`
  // extends from page `first` (see TierStack::Lookup).
  void Lookup(std::span<const kvcache::BlockHash> hashes, int64_t first,
              kvcache::TierLookup* out) const {
    stack_->Lookup(hashes, first, out);
  }

  // Loads pages [first, lookup.end_page) for `request` at `now`; returns when
  // the last of them is on the device.
  int64_t Load(std::span<const kvcache::BlockHash> hashes, int64_t first,
               const kvcache::TierLookup& lookup, uint64_t request, int64_t now);
  // When that load would be on the device if issued at `now`; changes nothing.
  int64_t LoadReady(std::span<const kvcache::BlockHash> hashes, int64_t first,
                    const kvcache::TierLookup& lookup, int64_t now) const;

  // `request` used (matched on the device, or computed) these pages at `now`:
  // marks the use below and issues the copies it causes (write-through).
  void UseOnDevice(std::span<const kvcache::BlockHash> hashes, uint64_t request, int64_t now);

  // Whether a tier below still holds the block (a device eviction demotes it).
  bool HeldBelow(const kvcache::BlockHash& hash) const {
    return stack_->Holder(hash) != kvcache::kDeviceLevel;
  }

  // Figures so far; TierFigures::hit_tokens is the caller's to fill.
  std::vector<TierFigures> Figures() const;

 private:
  struct Link {
    double bandwidth = 0;
    int64_t latency_ns = 0;
    int64_t free_ns = 0;
    int64_t busy_ns = 0;
    // Returns when `bytes` issued at `start` are usable.
    int64_t Transfer(int64_t start, double bytes);
  };

  TierModel(std::unique_ptr<kvcache::TierStack> stack, double page_bytes);
  // Per level: when the load's blocks there are ready (not before `now`), and
  // how many pages it takes from it.
  void LoadSources(std::span<const kvcache::BlockHash> hashes, int64_t first,
                   const kvcache::TierLookup& lookup, int64_t now, std::vector<int64_t>* start,
                   std::vector<int64_t>* pages) const;
  // Times the load over the links `up` (each level's toward the device);
  // returns its end, and in *through_host when the disk's part reached the host.
  int64_t TimeLoad(const std::vector<int64_t>& start, const std::vector<int64_t>& pages,
                   std::vector<Link>* up, int64_t* through_host) const;
  // Times the copies `moves_` lists (issued at `now`), marks their blocks ready.
  void IssueMoves(int64_t now);

  std::unique_ptr<kvcache::TierStack> stack_;
  double page_bytes_;
  std::vector<Link> up_, down_;  // by level (index 0 unused)
  std::vector<int64_t> pages_loaded_, pages_written_;
  std::vector<kvcache::TierMove> moves_;  // reused
};

}  // namespace radixlm::sim
