// Row sampling on the device: backend::SampleRow (sampling.h) for rows of F32
// logits, one thread block per row: log-probability figures of the unedited
// row, then the row's edits (penalties, logit_bias), then its token mask (the
// tokens a grammar rules out go to -inf), then one ChooseToken per choice (n > 1 samples draw
// several from one row), so a step hands the host token ids and a few figures instead of rows of
// logits (128k floats per sequence for Llama 3). The same bits as the host reference: the
// arithmetic is sampling_math.h's, every sum an integer, and the edits go in list order. Greedy
// rows take one pass over the row; top-k and top-p find their cut by radix selection over the
// scaled logits' order-preserving keys (8 bits a pass, 256-bin histograms of counts or masses in
// shared memory, each pass over the row in L2).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace radixlm::backend::cuda {

// One row's choice, as the step table carries it (TokenChoice plus its row).
struct DeviceChoice {
  int32_t row;  // logit row
  float inv_temperature;
  int32_t top_k;
  float top_p;
  float min_p;
  int32_t unused;
  double uniform;
};
static_assert(sizeof(DeviceChoice) == 32);

// From a backend::TokenChoice (a template so that this header, compiled as
// CUDA C++17 too, need not include sampling.h's C++20 <span>).
template <typename TokenChoice>
DeviceChoice ToDeviceChoice(int32_t row, const TokenChoice& c) {
  return {row, c.inv_temperature, c.top_k, c.top_p, c.min_p, 0, c.uniform};
}

// One sampled row, as the step table carries it.
struct DeviceRow {
  int32_t row;                         // logit row
  int32_t choice_begin, choice_count;  // its choices (and output ids)
  int32_t edit_begin, edit_count;      // its edits, from the edit base
  int32_t top_logprobs;                // -1: no figures
  int32_t mask_begin;                  // its token mask's first word, from the mask base; -1: none
  int32_t target;  // >= 0: the figures' target_logit is this token's unedited logit
};
static_assert(sizeof(DeviceRow) == 32);

// logits[token] += delta; the kernel keeps the value before the edit in `before`.
struct DeviceEdit {
  int32_t token;
  float delta;
  float before;
  int32_t unused;
};
static_assert(sizeof(DeviceEdit) == 16);

inline constexpr int kMaxDeviceTopLogprobs = 64;  // backend::kMaxRowTopLogprobs

// A row's log-probability figures (backend::RowLogprobs).
struct DeviceRowFigures {
  float max;
  int32_t count;  // entries of `top`
  unsigned long long mass;
  int32_t top_tokens[kMaxDeviceTopLogprobs];
  float top_logits[kMaxDeviceTopLogprobs];
  float target_logit;  // rows with a target (prompt logprobs)
  int32_t unused;
};

// Where a launch writes: ids[c] and the unedited logit of that token,
// chosen_logits[c], for every choice c (the logit only for rows with figures);
// figures[r] for rows r with top_logprobs >= 0 (r counted from the `rows`
// the launch got). A row with no choice and a target is a prompt-logprob row:
// figures only, and the target's logit. `logits` rows are edited (and
// masked) in place. `masks`: the base rows' mask_begin count from (words of
// (vocab + 31) / 32 per mask; may be null when no row has one).
struct SampleOutputs {
  int32_t* ids;
  float* chosen_logits;
  DeviceRowFigures* figures;
};

cudaError_t SampleRows(float* logits, int64_t vocab, const DeviceRow* rows, int64_t count,
                       const DeviceChoice* choices, DeviceEdit* edits, const uint32_t* masks,
                       SampleOutputs out, cudaStream_t stream);

}  // namespace radixlm::backend::cuda
