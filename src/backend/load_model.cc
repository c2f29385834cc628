#include "backend/load_model.h"

#include <filesystem>

namespace radixlm::backend {

StatusOr<LoadedModel> LoadModel(const std::string& dir, const cpu::CpuBackendOptions& options) {
  return LoadModel(
      dir, [&options](const model::ModelWeights& weights) -> StatusOr<std::unique_ptr<Backend>> {
        ASSIGN_OR_RETURN(std::unique_ptr<cpu::CpuBackend> backend,
                         cpu::CpuBackend::Create(weights, options));
        return std::unique_ptr<Backend>(std::move(backend));
      });
}

StatusOr<LoadedModel> LoadModel(const std::string& dir, const BackendFactory& make_backend) {
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
  ASSIGN_OR_RETURN(m.backend, make_backend(weights));
  return m;
}

}  // namespace radixlm::backend
