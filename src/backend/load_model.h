// LoadModel: a Hugging Face model directory, validated and ready to run: config,
// weights (checked against the architecture), tokenizer, and a backend with its
// KV page pool.
//
// FP8: an FP8 checkpoint (model/quantization.h) loads as it is; with
// QuantizeWeights::kFp8 (`--quantize fp8`) the linear layers' weights of any
// checkpoint are quantized to FP8 with per-output-channel scales at load
// (model/fp8_weights.h), giving the codes and scales make-model's FP8
// checkpoint of the same BF16 weights holds. Backends that have no FP8 kernels
// (the CPU's, and the CUDA one for now) dequantize those weights once at load
// and compute with exactly the values an FP8 path would read.
//
// The KV pool's format is the backend's (CpuBackendOptions::kv_dtype,
// kv_dtype.h); an FP8 pool takes the checkpoint's KV cache scales from the
// bound weights (model/kv_cache_scales.h).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

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
  // The linear layers' weights as loaded: "fp8" when any is FP8 (stored so or
  // quantized at load), else the checkpoint's dtype ("bf16", "f16", "f32").
  std::string weight_format;
  bool quantized_at_load = false;  // --quantize fp8 made them FP8
  // The checkpoint's FP8 KV cache scales, as KvCacheScales::Describe() puts
  // it ("none (1.0)", "checkpoint, per tensor", ...), for logs.
  std::string kv_cache_scales;
};

enum class QuantizeWeights { kNone, kFp8 };
// "none" or "" -> kNone, "fp8" -> kFp8; anything else an error naming the flag.
StatusOr<QuantizeWeights> ParseQuantizeWeights(std::string_view name);

// What, beside the model's files, decides its outputs' bits: the backend, its
// number format, the weights' format and, when the KV pool holds another format
// than the backend computes in, "kv-" and the pool's (Backend::kv_format), e.g.
// "cpu/f32/bf16", "cuda/bf16/fp8", "cpu/f32/bf16/kv-fp8_e4m3" (the response
// cache's model fingerprint, server/response_entry.h). The suffix is left out
// for a pool of the backend's own format, so those names stay what they were.
std::string RuntimeName(const LoadedModel& model);

// Makes the backend from the bound weights (which live only during the call).
using BackendFactory =
    std::function<StatusOr<std::unique_ptr<Backend>>(const model::ModelWeights&)>;

// The checkpoint is unmapped once the backend holds its own copy of the weights.
StatusOr<LoadedModel> LoadModel(const std::string& dir, const cpu::CpuBackendOptions& options,
                                QuantizeWeights quantize = QuantizeWeights::kNone);
// The same with any backend (the CUDA one: see tools/backend_choice.h).
StatusOr<LoadedModel> LoadModel(const std::string& dir, const BackendFactory& make_backend,
                                QuantizeWeights quantize = QuantizeWeights::kNone);

}  // namespace radixlm::backend
