// Added tokens (special and not) and the matcher that finds them in text before
// the rest of the pipeline sees it, as HF's AddedVocabulary does: leftmost
// match first, the longest token at that position, then lstrip / rstrip /
// single_word applied around it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace radixlm::model {

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool special = false;
  bool lstrip = false;       // swallow whitespace on the left
  bool rstrip = false;       // swallow whitespace on the right
  bool single_word = false;  // match only where no word character touches it
  bool normalized = false;   // matched in normalized text rather than raw text
};

class AddedTokenMatcher {
 public:
  // One piece of split text: [begin, end) of the input, and the added token's
  // id or -1 for ordinary text.
  struct Piece {
    size_t begin, end;
    int32_t id;
  };

  // `tokens` must outlive the matcher.
  void Add(const AddedToken* token);
  bool empty() const { return tokens_.empty(); }

  // Replaces `pieces` with `text` cut at added tokens; the pieces cover `text`
  // (stripped whitespace is inside the token's piece) and none is empty.
  void Split(std::string_view text, std::vector<Piece>* pieces) const;

 private:
  // A byte trie: edges_ maps (node << 8 | byte) to the child node; token_[node]
  // is the index in tokens_ of the token ending there, or -1.
  std::unordered_map<uint32_t, uint32_t> edges_;
  std::vector<int32_t> token_{-1};
  std::vector<const AddedToken*> tokens_;
  std::array<bool, 256> first_byte_{};  // skip positions no token starts at
};

}  // namespace radixlm::model
