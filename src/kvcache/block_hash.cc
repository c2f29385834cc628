#include "kvcache/block_hash.h"

namespace radixlm::kvcache {

namespace {
// Distinguishes namespace roots from page hashes.
constexpr uint64_t kNamespaceSeed = 0x7261646978666e73ULL;  // "radixfns"
}  // namespace

BlockHash NamespaceHash(std::string_view name) {
  return Hash128Of(name.data(), name.size(), kNamespaceSeed);
}

BlockHash ChainBlockHash(const BlockHash& parent, std::span<const Token> page_tokens) {
  return Hash128Chained(parent, page_tokens.data(), page_tokens.size_bytes());
}

BlockHash AppendBlockHashes(const BlockHash& parent, std::span<const Token> tokens, int page_size,
                            std::vector<BlockHash>* out) {
  BlockHash hash = parent;
  size_t full_pages = tokens.size() / page_size;
  for (size_t i = 0; i < full_pages; ++i) {
    hash = ChainBlockHash(hash, tokens.subspan(i * page_size, page_size));
    out->push_back(hash);
  }
  return hash;
}

}  // namespace radixlm::kvcache
