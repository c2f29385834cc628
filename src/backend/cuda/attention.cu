#include "backend/cuda/attention.h"

#include <cmath>
#include <type_traits>

namespace radixlm::backend::cuda {
namespace {

constexpr int kRows = kAttentionRows;
constexpr int kKeys = kAttentionKeys;
constexpr int kThreads = 256;  // 16 x 16: each thread owns 4 rows x 4 keys of a score tile
constexpr float kLog2e = 1.4426950408889634f;

// Shared memory, in floats: Q [rows][hd + 1] (the pad keeps the 16 rows a warp
// reads in distinct banks), K [keys][hd + 1], V [keys][hd], P [rows][keys + 1],
// and per row: running max, running sum, rescale factor, query position.
template <int HD>
struct Layout {
  static constexpr int kQ = kRows * (HD + 1);
  static constexpr int kK = kKeys * (HD + 1);
  static constexpr int kV = kKeys * HD;
  static constexpr int kP = kRows * (kKeys + 1);
  static constexpr size_t kBytes = static_cast<size_t>(kQ + kK + kV + kP + 4 * kRows) * sizeof(float);
};

template <int HD>
__global__ void __launch_bounds__(kThreads) AttentionKernel(AttentionArgs a) {
  using L = Layout<HD>;
  extern __shared__ float smem[];
  float* q_s = smem;
  float* k_s = q_s + L::kQ;
  float* v_s = k_s + L::kK;
  float* p_s = v_s + L::kV;
  float* m_s = p_s + L::kP;
  float* l_s = m_s + kRows;
  float* alpha_s = l_s + kRows;
  int* qpos_s = reinterpret_cast<int*>(alpha_s + kRows);

  const AttentionBlock blk = a.blocks[blockIdx.x];
  const AttentionSeq seq = a.seqs[blk.seq];
  const int group = a.heads / a.kv_heads;
  const int rows = blk.q_count * group;
  const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
  // Row groups (rows ty + 16 i) holding queries: a decode block with 4 query
  // heads uses one of four, and skips three quarters of the arithmetic.
  const int row_groups = (rows + 15) / 16;
  // Scores in the log2 domain: exp(s * scale) = exp2(s * scale * log2 e).
  const float q_scale = a.scale * kLog2e;

  constexpr int kQ4 = HD / 4;
  for (int idx = tid; idx < kRows * kQ4; idx += kThreads) {
    const int r = idx / kQ4, c = idx % kQ4;
    float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
    if (r < rows) {
      const int token = blk.q_begin + r / group;
      const int head = blk.kv_head * group + r % group;
      v = *reinterpret_cast<const float4*>(a.qkv + static_cast<int64_t>(seq.first_row + token) * a.ld +
                                           head * HD + c * 4);
    }
    float* dst = q_s + r * (HD + 1) + c * 4;
    dst[0] = v.x * q_scale;
    dst[1] = v.y * q_scale;
    dst[2] = v.z * q_scale;
    dst[3] = v.w * q_scale;
  }
  for (int r = tid; r < kRows; r += kThreads) {
    qpos_s[r] = r < rows ? seq.start + blk.q_begin + r / group : -1;
    m_s[r] = -INFINITY;
    l_s[r] = 0.f;
  }

  float o[4][HD / 16];
#pragma unroll
  for (int i = 0; i < 4; ++i) {
#pragma unroll
    for (int j = 0; j < HD / 16; ++j) o[i][j] = 0.f;
  }
  const int32_t* pages = a.page_tables + seq.page_table_offset;
  constexpr int kVec = HD / 8;  // 16-byte vectors of 8 BF16 per key

  for (int k0 = blk.k_begin; k0 < blk.k_end; k0 += kKeys) {
    for (int idx = tid; idx < kKeys * kVec; idx += kThreads) {
      const int kk = idx / kVec, c = idx % kVec;
      const int pos = k0 + kk;
      uint4 kraw = make_uint4(0, 0, 0, 0), vraw = make_uint4(0, 0, 0, 0);
      if (pos < blk.k_end) {
        const int64_t page = pages[pos / a.page_size];
        const int64_t at = ((page * a.kv_heads + blk.kv_head) * a.page_size + pos % a.page_size) * HD + c * 8;
        kraw = *reinterpret_cast<const uint4*>(a.k_pool + at);
        vraw = *reinterpret_cast<const uint4*>(a.v_pool + at);
      }
      const bf16* kb = reinterpret_cast<const bf16*>(&kraw);
      const bf16* vb = reinterpret_cast<const bf16*>(&vraw);
#pragma unroll
      for (int e = 0; e < 8; ++e) {
        k_s[kk * (HD + 1) + c * 8 + e] = __bfloat162float(kb[e]);
        v_s[kk * HD + c * 8 + e] = __bfloat162float(vb[e]);
      }
    }
    __syncthreads();

    float s[4][4];
#pragma unroll
    for (int i = 0; i < 4; ++i) {
#pragma unroll
      for (int j = 0; j < 4; ++j) s[i][j] = 0.f;
    }
#pragma unroll 8
    for (int d = 0; d < HD; ++d) {
      float qv[4], kv[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) qv[i] = q_s[(ty + 16 * i) * (HD + 1) + d];
#pragma unroll
      for (int j = 0; j < 4; ++j) kv[j] = k_s[(tx + 16 * j) * (HD + 1) + d];
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        if (i < row_groups) {
#pragma unroll
          for (int j = 0; j < 4; ++j) s[i][j] = fmaf(qv[i], kv[j], s[i][j]);
        }
      }
    }
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int row = ty + 16 * i;
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const int key = tx + 16 * j, pos = k0 + key;
        const bool visible = pos < blk.k_end && pos <= qpos_s[row];
        p_s[row * (kKeys + 1) + key] = visible ? s[i][j] : -INFINITY;
      }
    }
    __syncthreads();

    {  // Online softmax: four threads per row, 16 keys each.
      const int row = tid / 4, part = tid % 4;
      float* prow = p_s + row * (kKeys + 1) + part * 16;
      float mx = -INFINITY;
#pragma unroll
      for (int c = 0; c < 16; ++c) mx = fmaxf(mx, prow[c]);
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
      const float m_old = m_s[row];
      const float m_new = fmaxf(m_old, mx);
      float alpha = 1.f, sum = 0.f;
      if (m_new == -INFINITY) {
#pragma unroll
        for (int c = 0; c < 16; ++c) prow[c] = 0.f;
      } else {
        alpha = exp2f(m_old - m_new);
#pragma unroll
        for (int c = 0; c < 16; ++c) {
          const float p = exp2f(prow[c] - m_new);
          prow[c] = p;
          sum += p;
        }
      }
      sum += __shfl_xor_sync(0xffffffffu, sum, 1);
      sum += __shfl_xor_sync(0xffffffffu, sum, 2);
      __syncwarp();
      if (part == 0) {
        m_s[row] = m_new;
        l_s[row] = l_s[row] * alpha + sum;
        alpha_s[row] = alpha;
      }
    }
    __syncthreads();

#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const float alpha = alpha_s[ty + 16 * i];
#pragma unroll
      for (int j = 0; j < HD / 16; ++j) o[i][j] *= alpha;
    }
#pragma unroll 4
    for (int c = 0; c < kKeys; ++c) {
      float pv[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) pv[i] = p_s[(ty + 16 * i) * (kKeys + 1) + c];
#pragma unroll
      for (int j = 0; j < HD / 16; ++j) {
        const float vv = v_s[c * HD + tx + 16 * j];
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          if (i < row_groups) o[i][j] = fmaf(pv[i], vv, o[i][j]);
        }
      }
    }
    __syncthreads();
  }

#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int row = ty + 16 * i;
    if (row >= rows) continue;
    const int token = blk.q_begin + row / group;
    const int head = blk.kv_head * group + row % group;
    if (blk.partial < 0) {
      const float inv = 1.0f / l_s[row];
      bf16* dst = a.out + static_cast<int64_t>(seq.first_row + token) * a.heads * HD + head * HD;
#pragma unroll
      for (int j = 0; j < HD / 16; ++j) dst[tx + 16 * j] = __float2bfloat16(o[i][j] * inv);
    } else {
      float* dst = a.partial_acc + (static_cast<int64_t>(blk.partial) * kRows + row) * HD;
#pragma unroll
      for (int j = 0; j < HD / 16; ++j) dst[tx + 16 * j] = o[i][j];
      if (tx == 0) {
        a.partial_stats[(static_cast<int64_t>(blk.partial) * kRows + row) * 2] = m_s[row];
        a.partial_stats[(static_cast<int64_t>(blk.partial) * kRows + row) * 2 + 1] = l_s[row];
      }
    }
  }
}

// Decode blocks (one query token, the kv head's `group` query heads, group <=
// kDecodeMaxGroup): no tiles in shared memory. Each warp walks every
// kDecodeWarps-th run of 32 keys; a lane scores one key against the group's
// queries (the whole head_dim row, 16-byte loads), the warp updates its online
// softmax, then lanes own head_dim / 32 columns of V and accumulate the run's
// keys. The warps' states are merged at the end, and written like the tiled
// kernel's (the output, or a partial for MergeKernel).
constexpr int kDecodeWarps = 4;
constexpr int kDecodeMaxGroup = 8;

template <int HD, int G>
__global__ void __launch_bounds__(kDecodeWarps * 32) DecodeAttentionKernel(AttentionArgs a) {
  constexpr int kCols = HD / 32;  // V columns per lane
  __shared__ float q_s[G][HD];
  __shared__ float p_s[kDecodeWarps][G][32];
  __shared__ float o_s[kDecodeWarps][G][HD];
  __shared__ float ml_s[kDecodeWarps][G][2];
  const AttentionBlock blk = a.blocks[blockIdx.x];
  const AttentionSeq seq = a.seqs[blk.seq];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const float q_scale = a.scale * kLog2e;
  const int64_t qrow = static_cast<int64_t>(seq.first_row + blk.q_begin) * a.ld;
  for (int idx = threadIdx.x; idx < G * HD; idx += blockDim.x) {
    const int g = idx / HD, d = idx % HD;
    q_s[g][d] = a.qkv[qrow + (blk.kv_head * G + g) * HD + d] * q_scale;
  }
  __syncthreads();
  const int32_t* pages = a.page_tables + seq.page_table_offset;
  float m[G], l[G], o[G][kCols];
#pragma unroll
  for (int g = 0; g < G; ++g) {
    m[g] = -INFINITY;
    l[g] = 0.f;
#pragma unroll
    for (int c = 0; c < kCols; ++c) o[g][c] = 0.f;
  }
  for (int k0 = blk.k_begin + warp * 32; k0 < blk.k_end; k0 += kDecodeWarps * 32) {
    const int pos = k0 + lane;
    const bool valid = pos < blk.k_end;
    float sc[G];
#pragma unroll
    for (int g = 0; g < G; ++g) sc[g] = 0.f;
    if (valid) {
      const int64_t page = pages[pos / a.page_size];
      const uint4* kr = reinterpret_cast<const uint4*>(
          a.k_pool + ((page * a.kv_heads + blk.kv_head) * a.page_size + pos % a.page_size) * HD);
      uint4 kraw[HD / 8];
#pragma unroll
      for (int v = 0; v < HD / 8; ++v) kraw[v] = kr[v];
#pragma unroll
      for (int v = 0; v < HD / 8; ++v) {
        const uint32_t w[4] = {kraw[v].x, kraw[v].y, kraw[v].z, kraw[v].w};
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          const float k_lo = __uint_as_float(w[j] << 16), k_hi = __uint_as_float(w[j] & 0xffff0000u);
#pragma unroll
          for (int g = 0; g < G; ++g) {
            sc[g] = fmaf(q_s[g][v * 8 + 2 * j], k_lo, sc[g]);
            sc[g] = fmaf(q_s[g][v * 8 + 2 * j + 1], k_hi, sc[g]);
          }
        }
      }
    }
#pragma unroll
    for (int g = 0; g < G; ++g) {
      float mx = valid ? sc[g] : -INFINITY;
      for (int off = 16; off > 0; off >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
      const float m_new = fmaxf(m[g], mx);  // finite: the run has a valid key
      const float alpha = exp2f(m[g] - m_new);
      const float pr = valid ? exp2f(sc[g] - m_new) : 0.f;
      float sum = pr;
      for (int off = 16; off > 0; off >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, off);
      m[g] = m_new;
      l[g] = l[g] * alpha + sum;
#pragma unroll
      for (int c = 0; c < kCols; ++c) o[g][c] *= alpha;
      p_s[warp][g][lane] = pr;
    }
    __syncwarp();
    // Lanes own V columns; keys in chunks of kVChunk with their loads issued
    // together (past the range: the last key again, with probability 0).
    constexpr int kVChunk = 16;
    const int run = min(32, blk.k_end - k0);
    for (int j0 = 0; j0 < run; j0 += kVChunk) {
      using Raw = typename std::conditional<kCols == 4, uint2, uint32_t>::type;
      Raw raw[kVChunk];
#pragma unroll
      for (int u = 0; u < kVChunk; ++u) {
        const int kp = min(k0 + j0 + u, blk.k_end - 1);
        const int64_t page = pages[kp / a.page_size];
        raw[u] = *reinterpret_cast<const Raw*>(
            a.v_pool + ((page * a.kv_heads + blk.kv_head) * a.page_size + kp % a.page_size) * HD + lane * kCols);
      }
#pragma unroll
      for (int u = 0; u < kVChunk; ++u) {
        float vv[kCols];
        if constexpr (kCols == 4) {
          vv[0] = __uint_as_float(raw[u].x << 16);
          vv[1] = __uint_as_float(raw[u].x & 0xffff0000u);
          vv[2] = __uint_as_float(raw[u].y << 16);
          vv[3] = __uint_as_float(raw[u].y & 0xffff0000u);
        } else {
          vv[0] = __uint_as_float(raw[u] << 16);
          vv[1] = __uint_as_float(raw[u] & 0xffff0000u);
        }
        const int j = min(j0 + u, 31);
        const float live = j0 + u < 32 ? 1.f : 0.f;
#pragma unroll
        for (int g = 0; g < G; ++g) {
          const float pr = p_s[warp][g][j] * live;
#pragma unroll
          for (int c = 0; c < kCols; ++c) o[g][c] = fmaf(pr, vv[c], o[g][c]);
        }
      }
    }
    __syncwarp();
  }
  // Merge the warps' states.
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
    const int head = blk.kv_head * G + g;
    if (blk.partial < 0) {
      a.out[static_cast<int64_t>(seq.first_row + blk.q_begin) * a.heads * HD + head * HD + d] =
          __float2bfloat16(acc / sum);
    } else {
      const int64_t slot = static_cast<int64_t>(blk.partial) * kRows + g;
      a.partial_acc[slot * HD + d] = acc;
      if (d == 0) {
        a.partial_stats[slot * 2] = mx;
        a.partial_stats[slot * 2 + 1] = sum;
      }
    }
  }
}

template <int HD>
bool LaunchDecode(const AttentionArgs& a, cudaStream_t stream) {
  const unsigned grid = static_cast<unsigned>(a.num_blocks);
  switch (a.heads / a.kv_heads) {
    case 1: DecodeAttentionKernel<HD, 1><<<grid, kDecodeWarps * 32, 0, stream>>>(a); return true;
    case 2: DecodeAttentionKernel<HD, 2><<<grid, kDecodeWarps * 32, 0, stream>>>(a); return true;
    case 4: DecodeAttentionKernel<HD, 4><<<grid, kDecodeWarps * 32, 0, stream>>>(a); return true;
    case 8: DecodeAttentionKernel<HD, 8><<<grid, kDecodeWarps * 32, 0, stream>>>(a); return true;
    default: return false;
  }
}

__global__ void __launch_bounds__(512) MergeKernel(AttentionArgs a) {
  const AttentionMerge mg = a.merges[blockIdx.x];
  const AttentionSeq seq = a.seqs[mg.seq];
  const int group = a.heads / a.kv_heads, hd = a.head_dim;
  const int rows = mg.q_count * group;
  for (int idx = threadIdx.x; idx < rows * hd; idx += blockDim.x) {
    const int row = idx / hd, d = idx % hd;
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
}

template <int HD>
cudaError_t Prepare() {
  return cudaFuncSetAttribute(AttentionKernel<HD>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                              static_cast<int>(Layout<HD>::kBytes));
}

template <int HD>
void Launch(const AttentionArgs& a, cudaStream_t stream) {
  AttentionKernel<HD><<<static_cast<unsigned>(a.num_blocks), kThreads, Layout<HD>::kBytes, stream>>>(a);
}

}  // namespace

bool AttentionSupportsHeadDim(int64_t head_dim) {
  return head_dim == 16 || head_dim == 32 || head_dim == 64 || head_dim == 128;
}

cudaError_t PrepareAttention() {
  for (cudaError_t e : {Prepare<16>(), Prepare<32>(), Prepare<64>(), Prepare<128>()}) {
    if (e != cudaSuccess) return e;
  }
  return cudaSuccess;
}

cudaError_t LaunchAttention(const AttentionArgs& a, cudaStream_t stream) {
  if (a.num_blocks == 0) return cudaSuccess;
  bool launched = false;
  if (a.decode) {
    if (a.head_dim == 64) launched = LaunchDecode<64>(a, stream);
    if (a.head_dim == 128) launched = LaunchDecode<128>(a, stream);
  }
  if (!launched) switch (a.head_dim) {
    case 16: Launch<16>(a, stream); break;
    case 32: Launch<32>(a, stream); break;
    case 64: Launch<64>(a, stream); break;
    case 128: Launch<128>(a, stream); break;
    default: return cudaErrorInvalidValue;
  }
  if (cudaError_t e = cudaGetLastError(); e != cudaSuccess) return e;
  if (a.num_merges == 0) return cudaSuccess;
  MergeKernel<<<static_cast<unsigned>(a.num_merges), 512, 0, stream>>>(a);
  return cudaGetLastError();
}

}  // namespace radixlm::backend::cuda
