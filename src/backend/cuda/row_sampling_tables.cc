#include "backend/cuda/row_sampling_tables.h"

#include <cstring>

namespace radixlm::backend::cuda {

namespace {
size_t Align16(size_t bytes) { return (bytes + 15) / 16 * 16; }
}  // namespace

void SampleTables::Clear() {
  rows.clear();
  choices.clear();
  edits.clear();
  masks.clear();
  mask_at_.clear();
  figures = false;
}

void SampleTables::Add(const RowSampling& s, int32_t row, int32_t edit_base) {
  DeviceRow r{};
  r.row = row;
  r.choice_begin = static_cast<int32_t>(choices.size());
  r.choice_count = static_cast<int32_t>(s.choices.size());
  r.edit_begin = edit_base + static_cast<int32_t>(edits.size());
  r.edit_count = static_cast<int32_t>(s.edits.size());
  r.top_logprobs = s.top_logprobs;
  r.mask_begin = -1;
  r.target = -1;
  if (!s.allowed.empty()) {
    for (const auto& [data, at] : mask_at_) {
      if (data == s.allowed.data()) r.mask_begin = at;
    }
    if (r.mask_begin < 0) {
      r.mask_begin = static_cast<int32_t>(masks.size());
      mask_at_.emplace_back(s.allowed.data(), r.mask_begin);
      masks.insert(masks.end(), s.allowed.begin(), s.allowed.end());
    }
  }
  for (const TokenChoice& c : s.choices) choices.push_back(ToDeviceChoice(row, c));
  for (const LogitEdit& e : s.edits) edits.push_back({e.token, e.delta, 0.0f, 0});
  figures = figures || s.top_logprobs >= 0;
  rows.push_back(r);
}

void SampleTables::AddPromptRow(int32_t row, int32_t target, int32_t top) {
  DeviceRow r{};
  r.row = row;
  r.choice_begin = static_cast<int32_t>(choices.size());
  r.choice_count = 0;
  r.edit_begin = 0;
  r.edit_count = 0;
  r.top_logprobs = top;
  r.mask_begin = -1;
  r.target = target;
  figures = true;
  rows.push_back(r);
}

SampleOutputLayout::SampleOutputLayout(int64_t rows, int64_t choices) {
  ids_at = 0;
  logits_at = Align16(static_cast<size_t>(choices) * 4);
  figures_at = logits_at + Align16(static_cast<size_t>(choices) * 4);
  end = figures_at + static_cast<size_t>(rows) * sizeof(DeviceRowFigures);
}

SampleOutputs SampleOutputLayout::At(void* device_base) const {
  char* base = static_cast<char*>(device_base);
  return {reinterpret_cast<int32_t*>(base + ids_at), reinterpret_cast<float*>(base + logits_at),
          reinterpret_cast<DeviceRowFigures*>(base + figures_at)};
}

void UnpackRow(const SampleTables& tables, size_t index, const SampleOutputLayout& layout,
               const void* host_block, const RowSampling& s) {
  const DeviceRow& r = tables.rows[index];
  const char* base = static_cast<const char*>(host_block);
  std::memcpy(s.chosen.data(), base + layout.ids_at + static_cast<size_t>(r.choice_begin) * 4,
              static_cast<size_t>(r.choice_count) * 4);
  if (s.top_logprobs < 0) return;
  RowLogprobs* out = s.logprobs;
  DeviceRowFigures f;
  std::memcpy(&f, base + layout.figures_at + index * sizeof(DeviceRowFigures), sizeof(f));
  out->max = f.max;
  out->mass = f.mass;
  out->top.resize(static_cast<size_t>(f.count));
  for (int32_t i = 0; i < f.count; ++i)
    out->top[static_cast<size_t>(i)] = {f.top_tokens[i], f.top_logits[i]};
  out->chosen_logits.resize(static_cast<size_t>(r.choice_count));
  std::memcpy(out->chosen_logits.data(),
              base + layout.logits_at + static_cast<size_t>(r.choice_begin) * 4,
              static_cast<size_t>(r.choice_count) * 4);
}

void UnpackPromptRow(size_t index, const SampleOutputLayout& layout, const void* host_block,
                     RowLogprobs* out) {
  DeviceRowFigures f;
  std::memcpy(
      &f,
      static_cast<const char*>(host_block) + layout.figures_at + index * sizeof(DeviceRowFigures),
      sizeof(f));
  out->max = f.max;
  out->mass = f.mass;
  out->top.resize(static_cast<size_t>(f.count));
  for (int32_t i = 0; i < f.count; ++i)
    out->top[static_cast<size_t>(i)] = {f.top_tokens[i], f.top_logits[i]};
  out->chosen_logits.assign(1, f.target_logit);
}

}  // namespace radixlm::backend::cuda
