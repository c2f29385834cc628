#include "model/tokenizer_bpe.h"

#include <algorithm>
#include <functional>
#include <utility>

#include "model/tokenizer_utf8.h"

namespace radixlm::model {

namespace {

constexpr std::string_view kMeta = "\u2581";  // SentencePiece's space

// True when no token has a character other than U+2581 right before a U+2581.
bool NoTokenCrossesWordStart(const StringIdMap& words) {
  for (const auto& [text, id] : words) {
    for (size_t at = text.find(kMeta, 1); at != std::string::npos;
         at = text.find(kMeta, at + kMeta.size())) {
      if (at < kMeta.size() || text.compare(at - kMeta.size(), kMeta.size(), kMeta) != 0) {
        return false;
      }
    }
  }
  return true;
}

}  // namespace

BpeModel::BpeModel(const Options& options, StringIdMap words, const std::vector<Merge>& merges)
    : options_(options), words_(std::move(words)), cache_(new Shard[kShards]) {
  split_words_ = !options_.byte_level && !options_.ignore_merges && words_.count(kMeta) != 0 &&
                 NoTokenCrossesWordStart(words_);
  merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const uint64_t key =
        (uint64_t(uint32_t(merges[rank].left)) << 32) | uint32_t(merges[rank].right);
    // A duplicated pair keeps its first (lowest) rank, as HF's map build does.
    merges_.emplace(key, (uint64_t(rank) << 32) | uint32_t(merges[rank].merged));
  }
}

void BpeModel::Encode(std::string_view word, std::vector<int32_t>* ids) const {
  if (!split_words_) {
    EncodeWord(word, ids);
    return;
  }
  // Cut before each U+2581 that follows another character: no token spans such
  // a point, so no merge crosses it and the parts merge independently, each
  // through the word cache.
  size_t begin = 0;
  for (size_t at = word.find(kMeta, 1); at != std::string_view::npos;
       at = word.find(kMeta, at + kMeta.size())) {
    if (at >= kMeta.size() && word.compare(at - kMeta.size(), kMeta.size(), kMeta) == 0) {
      continue;  // inside a run of U+2581
    }
    EncodeWord(word.substr(begin, at - begin), ids);
    begin = at;
  }
  EncodeWord(word.substr(begin), ids);
}

void BpeModel::EncodeWord(std::string_view word, std::vector<int32_t>* ids) const {
  if (word.empty()) return;
  if (word.size() == 1 && options_.byte_level) {
    if (options_.byte_ids[uint8_t(word[0])] >= 0)
      ids->push_back(options_.byte_ids[uint8_t(word[0])]);
    return;
  }
  if (options_.ignore_merges) {
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

void BpeModel::InitialSymbols(std::string_view word,
                              std::vector<std::pair<int32_t, uint32_t>>* out) const {
  out->clear();
  if (options_.byte_level) {
    for (char c : word) {
      if (options_.byte_ids[uint8_t(c)] >= 0) out->emplace_back(options_.byte_ids[uint8_t(c)], 1);
    }
    return;
  }
  // Characters, as HF's merge_word: a pending unk is emitted before the next
  // known character (and, as there, not before byte-fallback tokens).
  int32_t unk_len = 0;  // bytes of the pending (possibly fused) unk; 0: none
  auto flush_unk = [&] {
    if (unk_len > 0) out->emplace_back(options_.unk_id, uint32_t(unk_len));
    unk_len = 0;
  };
  for (size_t i = 0; i < word.size();) {
    size_t len = Utf8SequenceLength(word, i);
    if (len == 0) len = 1;  // not reached: Encode repairs invalid UTF-8 first
    const std::string_view ch = word.substr(i, len);
    i += len;
    if (auto it = words_.find(ch); it != words_.end()) {
      flush_unk();
      out->emplace_back(it->second, uint32_t(len));
      continue;
    }
    if (options_.byte_fallback) {
      bool all = true;
      for (char c : ch) all = all && options_.byte_ids[uint8_t(c)] >= 0;
      if (all) {
        for (char c : ch) out->emplace_back(options_.byte_ids[uint8_t(c)], 1);
        continue;
      }
    }
    if (options_.unk_id < 0) continue;
    if (!options_.fuse_unk) flush_unk();
    unk_len += int32_t(len);
  }
  flush_unk();
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
  thread_local std::vector<std::pair<int32_t, uint32_t>> initial;
  InitialSymbols(word, &initial);
  symbols.clear();
  for (const auto& [id, len] : initial) {
    const int32_t n = int32_t(symbols.size());
    symbols.push_back({id, n - 1, n + 1, len});
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
