#include "backend/cuda/choose_tokens.h"

#include <climits>

#include "backend/sampling_math.h"

namespace radixlm::backend::cuda {
namespace {

using sampling::FromKey;
using sampling::Key;
using sampling::Mass;
using sampling::RelativeProb;
using u64 = unsigned long long;

constexpr int kThreads = 1024;
constexpr int kWarps = kThreads / 32;

struct Shared {
  u64 hist[256];
  int32_t top_tokens[kMaxDeviceTopLogprobs];
  float top_logits[kMaxDeviceTopLogprobs];
  u64 warp_u64[kWarps];
  float warp_f[kWarps];
  int warp_i[kWarps];
  u64 found_rest, found_weight;
  uint32_t found_digit;
};

__device__ __forceinline__ int Lane() { return static_cast<int>(threadIdx.x % 32); }
__device__ __forceinline__ int Warp() { return static_cast<int>(threadIdx.x / 32); }

__device__ u64 BlockSum(u64 v, Shared& sh) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(~0u, v, o);
  __syncthreads();  // the previous reduction's readers are done
  if (Lane() == 0) sh.warp_u64[Warp()] = v;
  __syncthreads();
  u64 total = 0;
  for (int w = 0; w < kWarps; ++w) total += sh.warp_u64[w];
  return total;
}

// The sum of v over the threads before this one (thread order), and over all.
__device__ u64 BlockExclusiveSum(u64 v, u64* total, Shared& sh) {
  u64 inclusive = v;
  for (int o = 1; o < 32; o <<= 1) {
    const u64 n = __shfl_up_sync(~0u, inclusive, o);
    if (Lane() >= o) inclusive += n;
  }
  __syncthreads();
  if (Lane() == 31) sh.warp_u64[Warp()] = inclusive;
  __syncthreads();
  u64 before = 0, all = 0;
  for (int w = 0; w < kWarps; ++w) {
    const u64 x = sh.warp_u64[w];
    if (w < Warp()) before += x;
    all += x;
  }
  *total = all;
  return before + inclusive - v;
}

__device__ float BlockMax(float v, Shared& sh) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(~0u, v, o));
  __syncthreads();
  if (Lane() == 0) sh.warp_f[Warp()] = v;
  __syncthreads();
  float m = -INFINITY;
  for (int w = 0; w < kWarps; ++w) m = fmaxf(m, sh.warp_f[w]);
  return m;
}

// The lowest id among the largest logits (std::max_element's choice).
__device__ int32_t ArgMax(const float* row, int vocab, Shared& sh) {
  float best = -INFINITY;
  int id = INT_MAX;
  for (int i = static_cast<int>(threadIdx.x); i < vocab; i += kThreads) {
    const float v = row[i];
    if (v > best || (v == best && i < id)) best = v, id = i;
  }
  for (int o = 16; o > 0; o >>= 1) {
    const float ov = __shfl_xor_sync(~0u, best, o);
    const int oi = __shfl_xor_sync(~0u, id, o);
    if (ov > best || (ov == best && oi < id)) best = ov, id = oi;
  }
  __syncthreads();
  if (Lane() == 0) sh.warp_f[Warp()] = best, sh.warp_i[Warp()] = id;
  __syncthreads();
  best = -INFINITY, id = INT_MAX;
  for (int w = 0; w < kWarps; ++w) {
    if (sh.warp_f[w] > best || (sh.warp_f[w] == best && sh.warp_i[w] < id))
      best = sh.warp_f[w], id = sh.warp_i[w];
  }
  return id == INT_MAX ? 0 : id;
}

// A prefix of the order (key descending, id ascending): every entry with key
// above `key`, and the first `take` (by id) of those equal to it.
struct Cut {
  uint32_t key = 0;
  u64 take = ~0ull;
  u64 ties = 0;  // entries of the set with exactly `key`
};

// Over the set {key >= floor_key} less `floor_excess` of weight at floor_key
// (ties the previous cut left out), finds the shortest prefix whose weight
// (1 per entry, or its mass) reaches `target` (1 <= target <= the set's weight).
template <bool kByMass>
__device__ Cut RadixCut(const float* row, int vocab, float inv, float max, u64 target,
                        uint32_t floor_key, u64 floor_excess, Shared& sh) {
  uint32_t prefix = 0, mask = 0;
  u64 rest = target, bin_weight = 0;
  for (int shift = 24; shift >= 0; shift -= 8) {
    for (int j = static_cast<int>(threadIdx.x); j < 256; j += kThreads) sh.hist[j] = 0;
    __syncthreads();
    for (int i = static_cast<int>(threadIdx.x); i < vocab; i += kThreads) {
      const float c = row[i] * inv;
      const uint32_t key = Key(c);
      if ((key & mask) != prefix || key < floor_key) continue;
      const u64 w = kByMass ? Mass(RelativeProb(c, max)) : 1;
      if (w != 0) atomicAdd(&sh.hist[(key >> shift) & 255u], w);
    }
    __syncthreads();
    if (Warp() == 0) {
      const int lane = Lane();
      if (lane == 0 && floor_excess != 0 && (floor_key & mask) == prefix) {
        sh.hist[(floor_key >> shift) & 255u] -= floor_excess;
      }
      __syncwarp();
      // Lane L holds digits 255 - 8L down to 248 - 8L: lanes in descending order.
      u64 sum = 0;
      for (int b = 0; b < 8; ++b) sum += sh.hist[255 - 8 * lane - b];
      u64 inclusive = sum;
      for (int o = 1; o < 32; o <<= 1) {
        const u64 n = __shfl_up_sync(~0u, inclusive, o);
        if (lane >= o) inclusive += n;
      }
      u64 before = inclusive - sum;
      if (before < rest && rest <= inclusive) {
        for (int b = 0; b < 8; ++b) {
          const int d = 255 - 8 * lane - b;
          const u64 h = sh.hist[d];
          if (rest <= before + h) {
            sh.found_digit = static_cast<uint32_t>(d);
            sh.found_rest = rest - before;
            sh.found_weight = h;
            break;
          }
          before += h;
        }
      }
    }
    __syncthreads();
    prefix |= sh.found_digit << shift;
    mask |= 255u << shift;
    rest = sh.found_rest;
    bin_weight = sh.found_weight;
  }
  const u64 one = kByMass ? Mass(RelativeProb(FromKey(prefix), max)) : 1;
  Cut cut;
  cut.key = prefix;
  cut.take = (rest + one - 1) / one;
  cut.ties = bin_weight / one;
  return cut;
}

// ChooseToken(row, ch) into *out (by one thread); every thread of the block calls it.
__device__ void ChooseOne(const float* row, int vocab, const DeviceChoice& ch, int32_t* out,
                          Shared& sh) {
  if (ch.inv_temperature == 0 || ch.top_k == 1) {
    const int32_t id = ArgMax(row, vocab, sh);
    if (threadIdx.x == 0) *out = id;
    return;
  }
  const float inv = ch.inv_temperature;
  float m = -INFINITY;
  for (int i = static_cast<int>(threadIdx.x); i < vocab; i += kThreads) m = fmaxf(m, row[i] * inv);
  const float max = BlockMax(m, sh);

  Cut cut;
  bool cut_active = false;
  uint32_t floor_key = 0;
  u64 floor_excess = 0;
  if (ch.top_k > 0 && ch.top_k < vocab) {
    cut = RadixCut<false>(row, vocab, inv, max, static_cast<u64>(ch.top_k), 0, 0, sh);
    cut_active = true;
    floor_key = cut.key;
    floor_excess = (cut.ties - cut.take) * Mass(RelativeProb(FromKey(cut.key), max));
  }
  if (ch.top_p < 1) {
    u64 part = 0;
    for (int i = static_cast<int>(threadIdx.x); i < vocab; i += kThreads) {
      const float c = row[i] * inv;
      if (Key(c) >= floor_key) part += Mass(RelativeProb(c, max));
    }
    const u64 total = BlockSum(part, sh) - floor_excess;
    if (total > 0) {
      cut = RadixCut<true>(row, vocab, inv, max, sampling::TopPTarget(ch.top_p, total), floor_key,
                           floor_excess, sh);
      cut_active = true;
    }
  }

  // Each thread owns a contiguous run of ids, so ranks among ties and the draw
  // go in id order.
  const int chunk = (vocab + kThreads - 1) / kThreads;
  const int lo = min(vocab, static_cast<int>(threadIdx.x) * chunk), hi = min(vocab, lo + chunk);
  u64 tie_base = 0;
  if (cut_active) {
    u64 ties = 0;
    for (int i = lo; i < hi; ++i) ties += Key(row[i] * inv) == cut.key;
    u64 all;
    tie_base = BlockExclusiveSum(ties, &all, sh);
  }
  auto kept_mass = [&](int i, u64* rank) -> u64 {
    const float c = row[i] * inv;
    const uint32_t key = Key(c);
    bool in = true;
    if (cut_active) {
      if (key == cut.key) {
        in = *rank < cut.take;
        ++*rank;
      } else {
        in = key > cut.key;
      }
    }
    const float p = RelativeProb(c, max);
    if (!in || (ch.min_p > 0 && p < ch.min_p)) return 0;
    return Mass(p);
  };
  u64 local = 0, rank = tie_base;
  for (int i = lo; i < hi; ++i) local += kept_mass(i, &rank);
  u64 kept;
  const u64 before = BlockExclusiveSum(local, &kept, sh);
  if (kept == 0) {  // no finite logit
    const int32_t id = ArgMax(row, vocab, sh);
    if (threadIdx.x == 0) *out = id;
    return;
  }
  const u64 at = sampling::DrawPoint(ch.uniform, kept);
  if (before <= at && at < before + local) {
    u64 sum = before;
    rank = tie_base;
    for (int i = lo; i < hi; ++i) {
      sum += kept_mass(i, &rank);
      if (sum > at) {
        *out = i;
        break;
      }
    }
  }
}

// backend::ComputeRowLogprobs: the maximum, the fixed-point mass and the `top`
// best (key descending, id ascending) of an unedited row.
__device__ void Figures(const float* row, int vocab, int top, DeviceRowFigures* out, Shared& sh) {
  float m = -INFINITY;
  for (int i = static_cast<int>(threadIdx.x); i < vocab; i += kThreads) m = fmaxf(m, row[i]);
  const float max = BlockMax(m, sh);
  u64 part = 0;
  for (int i = static_cast<int>(threadIdx.x); i < vocab; i += kThreads)
    part += Mass(RelativeProb(row[i], max));
  const u64 mass = BlockSum(part, sh);
  const int k = min(top, vocab);
  if (threadIdx.x == 0) {
    out->max = max;
    out->mass = mass;
    out->count = k;
  }
  if (k <= 0) return;
  // The k-th entry of the order, then every entry above it and the first ties
  // by id: threads own contiguous runs of ids, so ranks go in id order.
  const Cut cut = RadixCut<false>(row, vocab, 1.0f, max, static_cast<u64>(k), 0, 0, sh);
  const int chunk = (vocab + kThreads - 1) / kThreads;
  const int lo = min(vocab, static_cast<int>(threadIdx.x) * chunk), hi = min(vocab, lo + chunk);
  u64 ties = 0;
  for (int i = lo; i < hi; ++i) ties += Key(row[i]) == cut.key;
  u64 all;
  const u64 rank = BlockExclusiveSum(ties, &all, sh);  // ties before this thread's run
  u64 keep = 0;
  {
    u64 r = rank;
    for (int i = lo; i < hi; ++i) {
      const uint32_t key = Key(row[i]);
      if (key > cut.key) {
        ++keep;
      } else if (key == cut.key) {
        keep += r < cut.take;
        ++r;
      }
    }
  }
  const u64 at = BlockExclusiveSum(keep, &all, sh);
  {
    u64 r = rank, pos = at;
    for (int i = lo; i < hi; ++i) {
      const uint32_t key = Key(row[i]);
      bool kept = key > cut.key;
      if (key == cut.key) {
        kept = r < cut.take;
        ++r;
      }
      if (kept && pos < static_cast<u64>(kMaxDeviceTopLogprobs)) {
        sh.top_tokens[pos] = i;
        sh.top_logits[pos] = row[i];
        ++pos;
      }
    }
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    // Insertion sort of the k kept entries: key descending, id ascending.
    for (int a = 1; a < k; ++a) {
      const int32_t t = sh.top_tokens[a];
      const float l = sh.top_logits[a];
      const uint32_t key = Key(l);
      int b = a - 1;
      while (b >= 0 && (Key(sh.top_logits[b]) < key ||
                        (Key(sh.top_logits[b]) == key && sh.top_tokens[b] > t))) {
        sh.top_tokens[b + 1] = sh.top_tokens[b];
        sh.top_logits[b + 1] = sh.top_logits[b];
        --b;
      }
      sh.top_tokens[b + 1] = t;
      sh.top_logits[b + 1] = l;
    }
    for (int a = 0; a < k; ++a) {
      out->top_tokens[a] = sh.top_tokens[a];
      out->top_logits[a] = sh.top_logits[a];
    }
  }
}

__global__ void __launch_bounds__(kThreads)
    SampleRowsKernel(float* logits, int vocab, const DeviceRow* rows, const DeviceChoice* choices,
                     DeviceEdit* edits, const uint32_t* masks, SampleOutputs out) {
  __shared__ Shared sh;
  const DeviceRow r = rows[blockIdx.x];
  float* row = logits + static_cast<int64_t>(r.row) * vocab;
  if (r.top_logprobs >= 0) {
    Figures(row, vocab, r.top_logprobs, out.figures + blockIdx.x, sh);
    // The row is unedited until thread 0 edits it below.
    if (r.target >= 0 && threadIdx.x == 0) out.figures[blockIdx.x].target_logit = row[r.target];
  }
  DeviceEdit* e = edits + r.edit_begin;
  if (r.edit_count > 0) {
    __syncthreads();  // every thread has read the unedited row
    if (threadIdx.x == 0) {
      for (int i = 0; i < r.edit_count; ++i) {
        float* l = row + e[i].token;
        e[i].before = *l;
        *l += e[i].delta;
      }
    }
  }
  if (r.mask_begin >= 0) {
    // backend::ApplyTokenMask, after every thread has read the unedited row
    // (figures) and thread 0 has edited it.
    __syncthreads();
    const uint32_t* allowed = masks + r.mask_begin;
    for (int i = static_cast<int>(threadIdx.x); i < vocab; i += kThreads) {
      if (((allowed[i >> 5] >> (i & 31)) & 1u) == 0) row[i] = -INFINITY;
    }
  }
  for (int c = 0; c < r.choice_count; ++c) {
    __syncthreads();  // the edits, and the previous choice's shared memory
    ChooseOne(row, vocab, choices[r.choice_begin + c], out.ids + r.choice_begin + c, sh);
  }
  if (r.top_logprobs < 0) return;
  __syncthreads();  // the ids are written
  if (threadIdx.x != 0) return;
  for (int c = r.choice_begin; c < r.choice_begin + r.choice_count; ++c) {
    const int32_t id = out.ids[c];
    float l = row[id];
    for (int i = 0; i < r.edit_count; ++i) {
      if (e[i].token == id) {
        l = e[i].before;
        break;
      }
    }
    out.chosen_logits[c] = l;
  }
}

}  // namespace

cudaError_t SampleRows(float* logits, int64_t vocab, const DeviceRow* rows, int64_t count,
                       const DeviceChoice* choices, DeviceEdit* edits, const uint32_t* masks,
                       SampleOutputs out, cudaStream_t stream) {
  if (count == 0) return cudaSuccess;
  SampleRowsKernel<<<static_cast<unsigned>(count), kThreads, 0, stream>>>(
      logits, static_cast<int>(vocab), rows, choices, edits, masks, out);
  return cudaGetLastError();
}

}  // namespace radixlm::backend::cuda
