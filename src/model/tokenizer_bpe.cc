#include "model/tokenizer_bpe.h"

#include <algorithm>
#include <functional>
#include <utility>

namespace radixlm::model {

BpeModel::BpeModel(std::array<int32_t, 256> byte_ids, StringIdMap words,
                   const std::vector<Merge>& merges, bool ignore_merges)
    : byte_ids_(byte_ids),
      words_(std::move(words)),
      ignore_merges_(ignore_merges),
      cache_(new Shard[kShards]) {
  merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const uint64_t key =
        (uint64_t(uint32_t(merges[rank].left)) << 32) | uint32_t(merges[rank].right);
    // A duplicated pair keeps its first (lowest) rank, as HF's map build does.
    merges_.emplace(key, (uint64_t(rank) << 32) | uint32_t(merges[rank].merged));
  }
}

void BpeModel::Encode(std::string_view word, std::vector<int32_t>* ids) const {
  if (word.empty()) return;
  if (word.size() == 1) {
    if (byte_ids_[uint8_t(word[0])] >= 0) ids->push_back(byte_ids_[uint8_t(word[0])]);
    return;
  }
  if (ignore_merges_) {
    if (auto it = words_.find(word); it != words_.end()) {
      ids->push_back(it->second);
      return;
    }
  }
  if (word.size() > kMaxCachedWord) {
    MergeWord(word, ids);
    return;
  }
  Shard& shard = cache_[StringHash()(word) % kShards];
  {
    std::lock_guard<std::mutex> lock(shard.mu);
    if (auto it = shard.words.find(word); it != shard.words.end()) {
      ids->insert(ids->end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const size_t first = ids->size();
  MergeWord(word, ids);
  std::vector<int32_t> result(ids->begin() + first, ids->end());
  std::lock_guard<std::mutex> lock(shard.mu);
  if (shard.words.size() >= kShardCapacity) shard.words.clear();
  shard.words.emplace(std::string(word), std::move(result));
}

void BpeModel::MergeWord(std::string_view word, std::vector<int32_t>* ids) const {
  // Symbols form a linked list over the word's bytes; a min-heap holds candidate
  // pairs by (rank, position), so the lowest rank merges first and ties go to the
  // leftmost pair, as in HF's merge_word. Stale heap entries are skipped by
  // re-checking the pair when popped. O(n log n), so a 100 KB run of one
  // character does not go quadratic.
  struct Symbol {
    int32_t id;
    int32_t prev, next;  // -1 at the ends
    uint32_t len;        // 0 once merged into its left neighbour
  };
  struct Candidate {
    uint32_t rank;
    int32_t pos;
    int32_t merged;
    uint32_t right_len;  // detects a right neighbour that changed since the push
    bool operator>(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  thread_local std::vector<Symbol> symbols;
  thread_local std::vector<Candidate> heap;
  symbols.clear();
  for (size_t i = 0; i < word.size(); ++i) {
    const int32_t id = byte_ids_[uint8_t(word[i])];
    if (id < 0) continue;
    const int32_t n = int32_t(symbols.size());
    symbols.push_back({id, n - 1, n + 1, 1});
  }
  if (symbols.empty()) return;
  symbols.back().next = -1;
  heap.clear();
  auto push = [&](int32_t pos) {
    const int32_t next = symbols[pos].next;
    if (next < 0) return;
    const uint64_t key = (uint64_t(uint32_t(symbols[pos].id)) << 32) | uint32_t(symbols[next].id);
    auto it = merges_.find(key);
    if (it == merges_.end()) return;
    heap.push_back(
        {uint32_t(it->second >> 32), pos, int32_t(uint32_t(it->second)), symbols[next].len});
    std::push_heap(heap.begin(), heap.end(), std::greater<>());
  };
  for (int32_t i = 0; i + 1 < int32_t(symbols.size()); ++i) push(i);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), std::greater<>());
    const Candidate c = heap.back();
    heap.pop_back();
    Symbol& left = symbols[c.pos];
    if (left.len == 0 || left.next < 0) continue;
    Symbol& right = symbols[left.next];
    // The pair is still current only if both sides are what was pushed: the
    // merge result identifies them, since ids determine the merge.
    if (right.len != c.right_len) continue;
    const uint64_t key = (uint64_t(uint32_t(left.id)) << 32) | uint32_t(right.id);
    auto it = merges_.find(key);
    if (it == merges_.end() || int32_t(uint32_t(it->second)) != c.merged ||
        uint32_t(it->second >> 32) != c.rank) {
      continue;
    }
    left.id = c.merged;
    left.len += right.len;
    right.len = 0;
    left.next = right.next;
    if (left.next >= 0) symbols[left.next].prev = c.pos;
    if (left.prev >= 0) push(left.prev);
    push(c.pos);
  }
  for (int32_t i = 0; i >= 0; i = symbols[i].next) ids->push_back(symbols[i].id);
}

}  // namespace radixlm::model
