// RemoteEmbedder: the semantic cache's embeddings from another OpenAI-compatible
// server (`radixlm serve --semantic-embeddings URL`): one POST /v1/embeddings
// per text, bounded by a timeout. Failures come back as a Status (the semantic
// cache counts them and treats the call as a miss).
#pragma once

#include <string>
#include <vector>

#include "respcache/semantic_cache.h"
#include "tools/http_client.h"

namespace radixlm::tools {

class RemoteEmbedder final : public respcache::Embedder {
 public:
  // `model`: the "model" field sent ("" leaves it out).
  RemoteEmbedder(HttpTarget target, std::string url, std::string model)
      : target_(std::move(target)), url_(std::move(url)), model_(std::move(model)) {}
  StatusOr<std::vector<float>> Embed(const std::string& text, const std::string& ns) override;
  std::string source() const override { return url_; }

 private:
  HttpTarget target_;
  std::string url_;
  std::string model_;
};

}  // namespace radixlm::tools
