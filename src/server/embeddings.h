// Embeddings from the served model: /v1/embeddings and the semantic cache's
// ModelEmbedder both submit engine embedding requests (engine/request.h: every
// prompt token computed, the mean of the final hidden states at unit length)
// and wait for their vectors.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "engine/request.h"
#include "respcache/semantic_cache.h"
#include "server/request_builder.h"

namespace radixlm::engine {
class Engine;
}

namespace radixlm::server {

struct EmbeddingResult {
  std::vector<std::vector<float>> vectors;  // one per request, in order
  int64_t prompt_tokens = 0;
};

// Submits the embedding requests and waits for every vector. An engine refusal
// or error is returned as it is; a request cancelled by shutdown is UNAVAILABLE.
StatusOr<EmbeddingResult> RunEmbeddings(engine::Engine* engine,
                                        std::vector<engine::RequestOptions> requests);

// The semantic cache's embedder when it uses the served model: the text is
// tokenized as a completion prompt (its last max_context tokens kept) and
// embedded under the caller's namespace, so its pages join that tenant's prefix
// cache only.
class ModelEmbedder final : public respcache::Embedder {
 public:
  // Not owned; both must outlive the embedder.
  ModelEmbedder(engine::Engine* engine, const RequestBuilder* builder)
      : engine_(engine), builder_(builder) {}
  StatusOr<std::vector<float>> Embed(const std::string& text, const std::string& ns) override;
  std::string source() const override { return "model"; }

 private:
  engine::Engine* engine_;
  const RequestBuilder* builder_;
};

}  // namespace radixlm::server
