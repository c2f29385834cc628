// Byte-level BPE: merges a pre-tokenized word (raw bytes) into token ids by
// merge rank, the way Hugging Face tokenizers' BPE model does it. Words are
// cached, because natural text repeats them: on English prose ~90% of words hit.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace radixlm::model {

// Hash and equality that let a std::string-keyed map be probed with a string_view.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
};
using StringIdMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

class BpeModel {
 public:
  // byte_ids[b]: the token of the single byte b, or -1 (such bytes are dropped,
  // as HF does without an unk token). `words`: every vocab token by its bytes.
  // merges[r] = {left id, right id, merged id} at rank r.
  struct Merge {
    int32_t left, right, merged;
  };
  BpeModel(std::array<int32_t, 256> byte_ids, StringIdMap words, const std::vector<Merge>& merges,
           bool ignore_merges);

  // Appends the ids of `word`. Thread-safe.
  void Encode(std::string_view word, std::vector<int32_t>* ids) const;

 private:
  void MergeWord(std::string_view word, std::vector<int32_t>* ids) const;

  std::array<int32_t, 256> byte_ids_;
  StringIdMap words_;
  // (left << 32 | right) -> (rank << 32 | merged id)
  std::unordered_map<uint64_t, uint64_t> merges_;
  bool ignore_merges_;

  // The word cache, sharded so concurrent encodes rarely share a lock. A full
  // shard is cleared rather than managed as an LRU: 4096 words a shard hold a
  // whole request's vocabulary, and clearing costs nothing per hit.
  static constexpr int kShards = 16;
  static constexpr size_t kShardCapacity = 4096;
  static constexpr size_t kMaxCachedWord = 64;  // bytes; longer words are rare
  struct Shard {
    std::mutex mu;
    std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> words;
  };
  mutable std::unique_ptr<Shard[]> cache_;
};

}  // namespace radixlm::model
