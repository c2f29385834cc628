// KvDtype: the number format of a backend's KV pool (`--kv-dtype`).
//
//   auto  the backend's own format: F32 on the CPU backend, BF16 on CUDA.
//   fp8   FP8 E4M3 (core/fp8.h), one byte per element: a pool of the same
//         memory holds 4x the CPU backend's F32 tokens, 2x BF16's. Scales are
//         static, per layer for K and for V (what vLLM and SGLang use) or per
//         layer and KV head, as the checkpoint gives them
//         (model/kv_cache_scales.h), 1.0 where it gives none (vLLM's default).
//         An element is quantized once, when its K or V is written: code =
//         E4M3(x / scale), saturating at ±448; attention reads code * scale.
//         Every read of a page sees the same codes, so a backend's bit-exactness
//         (chunks, batches, cached prefixes, copied and moved pages) holds as
//         with its own format.
//
// The layout of a page does not change ([page][kv_head][slot][head_dim] on the
// CPU), only the element size; page copies and the tiers below the device move
// the codes as they are. The scales are a function of the model files, so the
// KV tiers' fingerprint (its model digest and kv_format) and the response
// cache's (RuntimeName) cover them.
#pragma once

#include <string_view>

#include "core/status.h"

namespace radixlm::backend {

enum class KvDtype { kAuto, kFp8 };

// "auto" (or "") -> kAuto; "fp8" or "fp8_e4m3" -> kFp8; anything else an
// INVALID_ARGUMENT naming --kv-dtype.
StatusOr<KvDtype> ParseKvDtype(std::string_view name);
std::string_view KvDtypeName(KvDtype dtype);  // "auto", "fp8"

// Backend::kv_format() of an FP8 pool: what fingerprints and logs call it.
inline constexpr std::string_view kKvFormatFp8 = "fp8_e4m3";

}  // namespace radixlm::backend
