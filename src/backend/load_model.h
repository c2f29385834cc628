// LoadModel: a Hugging Face model directory, validated and ready to run: config,
// weights (checked against the architecture), tokenizer, and a backend with its
// KV page pool.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "backend/backend.h"
#include "backend/cpu/cpu_backend.h"
#include "core/status.h"
#include "model/checkpoint.h"
#include "model/config.h"
#include "model/tokenizer.h"
#include "model/weights.h"

namespace radixlm::backend {

struct LoadedModel {
  std::string dir;
  model::ModelConfig config;
  std::unique_ptr<model::Tokenizer> tokenizer;  // null when the directory has none
  std::unique_ptr<Backend> backend;
  uint64_t parameters = 0;
  uint64_t checkpoint_bytes = 0;
};

// Makes the backend from the bound weights (which live only during the call).
using BackendFactory =
    std::function<StatusOr<std::unique_ptr<Backend>>(const model::ModelWeights&)>;

// The checkpoint is unmapped once the backend holds its own copy of the weights.
StatusOr<LoadedModel> LoadModel(const std::string& dir, const cpu::CpuBackendOptions& options);
// The same with any backend (the CUDA one: see tools/backend_choice.h).
StatusOr<LoadedModel> LoadModel(const std::string& dir, const BackendFactory& make_backend);

}  // namespace radixlm::backend
