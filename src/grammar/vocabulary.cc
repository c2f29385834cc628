#include "grammar/vocabulary.h"

#include <algorithm>
#include <numeric>

#include "core/hash.h"
#include "model/tokenizer.h"

namespace radixlm::grammar {

StatusOr<std::shared_ptr<const TokenVocabulary>> TokenVocabulary::Create(
    std::vector<std::string> token_bytes) {
  auto v = std::shared_ptr<TokenVocabulary>(new TokenVocabulary());
  v->bytes_ = std::move(token_bytes);
  if (v->bytes_.size() > static_cast<size_t>(INT32_MAX))
    return InvalidArgumentError("the vocabulary has more ids than int32 holds");
  std::vector<int32_t> order;
  uint64_t fp = v->bytes_.size();
  bool single[256] = {};
  for (size_t id = 0; id < v->bytes_.size(); ++id) {
    const std::string& b = v->bytes_[id];
    fp = Hash64(b, MixBits(fp + id));
    if (b.empty()) continue;
    if (b.size() > 65535) {
      return InvalidArgumentError("token " + std::to_string(id) + " is " +
                                  std::to_string(b.size()) + " bytes long (at most 65535)");
    }
    if (b.size() == 1) single[static_cast<uint8_t>(b[0])] = true;
    order.push_back(static_cast<int32_t>(id));
  }
  v->fingerprint_ = fp;
  v->spells_every_byte_ =
      std::all_of(std::begin(single), std::end(single), [](bool x) { return x; });
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    const std::string& x = v->bytes_[static_cast<size_t>(a)];
    const std::string& y = v->bytes_[static_cast<size_t>(b)];
    return x != y ? x < y : a < b;
  });
  // Preorder: after sorting, each string shares a prefix with the one before;
  // the path of open nodes is kept on a stack (index by depth - 1).
  std::vector<int32_t> path;
  std::string_view previous;
  auto close_to = [&](size_t depth) {
    while (path.size() > depth) {
      v->nodes_[static_cast<size_t>(path.back())].subtree_end =
          static_cast<int32_t>(v->nodes_.size());
      path.pop_back();
    }
  };
  for (int32_t id : order) {
    const std::string_view b = v->bytes_[static_cast<size_t>(id)];
    size_t common = 0;
    while (common < b.size() && common < previous.size() && b[common] == previous[common] &&
           common < path.size()) {
      ++common;
    }
    close_to(common);
    for (size_t d = common; d < b.size(); ++d) {
      Node node;
      node.byte = static_cast<uint8_t>(b[d]);
      node.depth = static_cast<uint16_t>(d + 1);
      path.push_back(static_cast<int32_t>(v->nodes_.size()));
      v->nodes_.push_back(node);
    }
    Node& last = v->nodes_[static_cast<size_t>(path.back())];
    if (last.tokens_end == 0) last.tokens_begin = static_cast<int32_t>(v->token_ids_.size());
    v->token_ids_.push_back(id);
    last.tokens_end = static_cast<int32_t>(v->token_ids_.size());
    v->max_depth_ = std::max(v->max_depth_, static_cast<int32_t>(b.size()));
    previous = b;
  }
  close_to(0);
  // Heights, from the leaves up: a node's children come after it in preorder.
  for (size_t i = v->nodes_.size(); i-- > 0;) {
    Node& n = v->nodes_[i];
    uint16_t h = 0;
    for (auto c = static_cast<int32_t>(i + 1); c < n.subtree_end;
         c = v->nodes_[static_cast<size_t>(c)].subtree_end) {
      h = std::max<uint16_t>(h,
                             static_cast<uint16_t>(v->nodes_[static_cast<size_t>(c)].height + 1));
    }
    n.height = h;
  }
  return std::shared_ptr<const TokenVocabulary>(std::move(v));
}

StatusOr<std::shared_ptr<const TokenVocabulary>> TokenVocabulary::FromTokenizer(
    const model::Tokenizer& tokenizer, int64_t vocab_size) {
  if (vocab_size < 1) return InvalidArgumentError("the vocabulary size must be >= 1");
  std::vector<std::string> bytes(static_cast<size_t>(vocab_size));
  const int64_t defined = std::min<int64_t>(vocab_size, tokenizer.vocab_size());
  for (int64_t id = 0; id < defined; ++id) {
    const auto i = static_cast<int32_t>(id);
    if (tokenizer.IsSpecial(i)) continue;
    bytes[static_cast<size_t>(id)] = std::string(tokenizer.TokenBytes(i));
  }
  return Create(std::move(bytes));
}

}  // namespace radixlm::grammar
