// Cutting a step's attention into thread blocks (see attention.h), on the host.
// Plain C++: tests and the backend share it.
#pragma once

#include <cstdint>
#include <vector>

#include "backend/cuda/attention.h"

namespace radixlm::backend::cuda {

struct AttentionPlanSeq {
  int64_t start;   // tokens already in the pages
  int64_t tokens;  // new tokens
};

// Every function here takes the layer's sliding window (0: none; attention.h):
// a block's keys then start at its first query's window instead of at 0.

// Fills blocks and merges: one block per (sequence, kv head, group of up to
// kAttentionRows / group query tokens), each split over the keys (splits of at
// least 128 keys, aligned to kAttentionKeys) as many times as fits the blocks
// into one wave of three per multiprocessor (`num_sms` of them); never more
// than kAttentionMaxSplits splits of one block or `max_partials` partials. With
// a window, a block's keys start at its first query's first key rounded down to
// a multiple of kAttentionKeys.
void PlanAttention(const std::vector<AttentionPlanSeq>& seqs, int64_t heads, int64_t kv_heads,
                   int64_t num_sms, int64_t max_partials, std::vector<AttentionBlock>* blocks,
                   std::vector<AttentionMerge>* merges, int64_t window = 0);

// Decode steps (every sequence one new token) on the decode kernel: each
// (sequence, kv head) is cut into splits of DecodeSplitKeys(keys) keys, a
// length that depends on nothing but that sequence's key count, and every split
// is computed the same way and merged in the same order wherever it runs, so a
// sequence's attention is the same bits whatever else is in the batch. What
// the batch decides is only how many consecutive splits one thread block takes
// (enough blocks for kDecodeBlocksPerSm a multiprocessor, `num_sms` of them):
// one each at batch 1, all of a (sequence, kv head) in one block, which then
// merges them itself, at large batches. A decode partial holds the group's rows
// only (heads / kv_heads of them, not kAttentionRows). Where the splits would
// need more than `max_partial_rows` partial rows, no sequence is split. With a
// window, a sequence's keys are the last min(keys, window) exactly, and the
// splits' length is set by that count.
inline constexpr int64_t kDecodeSplitMinKeys = 64;
inline constexpr int64_t kDecodeMaxSplits = 32;
inline constexpr int64_t kDecodeBlocksPerSm = 4;
int64_t DecodeSplitKeys(int64_t keys);
void PlanDecodeAttention(const std::vector<AttentionPlanSeq>& seqs, int64_t heads, int64_t kv_heads,
                         int64_t num_sms, int64_t max_partial_rows,
                         std::vector<AttentionBlock>* blocks, std::vector<AttentionMerge>* merges,
                         int64_t window = 0);

// Pads a decode plan of `seqs` sequences to counts that depend on nothing
// else: blocks to DecodePlanMaxBlocks (the padding blocks have seq -1 and do
// nothing), merges to seqs * kv_heads (zeroed). A decode step's launch grid and
// table offsets then depend on its batch size alone, so one captured graph
// serves every step of that size whatever the sequences' lengths.
int64_t DecodePlanMaxBlocks(int64_t seqs, int64_t kv_heads, int64_t num_sms);
void PadDecodePlan(int64_t seqs, int64_t kv_heads, int64_t num_sms,
                   std::vector<AttentionBlock>* blocks, std::vector<AttentionMerge>* merges);

// Partials (of kAttentionRows rows) a workspace holds so that prefill splits
// have 2,048 and decode steps of up to `decode_batch` sequences never lose
// their splits.
int64_t AttentionMaxPartials(int64_t heads, int64_t decode_batch);

// The plan of a step: PlanDecodeAttention where every sequence has one new
// token and DecodeAttentionSupports the shape, else PlanAttention. Returns
// whether it is a decode plan (AttentionArgs::decode). Partial buffers hold
// max_partials * kAttentionRows rows.
bool PlanStepAttention(const std::vector<AttentionPlanSeq>& seqs, int64_t heads, int64_t kv_heads,
                       int64_t head_dim, int64_t num_sms, int64_t max_partials,
                       std::vector<AttentionBlock>* blocks, std::vector<AttentionMerge>* merges,
                       int64_t window = 0);

}  // namespace radixlm::backend::cuda
