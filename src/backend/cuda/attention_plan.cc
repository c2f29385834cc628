#include "backend/cuda/attention_plan.h"

#include <algorithm>

namespace radixlm::backend::cuda {

namespace {
// Below this many keys a split's merge costs more than the parallelism gains.
constexpr int64_t kMinSplitKeys = 128;
// Blocks of the attention kernels resident on one multiprocessor (registers and
// shared memory allow three): splits fill at most one such wave.
constexpr int64_t kBlocksPerSm = 3;
}  // namespace

void PlanAttention(const std::vector<AttentionPlanSeq>& seqs, int64_t heads, int64_t kv_heads, int64_t num_sms,
                   int64_t max_partials, std::vector<AttentionBlock>* blocks, std::vector<AttentionMerge>* merges) {
  const int64_t group = heads / kv_heads;
  const int64_t q_block = std::max<int64_t>(1, kAttentionRows / group);
  int64_t base_blocks = 0;
  for (const AttentionPlanSeq& s : seqs) base_blocks += kv_heads * ((s.tokens + q_block - 1) / q_block);
  for (bool allow_split : {true, false}) {
    blocks->clear();
    merges->clear();
    int32_t partials = 0;
    for (size_t si = 0; si < seqs.size(); ++si) {
      const AttentionPlanSeq& s = seqs[si];
      for (int64_t g = 0; g < kv_heads; ++g) {
        for (int64_t q0 = 0; q0 < s.tokens; q0 += q_block) {
          const int64_t qn = std::min(q_block, s.tokens - q0);
          const int64_t keys = s.start + q0 + qn;  // what the block's last query sees
          int64_t splits = 1;
          if (allow_split) {
            const int64_t want = std::min<int64_t>(kAttentionMaxSplits, kBlocksPerSm * num_sms / base_blocks);
            splits = std::max<int64_t>(1, std::min(want, keys / kMinSplitKeys));
          }
          const int64_t split_len =
              (((keys + splits - 1) / splits + kAttentionKeys - 1) / kAttentionKeys) * kAttentionKeys;
          splits = (keys + split_len - 1) / split_len;
          AttentionBlock b{static_cast<int32_t>(si), static_cast<int32_t>(g), static_cast<int32_t>(q0),
                           static_cast<int32_t>(qn), 0, 0, -1};
          if (splits > 1) {
            b.merge = static_cast<int32_t>(merges->size());
            merges->push_back({b.seq, b.kv_head, b.q_begin, b.q_count, partials, static_cast<int32_t>(splits)});
          }
          for (int64_t k = 0; k < splits; ++k) {
            b.k_begin = static_cast<int32_t>(k * split_len);
            b.k_end = static_cast<int32_t>(std::min(keys, (k + 1) * split_len));
            b.partial = splits > 1 ? partials++ : -1;
            blocks->push_back(b);
          }
        }
      }
    }
    if (partials <= max_partials) return;
  }
}

}  // namespace radixlm::backend::cuda
