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
  // Decode plans: sequences with equal keys are planned next to each other. The
  // backend passes the first page of the sequence's table, so sequences that
  // share cached prefix pages (one system prompt) sit together.
  int64_t prefix_key = 0;
  // Decode plans with a DecodeCascade: the sequence's page table (at least
  // start + 1 keys' pages), to find the pages sequences share.
  const int32_t* pages = nullptr;
  int64_t num_pages = 0;
};

// A decode plan's cascade blocks (attention.h): `page_size` in, the rest out.
// Sequences with equal split lengths (DecodeSplitKeys) of at most
// kCascadeMaxSplitKeys keys and at least two splits are ordered by page table
// and cut greedily into groups of kCascadeMinMembers to kCascadeMaxMembers: a
// group takes the next sequence while it shares a whole split with the group's
// first and the group's shared work (members x shared splits) does not shrink.
// A group shares the whole splits within every member's common leading pages
// with its first (and before each member's last key), so the split that holds
// a sequence's newest key is always its own decode block's. Each shared split
// of each kv head of each group is one cascade block; merges count only the
// decode blocks (which merge after the cascade kernel has finished).
struct DecodeCascade {
  int64_t page_size = 0;
  std::vector<CascadeBlock> blocks;
  std::vector<CascadeMember> members;
  int32_t split_keys = 0;  // the longest split of the blocks (0: none)
};

// The order of a decode plan's blocks (which blocks the GPU runs at the same
// time; no sequence's result depends on it). kKvHeadMajor, the default: every
// sequence's blocks of kv head 0, then of kv head 1, ..., sequences ordered by
// prefix_key within each. At large batches a wave of resident blocks then holds
// one or two kv heads of the whole batch, so the sequences that share prefix
// pages read the same K/V lines at about the same time and L2 serves all but
// the first read. kSequenceMajor (each sequence's kv heads together, in batch
// order) is kept for bench-engine's comparison.
enum class DecodeBlockOrder { kKvHeadMajor, kSequenceMajor };

// Every function here takes the layer's sliding window (0: none; attention.h):
// a block's keys then start at its first query's window instead of at 0.

// Fills blocks and merges: one block per (sequence, kv head, group of up to
// kAttentionRows / group query tokens), and a block whose keys are more than
// its share of one wave's work (the step's key tiles over three blocks per
// multiprocessor, `num_sms` of them; at least 128 keys) split over its keys
// into pieces of about that share, aligned to kAttentionKeys; never more than
// kAttentionMaxSplits splits of one block or `max_partials` partials. With a
// window, a block's keys start at its first query's first key rounded down to
// a multiple of kAttentionKeys. Blocks come longest first (most keys), a
// block's splits in key order.
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
                         int64_t window = 0,
                         DecodeBlockOrder order = DecodeBlockOrder::kKvHeadMajor,
                         DecodeCascade* cascade = nullptr);

// The decode form by sequence (AttentionArgs::decode_mma 2): a sequence of at
// most kDecodeMmaMaxKeys visible keys (with `window`, the last min(keys,
// window)) decodes in the MMA form, a longer one on the CUDA cores. The bound
// is where splits stop being cascade-eligible (kDecodeMaxSplits splits of
// kCascadeMaxSplitKeys), so every cascade member is MMA-form. MarkDecodeForms
// sets each real block's AttentionBlock::mma and returns
// AttentionArgs::decode_forms (bit 0: some block is MMA-form, bit 1: some not).
inline constexpr int64_t kDecodeMmaMaxKeys = kDecodeMaxSplits * kCascadeMaxSplitKeys;
bool DecodeMmaForSequence(const AttentionPlanSeq& seq, int64_t window);
int32_t MarkDecodeForms(const std::vector<AttentionPlanSeq>& seqs, int64_t window,
                        std::vector<AttentionBlock>* blocks);

// Pads a decode plan of `seqs` sequences to counts that depend on nothing
// else: blocks to DecodePlanMaxBlocks (the padding blocks have seq -1 and do
// nothing), merges to seqs * kv_heads (zeroed). A decode step's launch grid and
// table offsets then depend on its batch size alone, so one captured graph
// serves every step of that size whatever the sequences' lengths. A cascade's
// blocks and members (when there are any) are padded to powers of two (padding
// blocks have no members), so few shapes occur.
int64_t DecodePlanMaxBlocks(int64_t seqs, int64_t kv_heads, int64_t num_sms);
void PadDecodePlan(int64_t seqs, int64_t kv_heads, int64_t num_sms,
                   std::vector<AttentionBlock>* blocks, std::vector<AttentionMerge>* merges,
                   DecodeCascade* cascade = nullptr);

// Partials (of kAttentionRows rows) a workspace holds so that prefill splits
// have 2,048 and decode steps of up to `decode_batch` sequences never lose
// their splits.
int64_t AttentionMaxPartials(int64_t heads, int64_t decode_batch);

// The plan of a step: PlanDecodeAttention where every sequence has one new
// token and DecodeAttentionSupports the shape, else PlanAttention. Returns
// whether it is a decode plan (AttentionArgs::decode). Partial buffers hold
// max_partials * kAttentionRows rows. `cascade` (may be null: none) is filled
// for decode plans and emptied otherwise.
bool PlanStepAttention(const std::vector<AttentionPlanSeq>& seqs, int64_t heads, int64_t kv_heads,
                       int64_t head_dim, int64_t num_sms, int64_t max_partials,
                       std::vector<AttentionBlock>* blocks, std::vector<AttentionMerge>* merges,
                       int64_t window = 0, DecodeBlockOrder order = DecodeBlockOrder::kKvHeadMajor,
                       DecodeCascade* cascade = nullptr);

}  // namespace radixlm::backend::cuda
