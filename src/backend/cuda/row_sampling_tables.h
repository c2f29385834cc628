// The host side of row sampling on the device (choose_tokens.h): packing each
// sequence's backend::RowSampling into the step's tables, where the launch
// writes its results, and copying them back into the RowSampling. Plain C++
// (the CUDA backend and the device test share it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "backend/cuda/choose_tokens.h"
#include "backend/sampling.h"

namespace radixlm::backend::cuda {

struct SampleTables {
  std::vector<DeviceRow> rows;
  std::vector<DeviceChoice> choices;
  std::vector<DeviceEdit> edits;
  // The rows' token masks, each once however many rows share it (rows whose
  // RowSampling::allowed is the same memory: a grammar's memoized mask).
  std::vector<uint32_t> masks;
  bool figures = false;  // some row asks log-probability figures

  void Clear();
  // Adds `s` for logit row `row`. Edit indices count from `edit_base` (the
  // DeviceEdit index of edits[0] in the array the kernel gets); mask_begin
  // from masks[0].
  void Add(const RowSampling& s, int32_t row, int32_t edit_base);
  // Adds a prompt-logprob row (PromptLogprobs): logit row `row`, figures with
  // the `top` best, and the logit of `target`; no choice, edit or mask.
  void AddPromptRow(int32_t row, int32_t target, int32_t top);

 private:
  std::vector<std::pair<const uint32_t*, int32_t>> mask_at_;  // a mask's memory -> its words
};

// The output block of a launch: ids, then chosen logits, then figures (16-byte
// aligned parts). bytes(false) is the prefix without the figures.
struct SampleOutputLayout {
  size_t ids_at = 0, logits_at = 0, figures_at = 0, end = 0;
  SampleOutputLayout(int64_t rows, int64_t choices);
  size_t bytes(bool with_figures) const { return with_figures ? end : figures_at; }
  SampleOutputs At(void* device_base) const;
};

// Copies row `index`'s results (of `tables`) from a host copy of the output
// block into `s`: its chosen ids and, when it asked, its figures.
void UnpackRow(const SampleTables& tables, size_t index, const SampleOutputLayout& layout,
               const void* host_block, const RowSampling& s);
// Copies prompt-logprob row `index`'s figures into *out (chosen_logits: the
// target's logit).
void UnpackPromptRow(size_t index, const SampleOutputLayout& layout, const void* host_block,
                     RowLogprobs* out);

}  // namespace radixlm::backend::cuda
