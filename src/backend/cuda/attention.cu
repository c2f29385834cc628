#include "backend/cuda/attention.h"

#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <type_traits>

#include "backend/cuda/attention_plan.h"
#include "backend/cuda/launch.h"

namespace radixlm::backend::cuda {
namespace {

constexpr int kRows = kAttentionRows;
constexpr int kKeys = kAttentionKeys;
constexpr float kLog2e = 1.4426950408889634f;

// ---------------------------------------------------------------------------
// The tiled kernel, on the tensor cores (mma.sync m16n8k16, BF16 in, F32
// accumulate). Four warps; warp w owns rows [16 w, 16 w + 16) of the block's
// queries, held in registers as BF16 A fragments (scaled by scale * log2 e, so
// scores are in the log2 domain). K and V tiles of kKeys positions are copied
// through the page table into shared memory with cp.async, two stages deep (the
// next tile lands while this one is computed); positions past the block's keys
// are zero-filled. Per tile a warp computes S = Q K^T into registers, masks it
// causally where the tile reaches past its first query's position (and, with a
// sliding window, where it reaches back before its last query's window),
// updates the running max and sum of each row, turns S into BF16 probabilities in the
// A-fragment layout and accumulates P V. Rows are independent: how many other
// rows share the block does not change a row's result.
// kFp8 (an FP8 pool): the cp.async copies move a tile's E4M3 codes (half the
// bytes) into a code stage, two stages deep as above; once its copies of a tile
// have landed, each thread writes the codes it copied as BF16 (exact) into the
// one BF16 tile the warps then read as they read the BF16 path's, so the
// products and the online softmax are the BF16 path's code. The K scale is in
// the query fragments, the V scale in the output.

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;

template <int HD, bool kFp8>
struct Tiles {
  static constexpr int kStride =
      HD + 8;  // BF16 per shared row: the pad spreads ldmatrix rows over the banks
  static constexpr int kTile = kKeys * kStride;
  // BF16: two stages of K and V tiles. FP8: one K and V tile in BF16, then two
  // stages of K and V code tiles (kKeys * HD bytes each, unpadded: a thread
  // reads back only the 16-byte chunks it copied).
  static constexpr int kCodeTile = kKeys * HD;
  static constexpr size_t kBf16Bytes = (kFp8 ? 1 : 2) * 2 * kTile * sizeof(bf16);
  static constexpr size_t kBytes = kBf16Bytes + (kFp8 ? 2 * 2 * kCodeTile : 0);
};

__device__ __forceinline__ void CpAsync16(void* dst, const void* src, bool valid) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  const int bytes = valid ? 16 : 0;  // 0: fills the 16 bytes with zeros, reads nothing
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(src), "r"(bytes));
}
__device__ __forceinline__ void CpAsyncCommit() { asm volatile("cp.async.commit_group;\n" ::); }
__device__ __forceinline__ void CpAsyncWaitOne() { asm volatile("cp.async.wait_group 1;\n" ::); }

__device__ __forceinline__ void LdMatrixX4(uint32_t r[4], const bf16* p) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(p));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(s));
}
__device__ __forceinline__ void LdMatrixX4Trans(uint32_t r[4], const bf16* p) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(p));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(s));
}
// c += a (16 x 16, row) . b (16 x 8, col), BF16 in, F32 accumulate.
__device__ __forceinline__ void Mma(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
      "{%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
__device__ __forceinline__ uint32_t PackBf16(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);  // lo in the low half
  return *reinterpret_cast<const uint32_t*>(&v);
}

// Two E4M3 codes (the first in the low byte) as floats, exactly: e4m3x2 ->
// f16x2 is one cvt on Hopper, and every E4M3 value is an F16 value.
__device__ __forceinline__ float2 Fp8x2ToFloat2(uint32_t pair) {
  const __half2_raw h =
      __nv_cvt_fp8x2_to_halfraw2(static_cast<__nv_fp8x2_storage_t>(pair), __NV_E4M3);
  return __half22float2(__half2(h));
}
// Sixteen E4M3 codes as sixteen BF16 (in memory order), exactly: BF16 holds
// every E4M3 value too.
__device__ __forceinline__ void Fp8x16ToBf16(uint4 codes, uint4* lo, uint4* hi) {
  const uint32_t w[4] = {codes.x, codes.y, codes.z, codes.w};
  uint32_t out[8];
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const float2 a = Fp8x2ToFloat2(w[j] & 0xffffu), b = Fp8x2ToFloat2(w[j] >> 16);
    out[2 * j] = PackBf16(a.x, a.y);
    out[2 * j + 1] = PackBf16(b.x, b.y);
  }
  *lo = make_uint4(out[0], out[1], out[2], out[3]);
  *hi = make_uint4(out[4], out[5], out[6], out[7]);
}

template <int HD, bool kFp8>
__global__ void __launch_bounds__(kThreads, 3) AttentionKernel(AttentionArgs a) {
  using T = Tiles<HD, kFp8>;
  constexpr int kStride = T::kStride;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  // BF16: stage s's K at 2 s, V at 2 s + 1 (in kTile units). FP8: K at 0, V at
  // 1, and stage s's codes of K at 2 s, V at 2 s + 1 (in kCodeTile units).
  bf16* tiles = reinterpret_cast<bf16*>(smem_raw);
  [[maybe_unused]] __nv_fp8_storage_t* codes =
      reinterpret_cast<__nv_fp8_storage_t*>(smem_raw + T::kBf16Bytes);

  const AttentionBlock blk = a.blocks[blockIdx.x];
  const AttentionSeq seq = a.seqs[blk.seq];
  const int group = a.heads / a.kv_heads;
  const int rows = blk.q_count * group;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int gr = lane / 4, tc = lane % 4;  // fragment row (and row + 8), column pair 2 tc
  const bool active = warp * 16 < rows;    // a warp whose rows are all padding skips the arithmetic
  const int32_t* pages = a.page_tables + seq.page_table_offset;

  // This thread's two rows: their query positions (padding rows see every key,
  // or none with a window; their Q is zero, so they stay finite, and they are
  // never written), and the last key position before each row's window (INT_MIN
  // without one).
  int qpos[2], hidden[2];
  uint32_t qf[HD / 16][4];
  [[maybe_unused]] float v_scale = 1.0f;  // FP8: applied to the output
  {
    float q_scale = a.scale * kLog2e;
    if constexpr (kFp8) {
      q_scale *= a.k_scales[blk.kv_head];
      v_scale = a.v_scales[blk.kv_head];
    }
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      const int r = warp * 16 + gr + 8 * i;
      const float* q = nullptr;
      qpos[i] = INT_MAX;
      if (r < rows) {
        const int token = blk.q_begin + r / group;
        const int head = blk.kv_head * group + r % group;
        qpos[i] = seq.start + token;
        q = a.qkv + static_cast<int64_t>(seq.first_row + token) * a.ld + head * HD;
      }
      hidden[i] = a.window > 0 ? qpos[i] - a.window : INT_MIN;
#pragma unroll
      for (int ks = 0; ks < HD / 16; ++ks) {
#pragma unroll
        for (int half = 0; half < 2; ++half) {
          float2 v = make_float2(0.f, 0.f);
          if (q != nullptr) v = *reinterpret_cast<const float2*>(q + ks * 16 + half * 8 + 2 * tc);
          qf[ks][i + 2 * half] = PackBf16(v.x * q_scale, v.y * q_scale);
        }
      }
    }
  }

  // Each thread copies kPer 16-byte chunks of K and of V per tile (FP8 with head
  // dim 16: a tile is 64 chunks, and half the threads copy none). The page ids
  // of a tile are read one tile ahead of its copies (and two ahead of its use),
  // so the page-table reads do not stall the copies.
  constexpr int kVec = HD * (kFp8 ? 1 : 2) / 16;  // 16-byte chunks per key
  constexpr int kChunks = kKeys * kVec;
  constexpr int kPer = (kChunks + kThreads - 1) / kThreads;
  static_assert(kFp8 || kChunks % kThreads == 0);
  // Chunk j of this thread's is in the tile (always, unless FP8 at head dim 16).
  auto mine = [](int j) { return kChunks % kThreads == 0 || threadIdx.x + j * kThreads < kChunks; };
  int32_t tile_pages[kPer];
  auto fetch_pages = [&](int k0) {
#pragma unroll
    for (int j = 0; j < kPer; ++j) {
      const int pos = k0 + (threadIdx.x + j * kThreads) / kVec;
      tile_pages[j] = pos < blk.k_end && mine(j) ? pages[pos / a.page_size] : -1;
    }
  };
  auto load_tile = [&](int stage, int k0) {
    if constexpr (kFp8) {
      __nv_fp8_storage_t* k_c = codes + (2 * stage) * T::kCodeTile;
      __nv_fp8_storage_t* v_c = k_c + T::kCodeTile;
#pragma unroll
      for (int j = 0; j < kPer; ++j) {
        if (!mine(j)) continue;
        const int idx = threadIdx.x + j * kThreads;
        const int kk = idx / kVec, c = idx % kVec;
        const int pos = k0 + kk;
        const bool valid = tile_pages[j] >= 0;
        int64_t at = 0;
        if (valid) {
          at = ((static_cast<int64_t>(tile_pages[j]) * a.kv_heads + blk.kv_head) * a.page_size +
                pos % a.page_size) *
                   HD +
               c * 16;
        }
        CpAsync16(k_c + kk * HD + c * 16, a.k_fp8 + at, valid);
        CpAsync16(v_c + kk * HD + c * 16, a.v_fp8 + at, valid);
      }
      return;
    }
    bf16* k_s = tiles + (2 * stage) * T::kTile;
    bf16* v_s = k_s + T::kTile;
#pragma unroll
    for (int j = 0; j < kPer; ++j) {
      const int idx = threadIdx.x + j * kThreads;
      const int kk = idx / kVec, c = idx % kVec;
      const int pos = k0 + kk;
      const bool valid = tile_pages[j] >= 0;
      int64_t at = 0;
      if (valid) {
        at = ((static_cast<int64_t>(tile_pages[j]) * a.kv_heads + blk.kv_head) * a.page_size +
              pos % a.page_size) *
                 HD +
             c * 8;
      }
      CpAsync16(k_s + kk * kStride + c * 8, a.k_pool + at, valid);
      CpAsync16(v_s + kk * kStride + c * 8, a.v_pool + at, valid);
    }
  };

  float o[HD / 8][4];
#pragma unroll
  for (int j = 0; j < HD / 8; ++j) o[j][0] = o[j][1] = o[j][2] = o[j][3] = 0.f;
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};
  // Keys at or before this position are visible to every query of the block.
  const int first_qpos = seq.start + blk.q_begin;
  // With a window, keys at or before this position are outside the last query's
  // window: a tile reaching back to it has keys some row must not see.
  const int last_hidden =
      a.window > 0 ? seq.start + blk.q_begin + blk.q_count - 1 - a.window : INT_MIN;

  const int num_tiles = (blk.k_end - blk.k_begin + kKeys - 1) / kKeys;
  fetch_pages(blk.k_begin);
  load_tile(0, blk.k_begin);
  CpAsyncCommit();
  fetch_pages(blk.k_begin + kKeys);
  for (int it = 0; it < num_tiles; ++it) {
    const int k0 = blk.k_begin + it * kKeys;
    if (it + 1 < num_tiles) {
      load_tile((it + 1) & 1, k0 + kKeys);
      fetch_pages(k0 + 2 * kKeys);
    }
    CpAsyncCommit();  // possibly empty: keeps one group per iteration
    CpAsyncWaitOne();
    if constexpr (kFp8) {
      // This thread's copies of tile `it` have landed (the wait makes them
      // visible to it): it writes their codes into the BF16 tile for all.
      const __nv_fp8_storage_t* k_c = codes + (2 * (it & 1)) * T::kCodeTile;
#pragma unroll
      for (int j = 0; j < kPer; ++j) {
        if (!mine(j)) continue;
        const int idx = threadIdx.x + j * kThreads;
        const int kk = idx / kVec, c = idx % kVec;
#pragma unroll
        for (int kv = 0; kv < 2; ++kv) {
          uint4 lo, hi;
          Fp8x16ToBf16(*reinterpret_cast<const uint4*>(k_c + kv * T::kCodeTile + kk * HD + c * 16),
                       &lo, &hi);
          bf16* dst = tiles + kv * T::kTile + kk * kStride + c * 16;
          *reinterpret_cast<uint4*>(dst) = lo;
          *reinterpret_cast<uint4*>(dst + 8) = hi;
        }
      }
    }
    __syncthreads();
    if (active) {
      const bf16* k_s = tiles + (kFp8 ? 0 : 2 * (it & 1)) * T::kTile;
      const bf16* v_s = k_s + T::kTile;
      float s[kKeys / 8][4];
#pragma unroll
      for (int j = 0; j < kKeys / 8; ++j) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.f;
        // S = Q K^T: ldmatrix x4 gives B fragments of two 8-key tiles.
#pragma unroll
      for (int ks = 0; ks < HD / 16; ++ks) {
#pragma unroll
        for (int np = 0; np < kKeys / 16; ++np) {
          uint32_t b[4];
          LdMatrixX4(b, k_s + (np * 16 + lane % 8 + (lane / 16) * 8) * kStride + ks * 16 +
                            ((lane / 8) % 2) * 8);
          Mma(s[2 * np], qf[ks], b[0], b[1]);
          Mma(s[2 * np + 1], qf[ks], b[2], b[3]);
        }
      }
      if (k0 + kKeys - 1 > first_qpos || k0 + kKeys > blk.k_end || k0 <= last_hidden) {
#pragma unroll
        for (int j = 0; j < kKeys / 8; ++j) {
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const int pos = k0 + j * 8 + 2 * tc + (e & 1);
            if (pos >= blk.k_end || pos > qpos[e >> 1] || pos <= hidden[e >> 1])
              s[j][e] = -INFINITY;
          }
        }
      }
      // Online softmax; a row's 64 scores are spread over the 4 threads of a quad.
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        float mx = -INFINITY;
#pragma unroll
        for (int j = 0; j < kKeys / 8; ++j) mx = fmaxf(mx, fmaxf(s[j][2 * i], s[j][2 * i + 1]));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
        const float m_new = fmaxf(m[i], mx);
        const float base = m_new == -INFINITY ? 0.f : m_new;  // a row with nothing visible yet
        const float alpha = exp2f(m[i] - base);
        float sum = 0.f;
#pragma unroll
        for (int j = 0; j < kKeys / 8; ++j) {
          s[j][2 * i] = exp2f(s[j][2 * i] - base);
          s[j][2 * i + 1] = exp2f(s[j][2 * i + 1] - base);
          sum += s[j][2 * i] + s[j][2 * i + 1];
        }
        l[i] = l[i] * alpha + sum;  // this thread's share; the quad is summed at the end
        m[i] = m_new;
#pragma unroll
        for (int j = 0; j < HD / 8; ++j) {
          o[j][2 * i] *= alpha;
          o[j][2 * i + 1] *= alpha;
        }
      }
      // O += P V: the S accumulators are already laid out as A fragments.
#pragma unroll
      for (int kk = 0; kk < kKeys / 16; ++kk) {
        const uint32_t pf[4] = {PackBf16(s[2 * kk][0], s[2 * kk][1]),
                                PackBf16(s[2 * kk][2], s[2 * kk][3]),
                                PackBf16(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                                PackBf16(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
        for (int dp = 0; dp < HD / 16; ++dp) {
          uint32_t b[4];
          LdMatrixX4Trans(b, v_s + (kk * 16 + lane % 8 + ((lane / 8) % 2) * 8) * kStride + dp * 16 +
                                 (lane / 16) * 8);
          Mma(o[2 * dp], pf, b[0], b[1]);
          Mma(o[2 * dp + 1], pf, b[2], b[3]);
        }
      }
    }
    __syncthreads();  // the next iteration's copies overwrite this stage
  }

#pragma unroll
  for (int i = 0; i < 2; ++i) {
    l[i] += __shfl_xor_sync(0xffffffffu, l[i], 1);
    l[i] += __shfl_xor_sync(0xffffffffu, l[i], 2);
    const int r = warp * 16 + gr + 8 * i;
    if (r >= rows) continue;
    const int token = blk.q_begin + r / group;
    const int head = blk.kv_head * group + r % group;
    if (blk.partial < 0) {
      float inv = 1.0f / l[i];
      if constexpr (kFp8) inv *= v_scale;
      bf16* dst =
          a.out + static_cast<int64_t>(seq.first_row + token) * a.heads * HD + head * HD + 2 * tc;
#pragma unroll
      for (int j = 0; j < HD / 8; ++j) {
        *reinterpret_cast<__nv_bfloat162*>(dst + j * 8) =
            __floats2bfloat162_rn(o[j][2 * i] * inv, o[j][2 * i + 1] * inv);
      }
    } else {
      const int64_t slot = static_cast<int64_t>(blk.partial) * kRows + r;
      float* dst = a.partial_acc + slot * HD + 2 * tc;
#pragma unroll
      for (int j = 0; j < HD / 8; ++j) {
        if constexpr (kFp8) {  // the merge is linear in the partials: scaled here
          *reinterpret_cast<float2*>(dst + j * 8) =
              make_float2(o[j][2 * i] * v_scale, o[j][2 * i + 1] * v_scale);
        } else {
          *reinterpret_cast<float2*>(dst + j * 8) = make_float2(o[j][2 * i], o[j][2 * i + 1]);
        }
      }
      if (tc == 0) {
        a.partial_stats[slot * 2] = m[i];
        a.partial_stats[slot * 2 + 1] = l[i];
      }
    }
  }
}

// Decode blocks (one query token, the kv head's G query heads): no tiles in
// shared memory. A warp takes the block's keys 16 at a time (every
// kDecodeWarps-th run of 16): four lanes per key, each with a quarter of its K
// row (interleaved 16-byte vectors, so the four read 64 contiguous bytes), two
// keys per group of four lanes. Lanes 0-15 read the run's page ids; then every
// load of the 16 K rows and of the lane's head_dim / 32 columns of the 16 V
// rows goes out before any arithmetic. The four lanes of a key add their
// quarters of each score, the warp updates its online softmax, and lanes
// accumulate their V columns over the run. A block takes one or more
// consecutive splits of PlanDecodeAttention's (lengths set by the sequence
// alone), one after the other: at the end of each, the warps' states are merged
// and written as the output or as that split's partial (G rows). The block
// that finishes last of those sharing a merge (counted on merge_counters), or
// the one block that holds every split, merges the partials itself, so a decode
// step needs no merge kernel. A split is computed the same way whichever block
// takes it, and the merge reads the partials in split order: a sequence's
// output is the same bits whatever the batch. With a sliding window the plan's
// range is the window itself, so nothing here masks.
// kFp8 (an FP8 pool): the same loop over half the bytes (a lane's V columns are
// 2 or 4 bytes), codes converted to floats exactly where the BF16 path unpacks
// its elements; the K scale is in the query, the V scale in the output; q_s
// and p_s 16-byte aligned, so their reads go four floats at a time. Two
// choices, for A/B runs (attention.h's Fp8DecodeForm):
//   kK8    K in 8-byte vectors (8 codes: the BF16 path's lane-to-dimension map,
//          so a warp's reads of q_s hit distinct banks; and p_s read four at a
//          time), instead of 16-byte vectors (16 codes: half the loads, but
//          lanes 0 and 2 of a key read q_s in one bank);
//   kBits  a code becomes an F32 by integer operations (Fp8ByteScaledDown: its
//          value x 2^-120, exact, subnormal codes too), the 2^120 applied to
//          each score and to the output, instead of cuda_fp8.h's e4m3x2 ->
//          f16x2 conversion and two f16 -> f32 ones (1.5 instructions a code on
//          Hopper's conversion pipe, a quarter of the FMA rate). The tiny
//          products lose nothing that matters: an FMA rounds the sum, which
//          stays a normal F32, and a product below 2^-126 is off by at most
//          2^-149, 2^-29 in the score.
constexpr int kDecodeWarps = 4;
constexpr int kDecodeLanesPerKey = 4;
constexpr int kDecodeRun = 16;  // keys a warp takes at a time
// Page ids of a block's range read once into shared memory (with the queries);
// a range of more pages reads the rest from the table as it goes.
constexpr int kDecodePageIds = 256;

// E4M3 code i (byte i) of w as an F32 of the code's value times 2^-120,
// exactly: the sign to bit 31, the exponent and mantissa (7 bits) to bits
// 26..20, so E4M3's exponent field is F32's (bias 127 = 7 + 120) and a
// subnormal code an F32 subnormal of the same digits.
__device__ __forceinline__ float Fp8ByteScaledDown(uint32_t w, int i) {
  const int32_t top = static_cast<int32_t>(i == 3 ? w : w << (24 - 8 * i));
  return __int_as_float((top >> 4) & static_cast<int32_t>(0x87F00000u));
}

// A cascade block's tiles of its split (CascadeDecodeKernel): K rows padded by
// 32 elements (64 bytes), so the two keys that one 8-lane phase of the split
// code's 16-byte K loads reads fall in different halves of the banks; V rows
// unpadded (a warp reads one whole row).
template <int HD>
inline constexpr int kCascadeKStride = HD + 32;
template <int HD>
constexpr size_t CascadeSharedBytes(int keys) {
  return static_cast<size_t>(keys) * (kCascadeKStride<HD> + HD) * sizeof(bf16);
}

// One split [s0, s1) of a decode block's keys for one query row group: the
// decode kernel's split code, shared by the cascade kernel so that a split's
// partial is the same bits whichever computes it. K and V rows come from the
// pool through the page table (page ids of the block's range in page_s from
// first_page, the rest from `pages`), or (kSmem) from the split's rows in
// shared memory (k_s rows kCascadeKStride apart, v_s rows HD apart). Writes the
// output row `out_row` when `partial` < 0, else that partial slot. q_s holds the
// scaled queries; p_s, o_s and ml_s are scratch; ends with __syncthreads.
template <int HD, int G, bool kFp8, bool kK8, bool kBits, bool kSmem>
__device__ __forceinline__ void DecodeSplit(const AttentionArgs& a, int s0, int s1, int kv_head,
                                            const int32_t* page_s, const int32_t* pages,
                                            int first_page, const bf16* k_s, const bf16* v_s,
                                            const float (&q_s)[G][HD],
                                            float (&p_s)[kDecodeWarps][G][kDecodeRun],
                                            float (&o_s)[kDecodeWarps][G][HD],
                                            float (&ml_s)[kDecodeWarps][G][2], float v_scale,
                                            int64_t out_row, int partial) {
  static_assert(!(kSmem && kFp8), "cascade blocks read BF16 pools");
  constexpr int L = kDecodeLanesPerKey;
  constexpr int kVecBytes = kFp8 && kK8 ? 8 : 16;
  using KVec = typename std::conditional<kVecBytes == 8, uint2, uint4>::type;
  constexpr int kWords = kVecBytes / 4;
  constexpr int kPerVec = kFp8 ? kVecBytes : kVecBytes / 2;  // K elements per vector
  constexpr int kVecs = HD / kPerVec / L;                    // K vectors per lane per key
  constexpr int kCols = HD / 32;                             // V columns per lane
  constexpr int kHalf =
      32 / L;  // keys per pass of the lanes: a lane's keys are key_lane and key_lane + kHalf
  static_assert(kDecodeRun == 2 * kHalf && kDecodeMaxSplits <= 32 && kVecs >= 1);
  using Raw =
      typename std::conditional<kFp8,
                                typename std::conditional<kCols == 4, uint32_t, uint16_t>::type,
                                typename std::conditional<kCols == 4, uint2, uint32_t>::type>::type;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int part = lane % L, key_lane = lane / L;
  float m[G], l[G], o[G][kCols];
#pragma unroll
  for (int g = 0; g < G; ++g) {
    m[g] = -INFINITY;
    l[g] = 0.f;
#pragma unroll
    for (int c = 0; c < kCols; ++c) o[g][c] = 0.f;
  }
  for (int k0 = s0 + warp * kDecodeRun; k0 < s1; k0 += kDecodeWarps * kDecodeRun) {
    // Lane j finds key k0 + j % 16's slot; past the split, the last key again
    // (its V weighted by probability 0).
    const int kp = min(k0 + lane % kDecodeRun, s1 - 1);
    int64_t slot;  // the key's row: in the pool, or (kSmem) in the split's tiles
    if constexpr (kSmem) {
      slot = kp - s0;
    } else {
      const int pi = kp / a.page_size - first_page;
      const int32_t page = pi < kDecodePageIds ? page_s[pi] : pages[first_page + pi];
      slot = (static_cast<int64_t>(page) * a.kv_heads + kv_head) * a.page_size + kp % a.page_size;
    }
    KVec kraw[2][kVecs];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int64_t ks = __shfl_sync(0xffffffffu, slot, key_lane + kHalf * h);
      const KVec* kr = kSmem  ? reinterpret_cast<const KVec*>(k_s + ks * kCascadeKStride<HD>)
                       : kFp8 ? reinterpret_cast<const KVec*>(a.k_fp8 + ks * HD)
                              : reinterpret_cast<const KVec*>(a.k_pool + ks * HD);
#pragma unroll
      for (int v = 0; v < kVecs; ++v) kraw[h][v] = kr[part + L * v];
    }
    Raw vraw[kDecodeRun];
#pragma unroll
    for (int u = 0; u < kDecodeRun; ++u) {
      const int64_t vs = __shfl_sync(0xffffffffu, slot, u);
      if constexpr (kFp8) {
        vraw[u] = *reinterpret_cast<const Raw*>(a.v_fp8 + vs * HD + lane * kCols);
      } else if constexpr (kSmem) {
        vraw[u] = *reinterpret_cast<const Raw*>(v_s + vs * HD + lane * kCols);
      } else {
        vraw[u] = *reinterpret_cast<const Raw*>(a.v_pool + vs * HD + lane * kCols);
      }
    }
    float sc[2][G];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
#pragma unroll
      for (int g = 0; g < G; ++g) sc[h][g] = 0.f;
#pragma unroll
      for (int v = 0; v < kVecs; ++v) {
        uint32_t w[4];
        if constexpr (kWords == 4) {
          w[0] = kraw[h][v].x, w[1] = kraw[h][v].y, w[2] = kraw[h][v].z, w[3] = kraw[h][v].w;
        } else {
          w[0] = kraw[h][v].x, w[1] = kraw[h][v].y;
        }
        const int d0 = (part + L * v) * kPerVec;
#pragma unroll
        for (int j = 0; j < kWords; ++j) {
          if constexpr (kFp8) {  // four codes a word
            float k4[4];
            if constexpr (kBits) {
#pragma unroll
              for (int i = 0; i < 4; ++i) k4[i] = Fp8ByteScaledDown(w[j], i);
            } else {
              const float2 k01 = Fp8x2ToFloat2(w[j] & 0xffffu), k23 = Fp8x2ToFloat2(w[j] >> 16);
              k4[0] = k01.x, k4[1] = k01.y, k4[2] = k23.x, k4[3] = k23.y;
            }
#pragma unroll
            for (int g = 0; g < G; ++g) {
              if constexpr (kK8) {  // one 16-byte shared load for the word's four dims
                const float4 q4 = *reinterpret_cast<const float4*>(&q_s[g][d0 + 4 * j]);
                sc[h][g] = fmaf(q4.x, k4[0], sc[h][g]);
                sc[h][g] = fmaf(q4.y, k4[1], sc[h][g]);
                sc[h][g] = fmaf(q4.z, k4[2], sc[h][g]);
                sc[h][g] = fmaf(q4.w, k4[3], sc[h][g]);
              } else {
#pragma unroll
                for (int i = 0; i < 4; ++i)
                  sc[h][g] = fmaf(q_s[g][d0 + 4 * j + i], k4[i], sc[h][g]);
              }
            }
          } else {
            const float k_lo = __uint_as_float(w[j] << 16),
                        k_hi = __uint_as_float(w[j] & 0xffff0000u);
#pragma unroll
            for (int g = 0; g < G; ++g) {
              sc[h][g] = fmaf(q_s[g][d0 + 2 * j], k_lo, sc[h][g]);
              sc[h][g] = fmaf(q_s[g][d0 + 2 * j + 1], k_hi, sc[h][g]);
            }
          }
        }
      }
      // The key's four lanes add their quarters (all four end with the same bits).
#pragma unroll
      for (int g = 0; g < G; ++g) {
        for (int off = 1; off < L; off <<= 1)
          sc[h][g] += __shfl_xor_sync(0xffffffffu, sc[h][g], off);
        if constexpr (kBits) sc[h][g] *= 0x1p120f;
      }
    }
    const bool valid0 = k0 + key_lane < s1, valid1 = k0 + key_lane + kHalf < s1;
#pragma unroll
    for (int g = 0; g < G; ++g) {
      float mx = fmaxf(valid0 ? sc[0][g] : -INFINITY, valid1 ? sc[1][g] : -INFINITY);
      for (int off = L; off < 32; off <<= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
      const float m_new = fmaxf(m[g], mx);  // finite: key k0 is in the split
      const float alpha = exp2f(m[g] - m_new);
      const float p0 = valid0 ? exp2f(sc[0][g] - m_new) : 0.f;
      const float p1 = valid1 ? exp2f(sc[1][g] - m_new) : 0.f;
      float sum = p0 + p1;
      for (int off = L; off < 32; off <<= 1) sum += __shfl_xor_sync(0xffffffffu, sum, off);
      m[g] = m_new;
      l[g] = l[g] * alpha + sum;
#pragma unroll
      for (int c = 0; c < kCols; ++c) o[g][c] *= alpha;
      if (part == 0) {
        p_s[warp][g][key_lane] = p0;
        p_s[warp][g][key_lane + kHalf] = p1;
      }
    }
    __syncwarp();
    [[maybe_unused]] float4 pr4[kK8 ? G : 1];
#pragma unroll
    for (int u = 0; u < kDecodeRun; ++u) {
      if constexpr (kK8) {
        if (u % 4 == 0) {
#pragma unroll
          for (int g = 0; g < G; ++g) pr4[g] = *reinterpret_cast<const float4*>(&p_s[warp][g][u]);
        }
      }
      float vv[kCols];
      if constexpr (kBits) {
#pragma unroll
        for (int c = 0; c < kCols; ++c) vv[c] = Fp8ByteScaledDown(vraw[u], c);
      } else if constexpr (kFp8) {
        const float2 v01 = Fp8x2ToFloat2(vraw[u] & 0xffffu);
        vv[0] = v01.x;
        vv[1] = v01.y;
        if constexpr (kCols == 4) {
          const float2 v23 = Fp8x2ToFloat2(static_cast<uint32_t>(vraw[u]) >> 16);
          vv[2] = v23.x;
          vv[3] = v23.y;
        }
      } else if constexpr (kCols == 4) {
        vv[0] = __uint_as_float(vraw[u].x << 16);
        vv[1] = __uint_as_float(vraw[u].x & 0xffff0000u);
        vv[2] = __uint_as_float(vraw[u].y << 16);
        vv[3] = __uint_as_float(vraw[u].y & 0xffff0000u);
      } else {
        vv[0] = __uint_as_float(vraw[u] << 16);
        vv[1] = __uint_as_float(vraw[u] & 0xffff0000u);
      }
#pragma unroll
      for (int g = 0; g < G; ++g) {
        float pr;
        if constexpr (kK8) {  // the run's probabilities four at a time
          pr = (&pr4[g].x)[u % 4];
        } else {
          pr = p_s[warp][g][u];
        }
#pragma unroll
        for (int c = 0; c < kCols; ++c) o[g][c] = fmaf(pr, vv[c], o[g][c]);
      }
    }
    __syncwarp();
  }
  // Merge the warps' states of this split.
#pragma unroll
  for (int g = 0; g < G; ++g) {
#pragma unroll
    for (int c = 0; c < kCols; ++c) o_s[warp][g][lane * kCols + c] = o[g][c];
    if (lane == 0) {
      ml_s[warp][g][0] = m[g];
      ml_s[warp][g][1] = l[g];
    }
  }
  __syncthreads();
  for (int idx = threadIdx.x; idx < G * HD; idx += blockDim.x) {
    const int g = idx / HD, d = idx % HD;
    float mx = -INFINITY;
#pragma unroll
    for (int w = 0; w < kDecodeWarps; ++w) mx = fmaxf(mx, ml_s[w][g][0]);
    float acc = 0.f, sum = 0.f;
#pragma unroll
    for (int w = 0; w < kDecodeWarps; ++w) {
      if (ml_s[w][g][0] == -INFINITY) continue;  // a warp with no keys
      const float f = exp2f(ml_s[w][g][0] - mx);
      acc = fmaf(f, o_s[w][g][d], acc);
      sum = fmaf(f, ml_s[w][g][1], sum);
    }
    if constexpr (kBits) acc *= 0x1p120f;
    if constexpr (kFp8) acc *= v_scale;  // the merge is linear in the partials: scaled here
    const int head = kv_head * G + g;
    if (partial < 0) {
      a.out[out_row * a.heads * HD + head * HD + d] = __float2bfloat16(acc / sum);
    } else {
      const int64_t slot = static_cast<int64_t>(partial) * G + g;
      a.partial_acc[slot * HD + d] = acc;
      if (d == 0) {
        a.partial_stats[slot * 2] = mx;
        a.partial_stats[slot * 2 + 1] = sum;
      }
    }
  }
  __syncthreads();  // o_s and ml_s are free for the next split
}

// The merge of a (sequence, kv head)'s decode splits (partials G rows each, in
// split order) into its output row: each split's weight per row, then every
// column's weighted sum. Reads the partials past L1 (other blocks wrote them).
template <int HD, int G>
__device__ __forceinline__ void DecodeMerge(const AttentionArgs& a, const AttentionMerge& mg,
                                            int kv_head, int64_t out_row,
                                            float (&w_s)[G][kDecodeMaxSplits]) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  // Each split's weight per row, exp2(max_p - max) / sum, a lane per split and
  // a warp per row; then every column sums the splits' weighted columns.
  for (int g = warp; g < G; g += kDecodeWarps) {
    float mp = -INFINITY, lp = 0.f;
    if (lane < mg.count) {
      const int64_t at = (static_cast<int64_t>(mg.first_partial + lane) * G + g) * 2;
      lp = __ldcg(a.partial_stats + at + 1);
      if (lp > 0.f) mp = __ldcg(a.partial_stats + at);
    }
    float mx = mp;
    for (int off = 16; off > 0; off >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
    const float w = lp > 0.f ? exp2f(mp - mx) : 0.f;
    float den = w * lp;
    for (int off = 16; off > 0; off >>= 1) den += __shfl_xor_sync(0xffffffffu, den, off);
    w_s[g][lane] = w / den;
  }
  __syncthreads();
  for (int idx = threadIdx.x; idx < G * HD; idx += blockDim.x) {
    const int g = idx / HD, d = idx % HD;
    const float* acc = a.partial_acc + (static_cast<int64_t>(mg.first_partial) * G + g) * HD + d;
    float num = 0.f;
#pragma unroll 8
    for (int p = 0; p < mg.count; ++p)
      num = fmaf(w_s[g][p], __ldcg(acc + static_cast<int64_t>(p) * G * HD), num);
    const int head = kv_head * G + g;
    a.out[out_row * a.heads * HD + head * HD + d] = __float2bfloat16(num);
  }
}

// After a decode block's splits (written as partials): the last block of its
// (sequence, kv head) to finish, counted on merge_counters (left at zero for
// the next launch), or the one block that holds every split, merges them all.
template <int HD, int G>
__device__ __forceinline__ void MergeIfLast(const AttentionArgs& a, const AttentionBlock& blk,
                                            int64_t out_row, int* last_split,
                                            float (&w_s)[G][kDecodeMaxSplits]) {
  const AttentionMerge mg = a.merges[blk.merge];
  if (mg.blocks > 1) {
    __threadfence();  // this block's partials are visible before it is counted
    __syncthreads();
    if (threadIdx.x == 0) {
      *last_split = atomicAdd(a.merge_counters + blk.merge, 1) == mg.blocks - 1;
      if (*last_split) a.merge_counters[blk.merge] = 0;  // ready for the next launch
    }
    __syncthreads();
    if (!*last_split) return;
    __threadfence();
  }
  DecodeMerge<HD, G>(a, mg, blk.kv_head, out_row, w_s);
}

template <int HD, int G, bool kFp8, bool kK8 = false, bool kBits = false>
__global__ void __launch_bounds__(kDecodeWarps * 32) DecodeAttentionKernel(AttentionArgs a) {
  // FP8: 16-byte aligned, so their reads go four floats at a time.
  __shared__ alignas(kFp8 ? 16 : 4) float q_s[G][HD];
  __shared__ alignas(kFp8 ? 16 : 4) float p_s[kDecodeWarps][G][kDecodeRun];
  __shared__ float o_s[kDecodeWarps][G][HD];
  __shared__ float ml_s[kDecodeWarps][G][2];
  __shared__ int last_split;
  __shared__ float w_s[G][kDecodeMaxSplits];  // the merge's weights
  __shared__ int32_t page_s[kDecodePageIds];
  // The step's tables do not depend on the kernels before this one.
  const AttentionBlock blk = a.blocks[blockIdx.x];
  if (blk.seq < 0) return;                        // padding (PadDecodePlan)
  if (a.decode_mma == 2 && blk.mma != 0) return;  // the MMA kernel's
  const AttentionSeq seq = a.seqs[blk.seq];
  const int32_t* pages = a.page_tables + seq.page_table_offset;
  const int first_page = blk.k_begin / a.page_size;
  const int range_pages = (blk.k_end - 1) / a.page_size + 1 - first_page;
  for (int i = threadIdx.x; i < min(range_pages, kDecodePageIds); i += kDecodeWarps * 32) {
    page_s[i] = pages[first_page + i];
  }
  WaitForPredecessors();
  LetDependentsLaunch();
  float q_scale = a.scale * kLog2e;
  [[maybe_unused]] float v_scale = 1.0f;
  if constexpr (kFp8) {
    q_scale *= a.k_scales[blk.kv_head];
    v_scale = a.v_scales[blk.kv_head];
  }
  const int64_t qrow = static_cast<int64_t>(seq.first_row + blk.q_begin) * a.ld;
#pragma unroll
  for (int idx = threadIdx.x; idx < G * HD;
       idx += kDecodeWarps * 32) {  // the loads go out together
    const int g = idx / HD, d = idx % HD;
    q_s[g][d] = a.qkv[qrow + (blk.kv_head * G + g) * HD + d] * q_scale;
  }
  __syncthreads();
  const int split_len = blk.split_len > 0 ? blk.split_len : blk.k_end - blk.k_begin;
  const int64_t out_row = seq.first_row + blk.q_begin;
  for (int s0 = blk.k_begin, split = 0; s0 < blk.k_end; s0 += split_len, ++split) {
    DecodeSplit<HD, G, kFp8, kK8, kBits, false>(
        a, s0, min(blk.k_end, s0 + split_len), blk.kv_head, page_s, pages, first_page, nullptr,
        nullptr, q_s, p_s, o_s, ml_s, v_scale, out_row, blk.partial < 0 ? -1 : blk.partial + split);
  }
  if (blk.partial < 0) return;
  MergeIfLast<HD, G>(a, blk, out_row, &last_split, w_s);
}

// Cascade blocks (attention.h): one split of one kv head, shared by up to
// kCascadeMaxMembers sequences. The split's K and V rows are copied from the
// pool into shared memory once (cp.async; the page table of any member maps
// them), then each member's scaled query runs DecodeSplit over them, the code
// and order of the decode kernel, and writes that member's partial for the
// split. Nothing here merges: the decode kernel, which launches after this one
// and reads the partials only once it has finished (its blocks wait for the
// kernel before them), merges every member's splits.
template <int HD, int G>
__global__ void __launch_bounds__(kDecodeWarps * 32) CascadeDecodeKernel(AttentionArgs a) {
  extern __shared__ __align__(16) unsigned char cascade_tiles[];
  __shared__ float q_s[G][HD];
  __shared__ float p_s[kDecodeWarps][G][kDecodeRun];
  __shared__ float o_s[kDecodeWarps][G][HD];
  __shared__ float ml_s[kDecodeWarps][G][2];
  const CascadeBlock blk = a.cascade_blocks[blockIdx.x];
  if (blk.members == 0) return;  // padding (PadDecodePlan)
  bf16* k_s = reinterpret_cast<bf16*>(cascade_tiles);
  bf16* v_s = k_s + static_cast<int64_t>(a.cascade_split_keys) * kCascadeKStride<HD>;
  const int32_t* pages = a.page_tables + a.seqs[blk.page_seq].page_table_offset;
  const int keys = min(blk.k_end - blk.k_begin, a.cascade_split_keys);
  WaitForPredecessors();
  LetDependentsLaunch();
  constexpr int kChunks = HD * static_cast<int>(sizeof(bf16)) / 16;  // 16-byte chunks a row
  for (int i = threadIdx.x; i < keys * kChunks; i += kDecodeWarps * 32) {
    const int key = i / kChunks, c = i % kChunks, kp = blk.k_begin + key;
    const int64_t slot =
        (static_cast<int64_t>(pages[kp / a.page_size]) * a.kv_heads + blk.kv_head) * a.page_size +
        kp % a.page_size;
    CpAsync16(k_s + key * kCascadeKStride<HD> + c * 8, a.k_pool + slot * HD + c * 8, true);
    CpAsync16(v_s + key * HD + c * 8, a.v_pool + slot * HD + c * 8, true);
  }
  CpAsyncCommit();
  asm volatile("cp.async.wait_all;\n" ::);
  __syncthreads();
  const float q_scale = a.scale * kLog2e;
  for (int m = 0; m < blk.members; ++m) {
    const CascadeMember mb = a.cascade_members[blk.first_member + m];
    const int64_t out_row = a.seqs[mb.seq].first_row;
    const int64_t qrow = out_row * a.ld;
    for (int idx = threadIdx.x; idx < G * HD; idx += kDecodeWarps * 32) {
      const int g = idx / HD, d = idx % HD;
      q_s[g][d] = a.qkv[qrow + (blk.kv_head * G + g) * HD + d] * q_scale;
    }
    __syncthreads();
    DecodeSplit<HD, G, false, false, false, true>(a, blk.k_begin, blk.k_begin + keys, blk.kv_head,
                                                  nullptr, nullptr, 0, k_s, v_s, q_s, p_s, o_s,
                                                  ml_s, 1.0f, out_row, mb.partial + blk.split);
  }
}

// ---------------------------------------------------------------------------
// The MMA decode form (attention.h; AttentionArgs::decode_mma, BF16 pools).

constexpr int kMmaRows = 16;  // query rows a tile: G heads x up to 16 / G sequences
constexpr int kMmaKeys = 16;  // keys a step of a split (one k16 of P V)
constexpr int kMmaChunk = kDecodeWarps * kMmaKeys;  // keys a cascade block copies at a time

// Shared memory: two stages of kMmaChunk keys' K and V rows (padded as the
// tiled kernel's). A cascade block copies a whole chunk, which every warp
// reads; in the decode kernel each warp copies and reads its own kMmaKeys rows
// of it.
template <int HD>
struct MmaTiles {
  static constexpr int kStride = HD + 8;
  static constexpr int kTile = kMmaChunk * kStride;  // BF16 elements
  static constexpr size_t kBytes = 2 * 2 * kTile * sizeof(bf16);
};

// Where a tile's member writes: its query row (in qkv and out) and the split's
// partial slot (< 0: the output row).
struct MmaTarget {
  int64_t q_row;
  int partial;
};

// A tile's query rows as BF16 A fragments, scaled by scale x log2 e (rows past
// the members' zero): the G heads of kv head `kv_head` of each target.
template <int HD, int G>
__device__ __forceinline__ void LoadQueryFragments(const AttentionArgs& a, int kv_head,
                                                   const MmaTarget* targets, int members,
                                                   uint32_t (&qf)[HD / 16][4]) {
  const int lane = threadIdx.x % 32, gr = lane / 4, tc = lane % 4;
  const int rows = members * G;
  const float q_scale = a.scale * kLog2e;
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    const int r = gr + 8 * i;
    const float* q = nullptr;
    if (r < rows) {
      q = a.qkv + targets[r / G].q_row * a.ld + static_cast<int64_t>(kv_head * G + r % G) * HD;
    }
#pragma unroll
    for (int ks = 0; ks < HD / 16; ++ks) {
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        float2 v = make_float2(0.f, 0.f);
        if (q != nullptr) v = *reinterpret_cast<const float2*>(q + ks * 16 + half * 8 + 2 * tc);
        qf[ks][i + 2 * half] = PackBf16(v.x * q_scale, v.y * q_scale);
      }
    }
  }
}

// Starts the copies of keys [k0, k0 + kKeys) of kv head `kv_head` into rows of
// k_s and v_s (kStride apart), kThreads threads each taking its share (`thread`
// its index among them); keys at or past s1 are zero-filled. Page ids come from
// page_s from first_page on (kDecodePageIds of them) when given, else from
// `pages`.
template <int HD, int kKeys, int kThreads>
__device__ __forceinline__ void CopyKeysAsync(const AttentionArgs& a, int kv_head,
                                              const int32_t* pages, const int32_t* page_s,
                                              int first_page, int k0, int s1, int thread, bf16* k_s,
                                              bf16* v_s) {
  constexpr int kStride = MmaTiles<HD>::kStride;
  constexpr int kVec = HD / 8;  // 16-byte chunks a key
  static_assert(kKeys * kVec % kThreads == 0);
#pragma unroll
  for (int j = 0; j < kKeys * kVec / kThreads; ++j) {
    const int idx = thread + j * kThreads;
    const int kk = idx / kVec, c = idx % kVec;
    const int pos = k0 + kk;
    const bool valid = pos < s1;
    int64_t at = 0;
    if (valid) {
      const int pi = pos / a.page_size - first_page;
      const int32_t page = page_s != nullptr && pi >= 0 && pi < kDecodePageIds
                               ? page_s[pi]
                               : pages[pos / a.page_size];
      at = ((static_cast<int64_t>(page) * a.kv_heads + kv_head) * a.page_size + pos % a.page_size) *
               HD +
           c * 8;
    }
    CpAsync16(k_s + kk * kStride + c * 8, a.k_pool + at, valid);
    CpAsync16(v_s + kk * kStride + c * 8, a.v_pool + at, valid);
  }
}

// A warp's 16-row tile over one split: unnormalized output, running max (log2
// domain) and this thread's share of the row sums.
template <int HD>
struct MmaState {
  float o[HD / 8][4];
  float m[2], l[2];
  __device__ __forceinline__ void Reset() {
#pragma unroll
    for (int j = 0; j < HD / 8; ++j) o[j][0] = o[j][1] = o[j][2] = o[j][3] = 0.f;
    m[0] = m[1] = -INFINITY;
    l[0] = l[1] = 0.f;
  }
};

// One step of a split: its kMmaKeys keys from k0 (K rows at k_s, V rows at v_s,
// kStride apart; keys at or past s1 masked; k0 < s1). Every split is these
// steps from its first key in key order, whichever kernel runs it, so a split's
// partial is the same bits in both.
template <int HD>
__device__ __forceinline__ void MmaStep(const uint32_t (&qf)[HD / 16][4], const bf16* k_s,
                                        const bf16* v_s, int k0, int s1, MmaState<HD>& st) {
  constexpr int kStride = MmaTiles<HD>::kStride;
  const int lane = threadIdx.x % 32, tc = lane % 4;
  float sc[2][4] = {{0.f, 0.f, 0.f, 0.f}, {0.f, 0.f, 0.f, 0.f}};
#pragma unroll
  for (int ks = 0; ks < HD / 16; ++ks) {
    uint32_t b[4];
    LdMatrixX4(b, k_s + (lane % 8 + (lane / 16) * 8) * kStride + ks * 16 + ((lane / 8) % 2) * 8);
    Mma(sc[0], qf[ks], b[0], b[1]);
    Mma(sc[1], qf[ks], b[2], b[3]);
  }
  if (k0 + kMmaKeys > s1) {
#pragma unroll
    for (int j = 0; j < 2; ++j) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        if (k0 + j * 8 + 2 * tc + (e & 1) >= s1) sc[j][e] = -INFINITY;
      }
    }
  }
  // Online softmax; a row's 16 scores are spread over the 4 threads of a quad.
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    float mx = fmaxf(fmaxf(sc[0][2 * i], sc[0][2 * i + 1]), fmaxf(sc[1][2 * i], sc[1][2 * i + 1]));
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
    const float m_new = fmaxf(st.m[i], mx);  // finite: key k0 is in the split
    const float alpha = exp2f(st.m[i] - m_new);
    float sum = 0.f;
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      sc[j][2 * i] = exp2f(sc[j][2 * i] - m_new);
      sc[j][2 * i + 1] = exp2f(sc[j][2 * i + 1] - m_new);
      sum += sc[j][2 * i] + sc[j][2 * i + 1];
    }
    st.l[i] = st.l[i] * alpha + sum;  // this thread's share; the quad is summed at the end
    st.m[i] = m_new;
#pragma unroll
    for (int j = 0; j < HD / 8; ++j) {
      st.o[j][2 * i] *= alpha;
      st.o[j][2 * i + 1] *= alpha;
    }
  }
  // O += P V: the S accumulators are already laid out as an A fragment.
  const uint32_t pf[4] = {PackBf16(sc[0][0], sc[0][1]), PackBf16(sc[0][2], sc[0][3]),
                          PackBf16(sc[1][0], sc[1][1]), PackBf16(sc[1][2], sc[1][3])};
#pragma unroll
  for (int dp = 0; dp < HD / 16; ++dp) {
    uint32_t b[4];
    LdMatrixX4Trans(b,
                    v_s + (lane % 8 + ((lane / 8) % 2) * 8) * kStride + dp * 16 + (lane / 16) * 8);
    Mma(st.o[2 * dp], pf, b[0], b[1]);
    Mma(st.o[2 * dp + 1], pf, b[2], b[3]);
  }
}

// A warp's finished split: each member row's output (partial < 0) or partial.
template <int HD, int G>
__device__ __forceinline__ void MmaFinish(const AttentionArgs& a, int kv_head,
                                          const MmaTarget* targets, int members, MmaState<HD>& st) {
  const int lane = threadIdx.x % 32, gr = lane / 4, tc = lane % 4;
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    float l = st.l[i];
    l += __shfl_xor_sync(0xffffffffu, l, 1);
    l += __shfl_xor_sync(0xffffffffu, l, 2);
    const int r = gr + 8 * i;
    if (r >= members * G) continue;
    const MmaTarget t = targets[r / G];
    const int g = r % G, head = kv_head * G + g;
    if (t.partial < 0) {
      bf16* out = a.out + t.q_row * a.heads * HD + head * HD + 2 * tc;
#pragma unroll
      for (int j = 0; j < HD / 8; ++j) {
        *reinterpret_cast<__nv_bfloat162*>(out + j * 8) =
            __floats2bfloat162_rn(st.o[j][2 * i] / l, st.o[j][2 * i + 1] / l);
      }
    } else {
      const int64_t slot = static_cast<int64_t>(t.partial) * G + g;
      float* acc = a.partial_acc + slot * HD + 2 * tc;
#pragma unroll
      for (int j = 0; j < HD / 8; ++j) {
        *reinterpret_cast<float2*>(acc + j * 8) = make_float2(st.o[j][2 * i], st.o[j][2 * i + 1]);
      }
      if (tc == 0) {
        a.partial_stats[slot * 2] = st.m[i];
        a.partial_stats[slot * 2 + 1] = l;
      }
    }
  }
}

// The decode kernel in the MMA form: a warp a split (warp w the block's splits
// w, w + 4, ...), each streaming its keys through its own rows of the tiles
// kMmaKeys at a time (two stages); then the same merge of a (sequence, kv
// head)'s splits as the CUDA-core form.
template <int HD, int G>
__global__ void __launch_bounds__(kDecodeWarps * 32) DecodeMmaKernel(AttentionArgs a) {
  using T = MmaTiles<HD>;
  extern __shared__ __align__(16) unsigned char mma_tiles[];
  __shared__ int last_split;
  __shared__ float w_s[G][kDecodeMaxSplits];  // the merge's weights
  const AttentionBlock blk = a.blocks[blockIdx.x];
  if (blk.seq < 0) return;                        // padding (PadDecodePlan)
  if (a.decode_mma == 2 && blk.mma == 0) return;  // the CUDA-core kernel's
  __shared__ int32_t page_s[kDecodePageIds];
  const AttentionSeq seq = a.seqs[blk.seq];
  const int32_t* pages = a.page_tables + seq.page_table_offset;
  // The range's page ids once (the tables do not depend on the kernels before).
  const int first_page = blk.k_begin / a.page_size;
  const int range_pages = (blk.k_end - 1) / a.page_size + 1 - first_page;
  for (int i = threadIdx.x; i < min(range_pages, kDecodePageIds); i += kDecodeWarps * 32) {
    page_s[i] = pages[first_page + i];
  }
  WaitForPredecessors();
  LetDependentsLaunch();
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int split_len = blk.split_len > 0 ? blk.split_len : blk.k_end - blk.k_begin;
  const int64_t out_row = seq.first_row + blk.q_begin;
  uint32_t qf[HD / 16][4];
  const MmaTarget query{out_row, -1};
  LoadQueryFragments<HD, G>(a, blk.kv_head, &query, 1, qf);
  __syncthreads();  // page_s
  bf16* tiles = reinterpret_cast<bf16*>(mma_tiles) + warp * kMmaKeys * T::kStride;
  int split = warp;
  for (int s0 = blk.k_begin + warp * split_len; s0 < blk.k_end;
       s0 += kDecodeWarps * split_len, split += kDecodeWarps) {
    const int s1 = min(blk.k_end, s0 + split_len);
    const int steps = (s1 - s0 + kMmaKeys - 1) / kMmaKeys;
    auto copy = [&](int stage, int k0) {
      bf16* k_s = tiles + 2 * stage * T::kTile;
      CopyKeysAsync<HD, kMmaKeys, 32>(a, blk.kv_head, pages, page_s, first_page, k0, s1, lane, k_s,
                                      k_s + T::kTile);
    };
    MmaState<HD> st;
    st.Reset();
    copy(0, s0);
    CpAsyncCommit();
    for (int i = 0; i < steps; ++i) {
      if (i + 1 < steps) copy((i + 1) & 1, s0 + (i + 1) * kMmaKeys);
      CpAsyncCommit();  // possibly empty: keeps one group a step
      CpAsyncWaitOne();
      __syncwarp();
      const bf16* k_s = tiles + 2 * (i & 1) * T::kTile;
      MmaStep<HD>(qf, k_s, k_s + T::kTile, s0 + i * kMmaKeys, s1, st);
      __syncwarp();  // the next step's copies overwrite this stage
    }
    const MmaTarget target{out_row, blk.partial < 0 ? -1 : blk.partial + split};
    MmaFinish<HD, G>(a, blk.kv_head, &target, 1, st);
  }
  if (blk.partial < 0) return;
  __syncthreads();  // every warp's partials written (the merge may read them at once)
  MergeIfLast<HD, G>(a, blk, out_row, &last_split, w_s);
}

// Cascade blocks in the MMA form: the split's K and V copied once for the
// group, kMmaChunk keys at a time, and each warp running one tile of the
// members (16 / G of them) over every key of it, in the decode kernel's steps;
// each member's partial for the split written as the decode kernel would.
template <int HD, int G>
__global__ void __launch_bounds__(kDecodeWarps * 32) CascadeMmaKernel(AttentionArgs a) {
  using T = MmaTiles<HD>;
  extern __shared__ __align__(16) unsigned char mma_tiles[];
  __shared__ MmaTarget targets[kCascadeMaxMembers];
  const CascadeBlock blk = a.cascade_blocks[blockIdx.x];
  if (blk.members == 0) return;  // padding (PadDecodePlan)
  const int32_t* pages = a.page_tables + a.seqs[blk.page_seq].page_table_offset;
  WaitForPredecessors();
  LetDependentsLaunch();
  if (threadIdx.x < blk.members) {
    const CascadeMember mb = a.cascade_members[blk.first_member + threadIdx.x];
    targets[threadIdx.x] = MmaTarget{a.seqs[mb.seq].first_row, mb.partial + blk.split};
  }
  __syncthreads();
  const int warp = threadIdx.x / 32;
  constexpr int kPerTile = kMmaRows / G;
  const int tiles = (blk.members + kPerTile - 1) / kPerTile;
  const int s0 = blk.k_begin, s1 = blk.k_end;
  const int chunks = (s1 - s0 + kMmaChunk - 1) / kMmaChunk;
  bf16* stages = reinterpret_cast<bf16*>(mma_tiles);
  auto copy = [&](int stage, int k0) {
    bf16* k_s = stages + 2 * stage * T::kTile;
    CopyKeysAsync<HD, kMmaChunk, kDecodeWarps * 32>(a, blk.kv_head, pages, nullptr, 0, k0, s1,
                                                    threadIdx.x, k_s, k_s + T::kTile);
  };
  for (int t0 = 0; t0 < tiles; t0 += kDecodeWarps) {  // one pass for G >= 4
    const int tile = t0 + warp, first = tile * kPerTile;
    const int n = tile < tiles ? min(kPerTile, blk.members - first) : 0;
    uint32_t qf[HD / 16][4];
    if (n > 0) LoadQueryFragments<HD, G>(a, blk.kv_head, targets + first, n, qf);
    MmaState<HD> st;
    st.Reset();
    copy(0, s0);
    CpAsyncCommit();
    for (int c = 0; c < chunks; ++c) {
      if (c + 1 < chunks) copy((c + 1) & 1, s0 + (c + 1) * kMmaChunk);
      CpAsyncCommit();
      CpAsyncWaitOne();
      __syncthreads();
      if (n > 0) {
        const bf16* k_s = stages + 2 * (c & 1) * T::kTile;
#pragma unroll
        for (int q = 0; q < kMmaChunk / kMmaKeys; ++q) {
          const int k0 = s0 + c * kMmaChunk + q * kMmaKeys;
          if (k0 < s1) {
            MmaStep<HD>(qf, k_s + q * kMmaKeys * T::kStride,
                        k_s + T::kTile + q * kMmaKeys * T::kStride, k0, s1, st);
          }
        }
      }
      __syncthreads();  // the next chunk's copies overwrite this stage
    }
    if (n > 0) MmaFinish<HD, G>(a, blk.kv_head, targets + first, n, st);
  }
}

// Calls f with std::integral_constant<int, G> for G query heads per kv head
// (1, 2, 4 or 8: the decode kernels' instantiations); any other G is invalid.
template <class F>
cudaError_t ForGroup(int group, F&& f) {
  switch (group) {
    case 1:
      return f(std::integral_constant<int, 1>{});
    case 2:
      return f(std::integral_constant<int, 2>{});
    case 4:
      return f(std::integral_constant<int, 4>{});
    case 8:
      return f(std::integral_constant<int, 8>{});
    default:
      return cudaErrorInvalidValue;
  }
}

template <int HD>
cudaError_t LaunchDecodeMma(const AttentionArgs& a, cudaStream_t stream, bool pdl) {
  const dim3 grid(static_cast<unsigned>(a.num_blocks)), block(kDecodeWarps * 32);
  const size_t smem = MmaTiles<HD>::kBytes;
  return ForGroup(a.heads / a.kv_heads, [&](auto group) {
    return Launch(DecodeMmaKernel<HD, decltype(group)::value>, grid, block, smem, stream, pdl, a);
  });
}

template <int HD>
cudaError_t LaunchCascadeMma(const AttentionArgs& a, cudaStream_t stream, bool pdl) {
  const dim3 grid(static_cast<unsigned>(a.num_cascade_blocks)), block(kDecodeWarps * 32);
  const size_t smem = MmaTiles<HD>::kBytes;
  return ForGroup(a.heads / a.kv_heads, [&](auto group) {
    return Launch(CascadeMmaKernel<HD, decltype(group)::value>, grid, block, smem, stream, pdl, a);
  });
}

template <int HD>
cudaError_t PrepareMma() {
  const int bytes = static_cast<int>(MmaTiles<HD>::kBytes);
  for (const void* kernel : {reinterpret_cast<const void*>(DecodeMmaKernel<HD, 1>),
                             reinterpret_cast<const void*>(DecodeMmaKernel<HD, 2>),
                             reinterpret_cast<const void*>(DecodeMmaKernel<HD, 4>),
                             reinterpret_cast<const void*>(DecodeMmaKernel<HD, 8>),
                             reinterpret_cast<const void*>(CascadeMmaKernel<HD, 1>),
                             reinterpret_cast<const void*>(CascadeMmaKernel<HD, 2>),
                             reinterpret_cast<const void*>(CascadeMmaKernel<HD, 4>),
                             reinterpret_cast<const void*>(CascadeMmaKernel<HD, 8>)}) {
    const cudaError_t e =
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
    if (e != cudaSuccess) return e;
  }
  return cudaSuccess;
}

template <int HD>
cudaError_t LaunchCascade(const AttentionArgs& a, cudaStream_t stream, bool pdl) {
  const dim3 grid(static_cast<unsigned>(a.num_cascade_blocks)), block(kDecodeWarps * 32);
  const size_t smem = CascadeSharedBytes<HD>(a.cascade_split_keys);
  return ForGroup(a.heads / a.kv_heads, [&](auto group) {
    return Launch(CascadeDecodeKernel<HD, decltype(group)::value>, grid, block, smem, stream, pdl,
                  a);
  });
}

template <int HD>
cudaError_t PrepareCascade() {
  const int bytes = static_cast<int>(CascadeSharedBytes<HD>(kCascadeMaxSplitKeys));
  for (cudaError_t e : {cudaFuncSetAttribute(CascadeDecodeKernel<HD, 1>,
                                             cudaFuncAttributeMaxDynamicSharedMemorySize, bytes),
                        cudaFuncSetAttribute(CascadeDecodeKernel<HD, 2>,
                                             cudaFuncAttributeMaxDynamicSharedMemorySize, bytes),
                        cudaFuncSetAttribute(CascadeDecodeKernel<HD, 4>,
                                             cudaFuncAttributeMaxDynamicSharedMemorySize, bytes),
                        cudaFuncSetAttribute(CascadeDecodeKernel<HD, 8>,
                                             cudaFuncAttributeMaxDynamicSharedMemorySize, bytes)}) {
    if (e != cudaSuccess) return e;
  }
  return cudaSuccess;
}

template <int HD, bool kFp8, bool kK8 = false, bool kBits = false>
cudaError_t LaunchDecode(const AttentionArgs& a, cudaStream_t stream, bool pdl) {
  const dim3 grid(static_cast<unsigned>(a.num_blocks)), block(kDecodeWarps * 32);
  return ForGroup(a.heads / a.kv_heads, [&](auto group) {
    return Launch(DecodeAttentionKernel<HD, decltype(group)::value, kFp8, kK8, kBits>, grid, block,
                  0, stream, pdl, a);
  });
}

// The FP8 decode form (attention.h's Fp8DecodeForm), read once.
Fp8DecodeForm DecodeFormFromEnvironment() {
  static const Fp8DecodeForm form = [] {
    const char* v = std::getenv("RADIXLM_CUDA_FP8_DECODE");
    if (v == nullptr) return Fp8DecodeForm::kCvt16;
    if (std::strcmp(v, "cvt8") == 0) return Fp8DecodeForm::kCvt8;
    if (std::strcmp(v, "bits16") == 0) return Fp8DecodeForm::kBits16;
    if (std::strcmp(v, "bits8") == 0) return Fp8DecodeForm::kBits8;
    return Fp8DecodeForm::kCvt16;
  }();
  return form;
}

template <int HD>
cudaError_t LaunchDecode(const AttentionArgs& a, cudaStream_t stream, bool pdl) {
  if (a.k_fp8 == nullptr) return LaunchDecode<HD, false>(a, stream, pdl);
  switch (DecodeFormFromEnvironment()) {
    case Fp8DecodeForm::kCvt16:
      return LaunchDecode<HD, true, false, false>(a, stream, pdl);
    case Fp8DecodeForm::kCvt8:
      return LaunchDecode<HD, true, true, false>(a, stream, pdl);
    case Fp8DecodeForm::kBits16:
      return LaunchDecode<HD, true, false, true>(a, stream, pdl);
    case Fp8DecodeForm::kBits8:
      return LaunchDecode<HD, true, true, true>(a, stream, pdl);
  }
  return cudaErrorInvalidValue;
}

// One block per (merge, query row), one thread per column: every partial's
// stats and columns are read once, in parallel over the rows.
__global__ void __launch_bounds__(128) MergeKernel(AttentionArgs a) {
  const AttentionMerge mg = a.merges[blockIdx.x];
  const int group = a.heads / a.kv_heads, hd = a.head_dim;
  const int row = blockIdx.y, d = threadIdx.x;
  if (row >= mg.q_count * group) return;
  const AttentionSeq seq = a.seqs[mg.seq];
  float mx = -INFINITY;
  for (int p = 0; p < mg.count; ++p) {
    const int64_t at = (static_cast<int64_t>(mg.first_partial + p) * kRows + row) * 2;
    if (a.partial_stats[at + 1] > 0.f) mx = fmaxf(mx, a.partial_stats[at]);
  }
  float num = 0.f, den = 0.f;
  for (int p = 0; p < mg.count; ++p) {
    const int64_t slot = static_cast<int64_t>(mg.first_partial + p) * kRows + row;
    const float l = a.partial_stats[slot * 2 + 1];
    if (!(l > 0.f)) continue;
    const float w = exp2f(a.partial_stats[slot * 2] - mx);
    num = fmaf(w, a.partial_acc[slot * hd + d], num);
    den = fmaf(w, l, den);
  }
  const int token = mg.q_begin + row / group;
  const int head = mg.kv_head * group + row % group;
  a.out[static_cast<int64_t>(seq.first_row + token) * a.heads * hd + head * hd + d] =
      __float2bfloat16(num * (1.0f / den));
}

template <int HD>
cudaError_t Prepare() {
  const cudaError_t e =
      cudaFuncSetAttribute(AttentionKernel<HD, false>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                           static_cast<int>(Tiles<HD, false>::kBytes));
  if (e != cudaSuccess) return e;
  return cudaFuncSetAttribute(AttentionKernel<HD, true>,
                              cudaFuncAttributeMaxDynamicSharedMemorySize,
                              static_cast<int>(Tiles<HD, true>::kBytes));
}

template <int HD>
void Launch(const AttentionArgs& a, cudaStream_t stream) {
  const auto blocks = static_cast<unsigned>(a.num_blocks);
  if (a.k_fp8 != nullptr) {
    AttentionKernel<HD, true><<<blocks, kThreads, Tiles<HD, true>::kBytes, stream>>>(a);
  } else {
    AttentionKernel<HD, false><<<blocks, kThreads, Tiles<HD, false>::kBytes, stream>>>(a);
  }
}

}  // namespace

int DecodeMmaFromEnvironment(int fallback) {
  const char* v = std::getenv("RADIXLM_CUDA_DECODE_MMA");
  if (v == nullptr || *v == '\0') return fallback;
  if (std::strcmp(v, "auto") == 0) return 2;
  return std::strcmp(v, "0") != 0 ? 1 : 0;
}

bool AttentionSupportsHeadDim(int64_t head_dim) {
  return head_dim == 16 || head_dim == 32 || head_dim == 64 || head_dim == 128;
}

cudaError_t PrepareAttention() {
  for (cudaError_t e :
       {Prepare<16>(), Prepare<32>(), Prepare<64>(), Prepare<128>(), PrepareCascade<64>(),
        PrepareCascade<128>(), PrepareMma<64>(), PrepareMma<128>()}) {
    if (e != cudaSuccess) return e;
  }
  return cudaSuccess;
}

cudaError_t LaunchAttention(const AttentionArgs& a, cudaStream_t stream, bool pdl) {
  if (a.num_blocks == 0) return cudaSuccess;
  if (a.decode) {
    // A decode plan's partials are laid out for the decode kernel alone, which
    // merges its own splits.
    if (!DecodeAttentionSupports(a.head_dim, a.heads / a.kv_heads)) return cudaErrorInvalidValue;
    if (a.decode_mma != 0 && a.k_fp8 != nullptr) {
      AttentionArgs cuda_cores = a;  // FP8 pools decode on the CUDA cores alone
      cuda_cores.decode_mma = 0;
      return LaunchAttention(cuda_cores, stream, pdl);
    }
    if (a.decode_mma != 0) {
      // Cascade blocks first: the decode blocks merge their partials.
      if (a.num_cascade_blocks > 0) {
        if (a.window != 0) return cudaErrorInvalidValue;
        const cudaError_t e = a.head_dim == 64 ? LaunchCascadeMma<64>(a, stream, pdl)
                                               : LaunchCascadeMma<128>(a, stream, pdl);
        if (e != cudaSuccess) return e;
      }
      // By sequence (2): each kernel takes the blocks of its form.
      if (a.decode_mma == 1 || (a.decode_forms & 1) != 0) {
        const cudaError_t e = a.head_dim == 64 ? LaunchDecodeMma<64>(a, stream, pdl)
                                               : LaunchDecodeMma<128>(a, stream, pdl);
        if (e != cudaSuccess || a.decode_mma == 1 || (a.decode_forms & 2) == 0) return e;
      }
      return a.head_dim == 64 ? LaunchDecode<64>(a, stream, pdl)
                              : LaunchDecode<128>(a, stream, pdl);
    }
    if (a.num_cascade_blocks > 0) {
      // Cascade blocks read BF16 pools without a window (attention_plan.h).
      if (a.k_fp8 != nullptr || a.window != 0 || a.cascade_split_keys <= 0 ||
          a.cascade_split_keys > kCascadeMaxSplitKeys)
        return cudaErrorInvalidValue;
      const cudaError_t e =
          a.head_dim == 64 ? LaunchCascade<64>(a, stream, pdl) : LaunchCascade<128>(a, stream, pdl);
      if (e != cudaSuccess) return e;
    }
    return a.head_dim == 64 ? LaunchDecode<64>(a, stream, pdl) : LaunchDecode<128>(a, stream, pdl);
  }
  switch (a.head_dim) {
    case 16:
      Launch<16>(a, stream);
      break;
    case 32:
      Launch<32>(a, stream);
      break;
    case 64:
      Launch<64>(a, stream);
      break;
    case 128:
      Launch<128>(a, stream);
      break;
    default:
      return cudaErrorInvalidValue;
  }
  if (cudaError_t e = cudaGetLastError(); e != cudaSuccess) return e;
  if (a.num_merges == 0) return cudaSuccess;
  const unsigned merge_rows = kRows;  // at most q_count * group rows a merge
  MergeKernel<<<dim3(static_cast<unsigned>(a.num_merges), merge_rows),
                static_cast<unsigned>(a.head_dim), 0, stream>>>(a);
  return cudaGetLastError();
}

}  // namespace radixlm::backend::cuda
