// PinTable: retention a client asks for. A pin keeps the pages of a cached
// prefix from eviction until it expires: it is a lock on the prefix's cache entry
// (PrefixCache::LockPrefix) held by this table instead of by a request, so the
// cache's own rule (a locked page is never evicted or freed) is what protects it.
//
// A pin's life:
//   Reserve   a request asks to pin the first `tokens` tokens of its prompt under
//             namespace `ns` for `ttl`, on behalf of `owner` (a tenant). The
//             pages are counted against the owner's budget and the server's at
//             once, so a pin past a budget is refused (INVALID_ARGUMENT naming
//             the budget) before the request runs. The same owner pinning the
//             same prefix of the same namespace again extends the pin (its expiry
//             becomes the later of the two) and costs no more pages. The request
//             carries the returned PinTicket.
//   Attach    once the request has put the prefix into the cache, its ticket
//             locks it (SequencePages::Commit does this after an insert that
//             covers the prefix). Until then the pin is pending; its pages count
//             against the budgets all the same.
//   Expire    pins past their expiry are unlocked and dropped. The engine calls
//             it before every step, so an expired pin never outlives the step
//             that needs its pages.
//   Release   a client drops its pins before they expire.
// A pending pin whose requests all ended without attaching it (they failed, or
// the cache refused the prefix) is dropped when the last ticket goes.
//
// Granularity: a pin covers the whole pages of the prefix, floor(tokens /
// page_size) of them (a partly filled last page belongs to whichever request
// writes after it, so it cannot be held); a prefix shorter than one page pins
// nothing (Reserve returns a null ticket), as Anthropic's API caches nothing
// below its minimum. Pins that overlap (a system prompt and a longer prefix of
// the same conversation) each count their own pages against the budgets.
//
// A pinned page is out of the pool for everyone until the pin goes: the server's
// budget (max_pages_total) keeps a share of the pool free of pins, and a request
// that needs more than the unpinned pool waits for pins to expire.
//
// Thread safety: every method may be called from any thread (one mutex), except
// Attach (through PinTicket), Expire and Release*, which lock and unlock cache
// entries and so run on the cache's thread. Dropping a ticket never touches the
// cache. Tickets keep the table alive; the cache must outlive every call that
// touches it (the table's destructor does not).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/hash.h"
#include "core/status.h"
#include "kvcache/prefix_cache.h"
#include "kvcache/types.h"

namespace radixlm {
class Clock;
}

namespace radixlm::kvcache {

struct PinOptions {
  int32_t page_size = 16;
  // Pages one owner may hold pinned (pending pins included); 0 refuses every pin.
  int64_t max_pages_per_owner = 0;
  // Pages all owners together may hold pinned.
  int64_t max_pages_total = 0;
  // Longest TTL a pin may ask for.
  int64_t max_ttl_seconds = 86400;
  Status Validate() const;
};

// One pin as List reports it.
struct PinInfo {
  uint64_t id = 0;
  std::string owner;
  std::string ns;
  int64_t tokens = 0;  // whole pages' tokens: pages * page_size
  int64_t pages = 0;
  int64_t created_ns = 0;
  int64_t expires_ns = 0;
  bool active = false;  // attached: its pages are locked in the cache
};

// Of live pins (not past their expiry).
struct PinStats {
  int64_t pins = 0;
  int64_t pages_pinned = 0;    // attached pins' pages
  int64_t pages_reserved = 0;  // pending pins' pages
  // By owner: attached + pending pages.
  std::map<std::string, int64_t> pages_by_owner;
};

class PinTable;

// A request's claim on a pin, carried by the request (RequestOptions). Dropping
// the last ticket of a pin that was never attached drops the pin.
class PinTicket {
 public:
  PinTicket(std::shared_ptr<PinTable> table, uint64_t id, size_t tokens)
      : table_(std::move(table)), id_(id), tokens_(tokens) {}
  ~PinTicket();
  PinTicket(const PinTicket&) = delete;
  PinTicket& operator=(const PinTicket&) = delete;

  uint64_t pin_id() const { return id_; }
  // The prompt tokens the pin covers (a multiple of the page size).
  size_t tokens() const { return tokens_; }
  // Whether Attach was tried (it is tried once).
  bool tried() const { return tried_; }
  // Locks the pin's prefix, the first tokens() of `prompt`, which the caller has
  // just inserted under `ns`. On the cache's thread. FAILED_PRECONDITION when the
  // cache does not hold the whole prefix (an admission policy refused it), or when
  // the pin was released, or expired and was dropped, meanwhile.
  Status Attach(std::string_view ns, std::span<const Token> prompt);

 private:
  std::shared_ptr<PinTable> table_;
  uint64_t id_;
  size_t tokens_;
  bool tried_ = false;
};

class PinTable : public std::enable_shared_from_this<PinTable> {
 public:
  // `cache` and `clock` are not owned and must outlive the table's cache calls.
  static StatusOr<std::shared_ptr<PinTable>> Create(const PinOptions& options, PrefixCache* cache,
                                                    const Clock* clock);

  // See the life of a pin above. `prompt` holds at least the prefix; `tokens`
  // is the prefix length asked for (clipped to whole pages). A null ticket: the
  // prefix is shorter than one page and nothing is pinned.
  StatusOr<std::shared_ptr<PinTicket>> Reserve(std::string_view owner, std::string_view ns,
                                               std::span<const Token> prompt, size_t tokens,
                                               int64_t ttl_seconds);

  // Drops pins past their expiry; returns how many. Cheap when none is due.
  int64_t Expire();
  // Drops pin `id` if `owner` holds it (any owner's with `any_owner`); NOT_FOUND
  // otherwise, naming the id.
  Status Release(uint64_t id, std::string_view owner, bool any_owner);
  // Drops every pin of `owner` (of everyone with `any_owner`); returns how many.
  int64_t ReleaseAll(std::string_view owner, bool any_owner);
  // Drops every pin in namespace `ns` (a flush of it); returns how many.
  int64_t ReleaseNamespace(std::string_view ns);

  // Live pins (not past their expiry) of `owner`, or everyone's, by id.
  std::vector<PinInfo> List(std::string_view owner, bool any_owner) const;
  PinStats Stats() const;
  const PinOptions& options() const { return options_; }
  // Page counts, the key index and the next expiry agree with the records.
  void CheckInvariants() const;

 private:
  friend class PinTicket;
  struct Pin {
    std::string owner;
    std::string ns;
    Hash128 key;
    int64_t tokens = 0;
    int64_t pages = 0;
    int64_t created_ns = 0;
    int64_t expires_ns = 0;
    int32_t tickets = 0;  // requests still carrying a ticket for it
    bool attached = false;
    CacheHandle handle;
  };

  PinTable(const PinOptions& options, PrefixCache* cache, const Clock* clock)
      : options_(options), cache_(cache), clock_(clock) {}

  Status Attach(uint64_t id, std::string_view ns, std::span<const Token> prefix);
  void Abandon(uint64_t id);
  // Unlocks (if attached) and erases; mu_ held.
  std::map<uint64_t, Pin>::iterator Drop(std::map<uint64_t, Pin>::iterator it);
  // Pages of live pins (not past their expiry at `now`); mu_ held.
  int64_t LivePages(std::string_view owner, bool any_owner, int64_t now) const;
  void RecomputeNextExpiry();  // mu_ held

  const PinOptions options_;
  PrefixCache* cache_;
  const Clock* clock_;

  mutable std::mutex mu_;
  std::map<uint64_t, Pin> pins_;                              // by id
  std::map<std::pair<uint64_t, uint64_t>, uint64_t> by_key_;  // Pin::key -> id
  uint64_t next_id_ = 1;
  int64_t pages_total_ = 0;
  int64_t next_expiry_ns_ = INT64_MAX;
};

}  // namespace radixlm::kvcache
