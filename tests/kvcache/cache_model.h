// CacheModel: drives a PrefixCache the way the engine will (match, lock, copy the
// boundary page, compute the rest into fresh pages, insert, swap locks, decode,
// finish) and checks it after every operation against
//   - a naive reference: per namespace, the list of resident token sequences;
//     a match must equal the longest common prefix with any of them (floored to
//     whole pages for the page-granular hash index);
//   - a shadow of KV memory: the token written into every page slot, so any page
//     handed out must hold exactly the tokens it claims;
//   - page conservation: pool pages in use == cached pages + pages the running
//     requests own, and the cache's own CheckInvariants().
// Any mismatch aborts with a message (CHECK), so the property test and the fuzzer
// share every check. Operations are driven by an OpSource: a seeded PRNG or the
// fuzzer's bytes.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "core/clock.h"
#include "kvcache/page_pool.h"
#include "kvcache/prefix_cache.h"

namespace radixlm::kvcache::testing {

// Where operation choices come from.
class OpSource {
 public:
  virtual ~OpSource() = default;
  // A value in [0, bound); bound >= 1.
  virtual uint32_t Next(uint32_t bound) = 0;
  // False once a finite source (fuzzer input) is used up.
  virtual bool more() const { return true; }
};

class RandomSource final : public OpSource {
 public:
  explicit RandomSource(uint64_t seed) : rng_(seed) {}
  uint32_t Next(uint32_t bound) override { return static_cast<uint32_t>(rng_() % bound); }

 private:
  std::mt19937_64 rng_;
};

class ByteSource final : public OpSource {
 public:
  ByteSource(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  uint32_t Next(uint32_t bound) override;
  bool more() const override { return pos_ < size_; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

struct ModelOptions {
  std::string kind = "radix";
  int32_t page_size = 16;
  int64_t num_pages = 96;
  std::string eviction = "lru";
  AdmissionOptions admission;
  int namespaces = 3;
  int max_active = 6;
  // Tokens are drawn from [0, alphabet): small alphabets make prefixes collide.
  int alphabet = 4;
};

class CacheModel {
 public:
  explicit CacheModel(const ModelOptions& options);
  ~CacheModel();

  // One random operation chosen by `source`, then every check.
  void Step(OpSource& source);

  // Individual operations (used by Step and by directed tests).
  // Starts a request; returns false when the pool cannot hold it.
  // With insert false the prompt's KV is computed but not yet inserted (a prefill
  // still running), so concurrent requests compute the same pages twice.
  bool Start(int ns, std::vector<Token> prompt, bool insert = true);
  void Insert(size_t active);
  void Extend(size_t active, std::span<const Token> more);
  void Finish(size_t active);
  void CheckMatch(int ns, std::span<const Token> query);
  void Evict(int64_t pages);
  void Flush(int ns);
  void FlushAll();
  void CheckAll() const;

  size_t active_count() const { return active_.size(); }
  PrefixCache& cache() { return *cache_; }
  const PagePool& pool() const { return *pool_; }
  int64_t operations() const { return operations_; }

 private:
  struct Active {
    int ns = 0;
    std::vector<Token> tokens;
    std::vector<PageId> pages;
    std::vector<uint8_t> owned;  // by page: nonzero where this request holds a reference
    CacheHandle handle;          // locked while the request runs
    size_t handle_tokens = 0;    // tokens `handle` covers
    int extra_locks = 0;         // nested locks taken on `handle`
    // Older handles still pinning pages this request reads (after a flush, the new
    // insert may cover less than the old lock did).
    std::vector<CacheHandle> held;
    uint64_t request_id = 0;
  };

  std::string NamespaceName(int ns) const { return "tenant-" + std::to_string(ns); }
  size_t ExpectedMatch(int ns, std::span<const Token> query) const;
  bool AllocatePages(int64_t count, std::vector<PageId>* out);
  void WriteSlots(PageId page, size_t first_slot, std::span<const Token> tokens);
  void CheckSlots(std::span<const PageId> pages, std::span<const Token> tokens, size_t count,
                  const char* what) const;
  // Inserts a.tokens and takes over the result; returns false if the request ended.
  void InsertActive(Active& a);
  void OnEvicted(const EvictedEntry& entry);
  std::vector<Token> MakePrompt(OpSource& source);

  // Queries asked again after every operation with a memo (PrefixCache::PeekMatch
  // with memo), which must agree with the plain walk.
  struct Watched {
    int ns = 0;
    std::vector<Token> query;
    PrefixMemo memo;
  };
  void CheckWatched();
  std::vector<Watched> watched_;
  size_t next_watch_ = 0;

  ModelOptions options_;
  ManualClock clock_;
  std::unique_ptr<PagePool> pool_;
  std::unique_ptr<PrefixCache> cache_;
  std::vector<Token> slots_;  // num_pages * page_size; -1 = never written
  // Reference: resident sequences per namespace.
  std::vector<std::vector<std::vector<Token>>> resident_;
  std::vector<Active> active_;
  std::vector<std::vector<Token>> history_;  // recent prompts, to build shared ones
  std::vector<CacheHandle> old_handles_;
  uint64_t next_request_id_ = 1;
  int64_t operations_ = 0;
  MatchResult match_;
  InsertResult insert_;
};

}  // namespace radixlm::kvcache::testing
