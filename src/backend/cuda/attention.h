// Paged attention on the GPU (attention.cu), for prefill and decode alike.
//
// The work is cut on the host into thread blocks, each one kv head of one
// sequence: up to kAttentionRows query rows (new tokens x the query heads that
// share the kv head, so GQA reads each K/V tile once for the whole group) over a
// range of key positions. A block walks its key range in tiles of
// kAttentionKeys positions through the page table, with an online softmax
// (FlashAttention's running max and sum), and masks causally: a query at
// position p sees keys [0, p], or with a sliding window W (AttentionArgs::window,
// model/config.h) keys (p - W, p]. A windowed plan starts each block's key range
// at its first query's window (aligned down to kAttentionKeys; decode blocks
// exactly there), so tiles wholly outside every row's window are never read, and
// the tiled kernel masks the boundary tiles per row. A long key range may be
// split over several blocks (split-K, for short batches that would leave the GPU
// idle): each split writes its unnormalised output with its running max and sum,
// and a merge kernel combines them. Split boundaries are multiples of
// kAttentionKeys. Decode steps
// are cut by attention_plan.h's PlanDecodeAttention instead: split lengths set
// by each sequence's own key count, so its result never depends on the batch.
//
// The tiled kernel runs on the tensor cores (BF16 products, F32 accumulation
// and softmax): queries are rounded to BF16 once, probabilities before the
// product with V, as FlashAttention does. Decode steps (one query token per
// block) use a kernel on the CUDA cores in F32, bound by reading K and V.
//
// Queries come from the F32 qkv buffer after RoPE ([rows, ld], query head h at
// column h * head_dim); K and V from the BF16 page pools (kernels.h's layout);
// the output is BF16 [rows, heads * head_dim]. Head dims 16, 32, 64, 128.
//
// FP8 pools (AttentionArgs::k_fp8: E4M3 codes, kernels.h) are read by the same
// kernels instantiated for one-byte elements, half the bytes per key. Every
// E4M3 value is exact in BF16 and F16, so the codes are converted exactly
// (cuda_fp8.h's e4m3x2 -> f16x2 conversion, one instruction on Hopper) and the
// scales are applied outside the products, once per row: the K scale of the
// block's kv head folds into the query scale (scores are q . k_code * k_scale),
// the V scale into the output (and the split-K partials, which the merge
// combines linearly). The tiled kernel copies a tile's codes into shared
// memory with cp.async as the BF16 path copies its elements, and each thread
// turns the codes it copied into BF16 in the tile the tensor cores read: the
// products see exactly code values, as the BF16 path sees its elements. The
// decode kernel converts in registers. Plans (split-K, sliding windows) are
// the same whatever the pool's format.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "backend/cuda/kernels.h"

namespace radixlm::backend::cuda {

inline constexpr int kAttentionRows = 64;
inline constexpr int kAttentionKeys = 64;
inline constexpr int kAttentionMaxSplits = 64;  // of one block's key range

struct AttentionSeq {
  int32_t first_row;          // row of the sequence's first new token in qkv and out
  int32_t start;              // tokens already in its pages (position of the first new token)
  int32_t page_table_offset;  // into AttentionArgs::page_tables
  int32_t unused = 0;
};

struct AttentionBlock {
  int32_t seq;
  int32_t kv_head;
  int32_t q_begin, q_count;  // new tokens [q_begin, q_begin + q_count) of the sequence
  int32_t k_begin, k_end;    // key positions
  int32_t partial;           // -1: writes the output; else its slot in the partial buffers
  int32_t merge = -1;        // a split's AttentionMerge (index into AttentionArgs::merges)
  // Decode plans: the range is cut into splits of this many keys, each its own
  // partial from `partial` on (0: the range is one split).
  int32_t split_len = 0;
  // Decode plans with AttentionArgs::decode_mma == 2: 1 runs on the MMA
  // kernel, 0 on the CUDA-core one (MarkDecodeForms: by the sequence alone).
  int32_t mma = 0;
};

// Combines partials [first_partial, first_partial + count) into the output of
// the rows of one (sequence, kv head, query block).
struct AttentionMerge {
  int32_t seq, kv_head, q_begin, q_count;
  int32_t first_partial, count;
  int32_t blocks = 0;  // decode plans: the blocks that write the partials (the last merges)
  int32_t unused = 0;
};

// Cascade decode (decode plans over a BF16 pool, no window): sequences whose
// page tables map the same pages for whole decode splits (a cached system
// prompt, n > 1) have those splits computed by cascade blocks, each one split
// of one kv head for up to kCascadeMaxMembers such sequences: it copies the
// split's K and V into shared memory once, then runs every member's query over
// them with the decode kernel's own split code (the same arithmetic in the
// same order), writing each member's partial for that split. A split's partial
// is therefore the same bits whether a cascade block or the member's own decode
// block computed it, and a sequence's output the same bits whatever else is in
// the batch. The cascade kernel launches before the decode kernel, which takes
// the members' other splits (a member's newest key is never shared, so it has
// at least one) and merges them all: its blocks read partials only after the
// kernel before them has finished, so cascade blocks do not count in merges.
inline constexpr int kCascadeMaxMembers = 16;
inline constexpr int kCascadeMinMembers = 4;      // smaller groups read per sequence
inline constexpr int kCascadeMaxSplitKeys = 128;  // keys of a split a cascade block holds

struct CascadeBlock {
  int32_t first_member, members;  // into AttentionArgs::cascade_members (0 members: padding)
  int32_t kv_head;
  int32_t k_begin, k_end;  // the split's keys
  int32_t split;           // its ordinal among each member's splits (partial = member's + split)
  int32_t page_seq;        // a member, whose page table maps the split's keys
  int32_t unused = 0;
};

struct CascadeMember {
  int32_t seq;
  int32_t partial;  // the member's first partial slot for this kv head
  int32_t merge;    // its AttentionMerge (for tests and tools; the kernel does not merge)
  int32_t unused = 0;
};

struct AttentionArgs {
  const float* qkv;
  int64_t ld;
  const bf16* k_pool;  // this layer's (BF16 pools; FP8 ones below)
  const bf16* v_pool;
  const int32_t* page_tables;
  const AttentionSeq* seqs;
  const AttentionBlock* blocks;
  int32_t num_blocks;
  const AttentionMerge* merges;
  int32_t num_merges;
  int32_t page_size, heads, kv_heads, head_dim;
  float scale;  // 1 / sqrt(head_dim)
  // [partials][kAttentionRows][head_dim] (decode plans: [partials][group][head_dim])
  float* partial_acc;
  float* partial_stats;  // [partials][rows as above][2]: running max (log2 domain), sum
  // One counter per merge, zero before a launch and left zero after it: the
  // decode kernel's blocks count themselves in, and the last one merges (the
  // partials of cascade blocks are written before any decode block starts).
  int32_t* merge_counters;
  bf16* out;
  // A decode plan (PlanDecodeAttention: every block one query token, a shape
  // DecodeAttentionSupports): the decode kernel runs it, its partials G rows
  // each, and merges its own splits.
  int32_t decode = 0;
  // The sliding window of this layer (0: none); the plan must have been made
  // with the same window. The decode kernel needs no mask (its plan's ranges are
  // the windows themselves); the tiled kernel masks keys at or before p - window.
  int32_t window = 0;
  // An FP8 pool: when k_fp8 is set, K and V are read from k_fp8 and v_fp8 (this
  // layer's E4M3 codes; k_pool and v_pool unused) as code * scale, with this
  // layer's scales (kv_heads floats each, device memory).
  const __nv_fp8_storage_t* k_fp8 = nullptr;
  const __nv_fp8_storage_t* v_fp8 = nullptr;
  const float* k_scales = nullptr;
  const float* v_scales = nullptr;
  // Cascade blocks of a decode plan (BF16 pools; none: 0), with their members,
  // and the longest split among them (sets the kernel's shared memory).
  const CascadeBlock* cascade_blocks = nullptr;
  int32_t num_cascade_blocks = 0;
  int32_t cascade_split_keys = 0;
  const CascadeMember* cascade_members = nullptr;
  // Decode plans over a BF16 pool: 1 runs the decode splits (and the cascade
  // blocks) on the tensor cores (the MMA decode form below), 0 on the CUDA
  // cores, 2 each block as its AttentionBlock::mma says (the form chosen by
  // its sequence alone; decode_forms: bit 0 some block is MMA, bit 1 some is
  // not, so a kernel with no blocks is not launched). The two forms round
  // differently; a sequence's bits do not depend on the batch or on cascade
  // blocks (under 2, since its form does not either).
  int32_t decode_mma = 0;
  int32_t decode_forms = 0;
};

// How the decode kernel reads an FP8 pool's K (attention.cu): K in 16-byte or
// 8-byte vectors a lane, codes converted by cuda_fp8.h's cvt instructions or
// by integer operations. Results agree to F32 rounding (the float64 tests
// run each form); the speed differs. Environment RADIXLM_CUDA_FP8_DECODE = cvt16 (the
// default) | cvt8 | bits16 | bits8, read once, for A/B runs
// (scripts/gpu_pending.sh measures each).
enum class Fp8DecodeForm { kCvt16, kCvt8, kBits16, kBits8 };

// The MMA decode form (AttentionArgs::decode_mma, BF16 pools): a split's query
// rows (the G heads of one sequence, or of up to 16 / G sequences that share
// the split's pages, in a cascade block) form one 16-row tile of BF16
// fragments, scaled like the tiled kernel's, and one warp runs that tile over
// the split's keys 16 at a time in key order: S = Q K^T and O += P V on
// mma.sync m16n8k16 (P rounded to BF16) with an online softmax per row. The
// decode kernel gives each of a block's four warps its own splits (keys copied
// by cp.async through the page table, two stages a warp); a cascade block
// copies the split's K and V once, 64 keys at a time, and its four warps run
// four tiles of members over them (16 x 4 / G sequences: a group of 16 with
// Llama 3's G = 4 in one pass). A tensor-core product's output row depends on
// its own input row alone, so a row's bits are the same whichever rows share
// its tile: a cascade block gives each member the partials the decode kernel
// gives it alone. Per sequence the MMA form pays where groups share pages (a
// cascade block of 16 reads the shared keys once) and at large batches; the
// CUDA-core form is faster for one long sequence (a split's 16-key steps run
// one after another on one warp). Environment RADIXLM_CUDA_DECODE_MMA=1|0|auto
// (AttentionArgs::decode_mma 1, 0 or 2; unset: `fallback`) sets it for the
// backend and bench-engine's attention part, for A/B runs.
int DecodeMmaFromEnvironment(int fallback);

bool AttentionSupportsHeadDim(int64_t head_dim);
// The decode kernel's shapes (AttentionArgs::decode): head dim 64 or 128, 1, 2,
// 4 or 8 query heads per kv head.
inline bool DecodeAttentionSupports(int64_t head_dim, int64_t group) {
  return (head_dim == 64 || head_dim == 128) &&
         (group == 1 || group == 2 || group == 4 || group == 8);
}
// Raises the kernels' shared-memory limits; once per process before the first launch.
cudaError_t PrepareAttention();
// `pdl`: the decode kernel as a programmatic dependent of the kernel before it
// (kernels.h's contract; the tiled kernel ignores it).
cudaError_t LaunchAttention(const AttentionArgs& args, cudaStream_t stream, bool pdl = false);

}  // namespace radixlm::backend::cuda
