#include "respcache/remote_embedder.h"

#include <simdjson.h>

#include <cmath>

#include "core/json_writer.h"

namespace radixlm::respcache {

StatusOr<std::vector<float>> ParseEmbeddingResponse(std::string_view body) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(body.data(), body.size()).get(root)) {
    return InvalidArgumentError("the embeddings response is not JSON");
  }
  simdjson::dom::array data, values;
  simdjson::dom::object first;
  if (root["data"].get_array().get(data) || data.size() == 0 ||
      data.at(0).get_object().get(first) || first["embedding"].get_array().get(values) ||
      values.size() == 0) {
    return InvalidArgumentError(
        "the embeddings response has no data[0].embedding array of numbers");
  }
  std::vector<float> out;
  out.reserve(values.size());
  for (simdjson::dom::element v : values) {
    double x = 0;
    if (v.get_double().get(x) || !std::isfinite(x) || std::fabs(x) > 3.0e38) {
      return InvalidArgumentError("data[0].embedding holds a value that is not a finite float");
    }
    out.push_back(static_cast<float>(x));
  }
  return out;
}

StatusOr<std::vector<float>> RemoteEmbedder::Embed(const std::string& text, const std::string& ns) {
  (void)ns;  // the remote server has no namespaces: the vector depends on the text only
  JsonWriter w;
  w.BeginObject();
  if (!model_.empty()) {
    w.Key("model");
    w.String(model_);
  }
  w.Key("input");
  w.String(text);
  w.EndObject();
  auto response = net::Post(target_, target_.prefix + "/embeddings", w.str());
  if (!response.ok())
    return Status(response.status().code(), url_ + ": " + response.status().message());
  if (response->status != 200) {
    return UnavailableError(url_ + ": HTTP " + std::to_string(response->status) + ": " +
                            response->body.substr(0, 200));
  }
  auto embedding = ParseEmbeddingResponse(response->body);
  if (!embedding.ok()) return UnavailableError(url_ + ": " + embedding.status().message());
  return embedding;
}

}  // namespace radixlm::respcache
