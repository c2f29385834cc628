#include "backend/load_model.h"

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "model/fp8_weights.h"

namespace radixlm::backend {

namespace {

std::string WeightFormat(const model::ModelWeights& w) {
  for (const model::LayerWeights& l : w.layers) {
    for (const model::WeightView* v : {&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down}) {
      if (v->scale != nullptr) return "fp8";
    }
  }
  std::string name(model::DTypeName(w.layers.front().q.ref->info->dtype));
  std::transform(name.begin(), name.end(), name.begin(),
                 [](char ch) { return static_cast<char>(std::tolower(ch)); });
  return name;
}

}  // namespace

StatusOr<QuantizeWeights> ParseQuantizeWeights(std::string_view name) {
  if (name.empty() || name == "none") return QuantizeWeights::kNone;
  if (name == "fp8") return QuantizeWeights::kFp8;
  return InvalidArgumentError("--quantize: '" + std::string(name) + "' (use fp8 or none)");
}

std::string RuntimeName(const LoadedModel& m) {
  std::string name = std::string(m.backend->name()) + "/" +
                     std::string(m.backend->numeric_format()) + "/" + m.weight_format;
  if (m.backend->kv_format() != m.backend->numeric_format()) {
    name += "/kv-" + std::string(m.backend->kv_format());
  }
  return name;
}

StatusOr<LoadedModel> LoadModel(const std::string& dir, const cpu::CpuBackendOptions& options,
                                QuantizeWeights quantize) {
  return LoadModel(
      dir,
      [&options](const model::ModelWeights& weights) -> StatusOr<std::unique_ptr<Backend>> {
        ASSIGN_OR_RETURN(std::unique_ptr<cpu::CpuBackend> backend,
                         cpu::CpuBackend::Create(weights, options));
        return std::unique_ptr<Backend>(std::move(backend));
      },
      quantize);
}

StatusOr<LoadedModel> LoadModel(const std::string& dir, const BackendFactory& make_backend,
                                QuantizeWeights quantize) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return NotFoundError(dir + ": not a directory");
  LoadedModel m;
  m.dir = dir;
  ASSIGN_OR_RETURN(m.config, model::ReadModelConfig((fs::path(dir) / "config.json").string()));
  ASSIGN_OR_RETURN(std::unique_ptr<model::Checkpoint> ckpt, model::Checkpoint::Open(dir));
  ASSIGN_OR_RETURN(model::ModelWeights weights, model::BindWeights(m.config, *ckpt));
  m.parameters = weights.parameter_count;
  m.checkpoint_bytes = ckpt->total_bytes();
  const fs::path tokenizer_path = fs::path(dir) / "tokenizer.json";
  if (fs::exists(tokenizer_path, ec)) {
    ASSIGN_OR_RETURN(m.tokenizer, model::Tokenizer::FromFile(tokenizer_path.string()));
  }
  // Quantized weights live in `store` until the backend holds its own copy.
  model::TensorStore store;
  switch (quantize) {
    case QuantizeWeights::kNone:
      break;
    case QuantizeWeights::kFp8:
      m.quantized_at_load = model::QuantizeLinearWeightsFp8(&weights, &store) > 0;
      break;
  }
  m.weight_format = WeightFormat(weights);
  m.kv_cache_scales = weights.kv_cache_scales.Describe();
  ASSIGN_OR_RETURN(m.backend, make_backend(weights));
  return m;
}

}  // namespace radixlm::backend
