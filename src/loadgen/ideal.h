// The ideal cached ratio of a `bench serve` run: what an infinite, token-exact
// prefix cache would have served, replaying the prompts in the order they were
// sent (warm-up and probe first) through the real RadixTree (kvcache/) over a
// pool that never runs out. After each prompt the sequence the server would
// hold is inserted: the prompt, plus the server's own answer where it is known
// (that is what a later turn of a conversation can hit).
//
// A server cannot serve the last prompt token from its cache (its logits are
// needed), so each request's ideal is at most its length - 1. Units are token
// ids or words (bench_workload.h); any non-negative int32 works.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "core/status.h"

namespace radixlm::kvcache {
class PagePool;
class PrefixCache;
}  // namespace radixlm::kvcache

namespace radixlm::loadgen {

class IdealReplay {
 public:
  // `capacity_units`: at least the total length of the `inserts` sequences
  // that will be inserted.
  static StatusOr<std::unique_ptr<IdealReplay>> Create(int64_t capacity_units, int64_t inserts);
  ~IdealReplay();

  // Returns how many leading units of `prompt` were cached (<= size - 1), then
  // inserts `insert` (which should start with `prompt`).
  StatusOr<int64_t> Next(std::span<const int32_t> prompt, std::span<const int32_t> insert);

 private:
  IdealReplay() = default;
  std::unique_ptr<kvcache::PagePool> pool_;
  std::unique_ptr<kvcache::PrefixCache> cache_;
};

}  // namespace radixlm::loadgen
