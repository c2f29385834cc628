// LruStore: the in-process layer (L1) of the response cache. Keys to byte
// strings, bounded in bytes (key + value + a fixed per-entry overhead), least
// recently used first out, each entry with its own expiry time.
//
// Time is passed in (a steady-clock reading in milliseconds), so tests drive
// expiry without sleeping. An expired entry is dropped when it is looked up or
// when space is needed; it is never returned.
//
// Thread safety: every method locks one mutex (lookups move the entry to the
// front, so even Get writes).
#pragma once

#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace radixlm::respcache {

class LruStore {
 public:
  // Bytes an entry costs beyond its key and value (list node, map slot).
  static constexpr int64_t kEntryOverhead = 96;

  explicit LruStore(int64_t capacity_bytes) : capacity_(capacity_bytes) {}

  std::optional<std::string> Get(std::string_view key, int64_t now_ms);
  // Inserts or replaces. A value larger than the whole capacity is not stored
  // (false); otherwise least recently used entries make room.
  bool Put(std::string_view key, std::string value, int64_t expires_at_ms);
  // Removes every key starting with `prefix` ("" removes all); returns how many.
  int64_t EraseByPrefix(std::string_view prefix);

  int64_t bytes() const;
  int64_t entries() const;
  int64_t evictions() const;
  int64_t capacity_bytes() const { return capacity_; }

 private:
  struct Entry {
    std::string key;
    std::string value;
    int64_t expires_at_ms = 0;
    int64_t Cost() const {
      return static_cast<int64_t>(key.size() + value.size()) + kEntryOverhead;
    }
  };
  using List = std::list<Entry>;
  void EraseLocked(List::iterator it);

  const int64_t capacity_;
  mutable std::mutex mu_;
  List lru_;                                                    // most recently used first
  std::unordered_map<std::string_view, List::iterator> index_;  // views into Entry::key
  int64_t bytes_ = 0;
  int64_t evictions_ = 0;
};

}  // namespace radixlm::respcache
