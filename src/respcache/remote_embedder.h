// RemoteEmbedder: the semantic cache's embeddings from another OpenAI-compatible
// server (`radixlm serve --semantic-embeddings URL`): one POST /v1/embeddings
// per text through net/http_client.h, ended by the target's timeout_s as a real
// deadline (a server that trickles bytes cannot hold a request past it).
// Failures come back as a Status (the semantic cache counts them and treats the
// call as a miss).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "net/http_client.h"
#include "respcache/semantic_cache.h"

namespace radixlm::respcache {

class RemoteEmbedder final : public Embedder {
 public:
  // `model`: the "model" field sent ("" leaves it out).
  RemoteEmbedder(net::HttpTarget target, std::string url, std::string model)
      : target_(std::move(target)), url_(std::move(url)), model_(std::move(model)) {}
  StatusOr<std::vector<float>> Embed(const std::string& text, const std::string& ns) override;
  std::string source() const override { return url_; }

 private:
  net::HttpTarget target_;
  std::string url_;
  std::string model_;
};

// The vector of data[0] in an OpenAI embeddings response. Another server's
// answer is untrusted: anything but a non-empty list of finite numbers is an error.
StatusOr<std::vector<float>> ParseEmbeddingResponse(std::string_view body);

}  // namespace radixlm::respcache
