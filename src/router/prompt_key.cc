#include "router/prompt_key.h"

#include <limits>

#include "kvcache/block_hash.h"
#include "model/config.h"
#include "model/tokenizer.h"
#include "server/auth.h"
#include "server/openai_protocol.h"
#include "server/request_builder.h"

namespace radixlm::router {

PromptKeyer::~PromptKeyer() = default;

StatusOr<std::unique_ptr<PromptKeyer>> PromptKeyer::Create(const std::string& model_dir,
                                                           int page_size, bool tenant_keys) {
  if (page_size < 1) return InvalidArgumentError("page size must be >= 1");
  std::unique_ptr<PromptKeyer> k(new PromptKeyer());
  k->page_size_ = page_size;
  k->tenant_keys_ = tenant_keys;
  ASSIGN_OR_RETURN(model::ModelConfig config, model::ReadModelConfig(model_dir + "/config.json"));
  ASSIGN_OR_RETURN(k->tokenizer_, model::Tokenizer::FromFile(model_dir + "/tokenizer.json"));
  server::ModelInfo info;
  info.tokenizer = k->tokenizer_.get();
  // The replicas check the context; the router only needs the tokens.
  info.max_context = std::numeric_limits<int32_t>::max();
  info.vocab_size = config.vocab_size;
  // As `radixlm serve` (tools/serve.cc) decides it.
  if ((config.architecture == model::Architecture::kLlama ||
       config.architecture == model::Architecture::kMistral) &&
      config.bos_token_id >= 0 &&
      k->tokenizer_->IsSpecial(static_cast<int32_t>(config.bos_token_id))) {
    info.bos_token_id = static_cast<int32_t>(config.bos_token_id);
  }
  ASSIGN_OR_RETURN(info.chat_format, server::LoadChatFormat(model_dir, "", *k->tokenizer_));
  k->builder_ = std::make_unique<server::RequestBuilder>(std::move(info));
  return k;
}

StatusOr<PromptKey> PromptKeyer::Key(std::string_view path, std::string_view body,
                                     std::string_view authorization) const {
  std::string tenant;
  if (tenant_keys_ && authorization.starts_with("Bearer ")) {
    tenant = server::TenantOfKey(authorization.substr(7));
  }
  server::ProtocolLimits limits;
  std::string param;
  PromptKey key;
  if (path == "/v1/completions") {
    ASSIGN_OR_RETURN(auto request, server::ParseCompletionRequest(body, limits, &param));
    key.ns = server::RequestNamespace(tenant, request.gen.cache_salt);
    key.stream = request.gen.stream;
    ASSIGN_OR_RETURN(auto built, builder_->BuildCompletion(request, key.ns, &param));
    if (built.empty()) return InvalidArgumentError("no prompt");
    key.tokens = std::move(built[0].options.prompt);
  } else if (path == "/v1/chat/completions") {
    ASSIGN_OR_RETURN(auto request, server::ParseChatRequest(body, limits, &param));
    key.ns = server::RequestNamespace(tenant, request.gen.cache_salt);
    key.stream = request.gen.stream;
    ASSIGN_OR_RETURN(auto built, builder_->BuildChat(request, key.ns, &param));
    key.tokens = std::move(built.options.prompt);
  } else if (path == "/v1/embeddings") {
    ASSIGN_OR_RETURN(auto request, server::ParseEmbeddingRequest(body, limits, &param));
    key.ns = server::RequestNamespace(tenant, request.cache_salt);
    ASSIGN_OR_RETURN(auto built, builder_->BuildEmbedding(request, key.ns, &param));
    if (built.empty()) return InvalidArgumentError("no input");
    key.tokens = std::move(built[0].prompt);
  } else {
    return InvalidArgumentError("no prompt in " + std::string(path));
  }
  kvcache::AppendBlockHashes(kvcache::NamespaceHash(key.ns), key.tokens, page_size_, &key.hashes);
  return key;
}

}  // namespace radixlm::router
