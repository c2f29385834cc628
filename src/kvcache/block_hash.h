// Block hashes: the chained content hash of every full page.
//
//   h(-1) = NamespaceHash(namespace)
//   h(i)  = hash(h(i-1), tokens of page i)
//
// Equal hashes mean equal namespace and equal tokens from the start of the prompt to
// the end of the page, so a hash keys a page's KV outside one process (host, disk
// and remote tiers, replicas sharing a cache). Each hash is computed from its
// parent's, so extending a prompt by a page costs one page of hashing.
#pragma once

#include <span>
#include <string_view>
#include <vector>

#include "kvcache/types.h"

namespace radixlm::kvcache {

BlockHash NamespaceHash(std::string_view name);

// Hash of one page given its parent's hash.
BlockHash ChainBlockHash(const BlockHash& parent, std::span<const Token> page_tokens);

// Appends the hashes of the full pages of `tokens` (a partial last page has none),
// chained from `parent` (the hash of the page before tokens[0], or NamespaceHash).
// Returns the hash of the last full page (or `parent` when there is none).
BlockHash AppendBlockHashes(const BlockHash& parent, std::span<const Token> tokens, int page_size,
                            std::vector<BlockHash>* out);

}  // namespace radixlm::kvcache
