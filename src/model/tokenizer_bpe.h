// BPE: merges a pre-tokenized word into token ids by merge rank, the way
// Hugging Face tokenizers' BPE model does it. Two alphabets:
//   byte-level (GPT-2, Llama 3, Qwen): the word's symbols are its bytes;
//   characters (SentencePiece-style: Llama 2, Mistral, Gemma): its symbols are
//     its UTF-8 characters; a character missing from the vocab becomes its
//     <0xNN> byte tokens (byte_fallback), else the unk token (consecutive unks
//     fused into one with fuse_unk), else is dropped.
// Words are cached, because natural text repeats them: on English prose ~90%
// of words hit. With characters, a word (often a whole text: Llama 2 has no
// pre-tokenizer) is first cut before each "\u2581" word start when no vocab
// token holds one after another character, which leaves the result unchanged.
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
  // merges[r] = {left id, right id, merged id} at rank r.
  struct Merge {
    int32_t left, right, merged;
  };
  struct Options {
    bool byte_level = true;
    // byte_ids[b]: byte-level, the token of the single byte b; characters with
    // byte_fallback, the token <0xNN> of b. -1 where there is none (a byte
    // without a token is dropped, as HF does without an unk token).
    std::array<int32_t, 256> byte_ids{};
    bool byte_fallback = false;  // characters only
    int32_t unk_id = -1;         // characters only; -1: none
    bool fuse_unk = false;
    bool ignore_merges = false;
  };
  // `words`: every vocab token by its bytes (byte-level) or its text (characters).
  BpeModel(const Options& options, StringIdMap words, const std::vector<Merge>& merges);

  // Appends the ids of `word`. Thread-safe.
  void Encode(std::string_view word, std::vector<int32_t>* ids) const;

 private:
  void EncodeWord(std::string_view word, std::vector<int32_t>* ids) const;
  void MergeWord(std::string_view word, std::vector<int32_t>* ids) const;
  // The word's symbols before any merge (ids, and each one's byte length).
  void InitialSymbols(std::string_view word, std::vector<std::pair<int32_t, uint32_t>>* out) const;

  Options options_;
  bool split_words_ = false;  // cut words before "\u2581" word starts (see above)
  StringIdMap words_;
  // (left << 32 | right) -> (rank << 32 | merged id)
  std::unordered_map<uint64_t, uint64_t> merges_;

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
