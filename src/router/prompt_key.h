// PromptKeyer: what a replica would cache for an API request, computed in the
// router: the request's namespace and prompt tokens exactly as `radixlm serve`
// builds them (server::RequestBuilder over the model's tokenizer.json and chat
// template: BOS for Llama text prompts, the chat template for chat), hashed into
// the replica's block hashes (kvcache/block_hash.h, page_size tokens a page).
//
// Namespace: the request's cache_salt, or "" (docs/KV_EVENTS.md); with
// `tenant_keys` (the replicas run with --api-key) the tenant of the request's
// bearer key as well, as the replicas derive it.
//
// Thread-safe: immutable after Create.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "kvcache/types.h"

namespace radixlm::model {
class Tokenizer;
}
namespace radixlm::server {
class RequestBuilder;
}

namespace radixlm::router {

struct PromptKey {
  std::string ns;
  std::vector<kvcache::Token> tokens;
  std::vector<kvcache::BlockHash> hashes;  // full pages of tokens
  bool stream = false;                     // the request asks for server-sent events
};

class PromptKeyer {
 public:
  static StatusOr<std::unique_ptr<PromptKeyer>> Create(const std::string& model_dir, int page_size,
                                                       bool tenant_keys);
  ~PromptKeyer();

  // `path` is /v1/completions, /v1/chat/completions or /v1/embeddings; `authorization`
  // the request's Authorization header (may be empty). A request the server would
  // refuse gets an error here too (the router then sends it anywhere, for the
  // replica's own error answer).
  StatusOr<PromptKey> Key(std::string_view path, std::string_view body,
                          std::string_view authorization) const;

  int page_size() const { return page_size_; }

 private:
  PromptKeyer() = default;
  std::unique_ptr<model::Tokenizer> tokenizer_;
  std::unique_ptr<server::RequestBuilder> builder_;
  int page_size_ = 16;
  bool tenant_keys_ = false;
};

}  // namespace radixlm::router
