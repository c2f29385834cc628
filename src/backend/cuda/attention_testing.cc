#include "backend/cuda/attention_testing.h"

#include <cmath>
#include <cstring>

#include "backend/cuda/attention.h"
#include "backend/cuda/attention_plan.h"
#include "backend/cuda/cuda_status.h"
#include "backend/cuda/device_buffer.h"

namespace radixlm::backend::cuda {

namespace {
int64_t last_cascade_blocks = 0;

template <typename T>
Status Upload(const std::vector<T>& host, DeviceBuffer* dst) {
  RETURN_IF_ERROR(dst->Reserve(host.size() * sizeof(T), "a test buffer"));
  if (!host.empty()) {
    RADIXLM_CUDA_TRY(
        cudaMemcpy(dst->as<void>(), host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice));
  }
  return OkStatus();
}
}  // namespace

Status RunPagedAttention(const PagedAttentionProblem& p, std::vector<float>* out) {
  if (!AttentionSupportsHeadDim(p.head_dim)) return InvalidArgumentError("unsupported head_dim");
  RADIXLM_CUDA_TRY(PrepareAttention());
  std::vector<AttentionPlanSeq> plan;
  std::vector<AttentionSeq> seqs;
  std::vector<int32_t> tables;
  int64_t rows = 0;
  for (const auto& s : p.seqs) {
    plan.push_back({s.start, s.tokens, s.page_table.empty() ? -1 : s.page_table[0],
                    s.page_table.data(), static_cast<int64_t>(s.page_table.size())});
    seqs.push_back({static_cast<int32_t>(rows), static_cast<int32_t>(s.start),
                    static_cast<int32_t>(tables.size())});
    tables.insert(tables.end(), s.page_table.begin(), s.page_table.end());
    rows += s.tokens;
  }
  std::vector<AttentionBlock> blocks;
  std::vector<AttentionMerge> merges;
  const int64_t max_partials = 4096;
  const bool fp8 = !p.k_codes.empty();
  DecodeCascade cascade;
  cascade.page_size = p.page_size;
  const bool decode = PlanStepAttention(
      plan, p.heads, p.kv_heads, p.head_dim, p.num_sms, max_partials, &blocks, &merges, p.window,
      DecodeBlockOrder::kKvHeadMajor, p.cascade && !fp8 ? &cascade : nullptr);
  last_cascade_blocks = static_cast<int64_t>(cascade.blocks.size());
  const int32_t decode_forms =
      decode && p.decode_mma == 2 ? MarkDecodeForms(plan, p.window, &blocks) : 0;
  DeviceBuffer q, k, v, tab, sq, bl, mg, acc, stats, o, cb, cm;
  RETURN_IF_ERROR(Upload(p.q, &q));
  DeviceBuffer scales;
  if (fp8) {
    if (p.v_codes.size() != p.k_codes.size() ||
        p.k_scales.size() != static_cast<size_t>(p.kv_heads) ||
        p.v_scales.size() != p.k_scales.size())
      return InvalidArgumentError("FP8 pools: codes or scales of the wrong size");
    RETURN_IF_ERROR(Upload(p.k_codes, &k));
    RETURN_IF_ERROR(Upload(p.v_codes, &v));
    std::vector<float> both = p.k_scales;
    both.insert(both.end(), p.v_scales.begin(), p.v_scales.end());
    RETURN_IF_ERROR(Upload(both, &scales));
  } else {
    RETURN_IF_ERROR(Upload(p.k, &k));
    RETURN_IF_ERROR(Upload(p.v, &v));
  }
  RETURN_IF_ERROR(Upload(tables, &tab));
  RETURN_IF_ERROR(Upload(seqs, &sq));
  RETURN_IF_ERROR(Upload(blocks, &bl));
  RETURN_IF_ERROR(Upload(merges, &mg));
  RETURN_IF_ERROR(Upload(cascade.blocks, &cb));
  RETURN_IF_ERROR(Upload(cascade.members, &cm));
  RETURN_IF_ERROR(
      acc.Reserve(static_cast<size_t>(max_partials) * kAttentionRows * p.head_dim * 4, "partials"));
  RETURN_IF_ERROR(
      stats.Reserve(static_cast<size_t>(max_partials) * kAttentionRows * 2 * 4, "partials"));
  DeviceBuffer counters;
  RETURN_IF_ERROR(counters.Reserve(static_cast<size_t>(max_partials) * 4, "merge counters"));
  RADIXLM_CUDA_TRY(cudaMemset(counters.as<void>(), 0, counters.size()));
  const size_t out_elements = static_cast<size_t>(rows * p.heads * p.head_dim);
  RETURN_IF_ERROR(o.Reserve(out_elements * 2, "output"));
  RADIXLM_CUDA_TRY(cudaMemset(o.as<void>(), 0xff, out_elements * 2));  // NaN: unwritten shows
  AttentionArgs a{};
  a.qkv = q.as<float>();
  a.ld = p.heads * p.head_dim;
  if (fp8) {
    a.k_fp8 = k.as<__nv_fp8_storage_t>();
    a.v_fp8 = v.as<__nv_fp8_storage_t>();
    a.k_scales = scales.as<float>();
    a.v_scales = scales.as<float>() + p.kv_heads;
  } else {
    a.k_pool = k.as<bf16>();
    a.v_pool = v.as<bf16>();
  }
  a.page_tables = tab.as<int32_t>();
  a.seqs = sq.as<AttentionSeq>();
  a.blocks = bl.as<AttentionBlock>();
  a.num_blocks = static_cast<int32_t>(blocks.size());
  a.merges = mg.as<AttentionMerge>();
  a.num_merges = static_cast<int32_t>(merges.size());
  a.page_size = static_cast<int32_t>(p.page_size);
  a.heads = static_cast<int32_t>(p.heads);
  a.kv_heads = static_cast<int32_t>(p.kv_heads);
  a.head_dim = static_cast<int32_t>(p.head_dim);
  a.scale = 1.0f / std::sqrt(static_cast<float>(p.head_dim));
  a.partial_acc = acc.as<float>();
  a.partial_stats = stats.as<float>();
  a.merge_counters = counters.as<int32_t>();
  a.out = o.as<bf16>();
  a.decode = decode ? 1 : 0;
  a.window = static_cast<int32_t>(p.window);
  a.cascade_blocks = cb.as<CascadeBlock>();
  a.num_cascade_blocks = static_cast<int32_t>(cascade.blocks.size());
  a.cascade_split_keys = cascade.split_keys;
  a.cascade_members = cm.as<CascadeMember>();
  a.decode_mma = p.decode_mma;
  a.decode_forms = decode_forms;
  // Twice, the output cleared in between: the second launch shows that the first
  // left its merge counters at zero (as CUDA-graph replays need). The partials
  // are NaN before each launch, so a partial some block should have written and
  // did not (or wrote late) shows in the output.
  for (int launch = 0; launch < 2; ++launch) {
    RADIXLM_CUDA_TRY(cudaMemset(acc.as<void>(), 0xff, acc.size()));
    RADIXLM_CUDA_TRY(cudaMemset(stats.as<void>(), 0xff, stats.size()));
    RADIXLM_CUDA_TRY(cudaMemset(o.as<void>(), 0xff, out_elements * 2));
    RADIXLM_CUDA_TRY(LaunchAttention(a, nullptr));
  }
  RADIXLM_CUDA_TRY(cudaDeviceSynchronize());
  std::vector<uint16_t> bits(out_elements);
  RADIXLM_CUDA_TRY(cudaMemcpy(bits.data(), o.as<void>(), out_elements * 2, cudaMemcpyDeviceToHost));
  out->resize(out_elements);
  for (size_t i = 0; i < out_elements; ++i) {
    const uint32_t f = static_cast<uint32_t>(bits[i]) << 16;
    std::memcpy(&(*out)[i], &f, 4);
  }
  return OkStatus();
}

int64_t LastCascadeBlocks() { return last_cascade_blocks; }

int64_t DecodeMmaMaxKeys() { return kDecodeMmaMaxKeys; }

}  // namespace radixlm::backend::cuda
