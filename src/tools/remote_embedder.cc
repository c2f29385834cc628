#include "tools/remote_embedder.h"

#include "core/json_writer.h"
#include "server/openai_protocol.h"

namespace radixlm::tools {

StatusOr<std::vector<float>> RemoteEmbedder::Embed(const std::string& text, const std::string& ns) {
  JsonWriter w;
  w.BeginObject();
  if (!model_.empty()) {
    w.Key("model");
    w.String(model_);
  }
  w.Key("input");
  w.String(text);
  w.EndObject();
  std::string response;
  ASSIGN_OR_RETURN(int status, HttpPost(target_, target_.prefix + "/embeddings", w.str(), &response));
  if (status != 200) {
    return Status(StatusCode::kUnavailable, url_ + ": HTTP " + std::to_string(status) + ": " + response.substr(0, 200));
  }
  auto embedding = server::ParseEmbeddingResponse(response);
  if (!embedding.ok()) return Status(StatusCode::kUnavailable, url_ + ": " + embedding.status().message());
  return embedding;
}

}  // namespace radixlm::tools
