// TokenVocabulary: what each token id writes into the output, as bytes, and a
// trie over those byte strings for computing token masks (grammar.h).
//
// Ids run over the model's whole vocabulary (its logit rows); a token with no
// bytes (special tokens, ids the tokenizer does not define, as in a
// random-weight model whose rows outnumber its tokenizer) is never allowed by
// a grammar. From a model::Tokenizer, a token's bytes are TokenBytes(id): the
// byte-level BPE's bytes, or for SentencePiece vocabularies the piece with
// "\u2581" as a space and <0xNN> byte-fallback tokens as their byte. (A
// decoder that drops the first token's leading space only ever removes
// whitespace before a value, which the grammar never needs.)
//
// The trie lists every distinct byte string in preorder: node i has a byte, a
// depth (1 for a token's first byte), the end of its subtree (the next node
// that is not below it) and the tokens whose bytes end there, so a mask is one
// pass over the nodes that skips every subtree the grammar rules out.
//
// Immutable after Create; shared by every grammar compiled for the model.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace radixlm::model {
class Tokenizer;
}

namespace radixlm::grammar {

class TokenVocabulary {
 public:
  struct Node {
    uint8_t byte = 0;
    uint16_t depth = 0;        // 1 for a first byte
    uint16_t height = 0;       // the longest path below this node, in bytes
    int32_t subtree_end = 0;   // the first node after this node's subtree
    int32_t tokens_begin = 0;  // its tokens in token_ids()
    int32_t tokens_end = 0;
  };

  // token_bytes[id] for every id of the model (empty: never allowed). At most
  // 65535 bytes per token.
  static StatusOr<std::shared_ptr<const TokenVocabulary>> Create(
      std::vector<std::string> token_bytes);
  // Special tokens and ids past the tokenizer's have no bytes.
  static StatusOr<std::shared_ptr<const TokenVocabulary>> FromTokenizer(
      const model::Tokenizer& tokenizer, int64_t vocab_size);

  int64_t size() const { return static_cast<int64_t>(bytes_.size()); }
  int64_t mask_words() const { return (size() + 31) / 32; }
  std::string_view bytes(int32_t id) const {
    return id >= 0 && id < size() ? std::string_view(bytes_[static_cast<size_t>(id)])
                                  : std::string_view();
  }
  std::span<const Node> nodes() const { return nodes_; }
  std::span<const int32_t> token_ids() const { return token_ids_; }
  int32_t max_depth() const { return max_depth_; }
  // Whether every byte value is some token on its own, so that any text can be
  // written one byte a token (the grammar's token budget counts on it).
  bool spells_every_byte() const { return spells_every_byte_; }
  // A fingerprint of the byte strings, for grammar cache keys.
  uint64_t fingerprint() const { return fingerprint_; }

 private:
  std::vector<std::string> bytes_;
  std::vector<Node> nodes_;
  std::vector<int32_t> token_ids_;
  int32_t max_depth_ = 0;
  bool spells_every_byte_ = false;
  uint64_t fingerprint_ = 0;
};

}  // namespace radixlm::grammar
