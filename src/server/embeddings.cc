#include "server/embeddings.h"

#include "engine/engine.h"
#include "server/generation.h"

namespace radixlm::server {

StatusOr<EmbeddingResult> RunEmbeddings(engine::Engine* engine,
                                        std::vector<engine::RequestOptions> requests) {
  std::vector<std::shared_ptr<engine::RequestHandle>> handles;
  std::vector<int64_t> lengths;
  for (engine::RequestOptions& o : requests) {
    lengths.push_back(static_cast<int64_t>(o.prompt.size()));
    auto handle = engine->Submit(std::move(o));
    if (!handle.ok()) {
      for (auto& h : handles) h->Cancel();
      return handle.status();
    }
    handles.push_back(std::move(*handle));
  }
  Generation generation(std::move(handles), lengths, /*n=*/1);
  EmbeddingResult result;
  result.vectors.resize(generation.prompts());
  std::vector<Generation::Event> events;
  while (!generation.finished() && generation.error().ok()) {
    events.clear();
    generation.Poll(&events, std::chrono::milliseconds(100));
    for (Generation::Event& e : events) {
      for (const engine::SampleDelta& d : e.update.samples) {
        if (d.finish == engine::FinishReason::kCancelled) {
          return Status(StatusCode::kUnavailable,
                        "The server is shutting down; the request was cancelled.");
        }
      }
      if (!e.update.embedding.empty()) result.vectors[e.prompt] = std::move(e.update.embedding);
    }
  }
  if (!generation.error().ok()) return generation.error();
  for (const auto& v : result.vectors) {
    if (v.empty()) return InternalError("an embedding request finished without its vector");
  }
  result.prompt_tokens = generation.usage().prompt_tokens;
  return result;
}

StatusOr<std::vector<float>> ModelEmbedder::Embed(const std::string& text, const std::string& ns) {
  engine::RequestOptions o;
  o.prompt = builder_->EncodeText(text);
  if (o.prompt.empty()) return InvalidArgumentError("the text encodes to no tokens");
  const int64_t max = builder_->info().max_context;
  if (static_cast<int64_t>(o.prompt.size()) > max)
    o.prompt.erase(o.prompt.begin(), o.prompt.end() - max);
  o.ns = ns;
  o.embed = true;
  std::vector<engine::RequestOptions> one;
  one.push_back(std::move(o));
  ASSIGN_OR_RETURN(EmbeddingResult result, RunEmbeddings(engine_, std::move(one)));
  return std::move(result.vectors[0]);
}

}  // namespace radixlm::server
