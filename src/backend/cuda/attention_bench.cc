#include "backend/cuda/attention_bench.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "backend/cuda/attention.h"
#include "backend/cuda/attention_plan.h"
#include "backend/cuda/cuda_status.h"
#include "backend/cuda/device_buffer.h"
#include "backend/cuda/kernels.h"

namespace radixlm::backend::cuda {

namespace {

// The backend's split-K workspace (cuda_backend.cc: decode graphs of up to 256
// sequences), so the planner cuts the work as it does in a model step.
constexpr int64_t kDecodeBatch = 256;
// Random values are generated once for this many elements and tiled over the
// rest: generating gigabytes on the host would take longer than the benchmark.
constexpr int64_t kRandomElements = int64_t{1} << 22;

struct Events {
  cudaEvent_t start = nullptr, stop = nullptr;
  ~Events() {
    if (start) cudaEventDestroy(start);
    if (stop) cudaEventDestroy(stop);
  }
};

int64_t PagesPerSeq(const AttentionBenchShape& s) {
  return (s.start + s.tokens + s.page_size - 1) / s.page_size;
}

int64_t SharedPages(const AttentionBenchShape& s) {
  return s.shared_prefix > 0 ? s.shared_prefix / s.page_size : 0;
}

// Distinct pages: each group's shared ones once, every sequence's own.
int64_t PoolPages(const AttentionBenchShape& s) {
  const int64_t groups = (s.batch + s.share_group - 1) / s.share_group;
  return groups * SharedPages(s) + s.batch * (PagesPerSeq(s) - SharedPages(s));
}

// Fills `bytes` of dst by repeating the first `pattern_bytes` of it.
Status Tile(void* dst, size_t pattern_bytes, size_t bytes) {
  auto* d = static_cast<char*>(dst);
  for (size_t done = pattern_bytes; done < bytes;) {
    const size_t n =
        std::min(done, bytes - done);  // doubling copies: log2(bytes / pattern) of them
    RADIXLM_CUDA_TRY(cudaMemcpy(d + done, d, n, cudaMemcpyDeviceToDevice));
    done += n;
  }
  return OkStatus();
}

// Random normal values, F32 or BF16, over `elements` elements of dst.
Status FillRandom(void* dst, int64_t elements, bool as_bf16, uint32_t seed) {
  const int64_t n = std::min(elements, kRandomElements);
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> host(static_cast<size_t>(n));
  for (float& v : host) v = dist(rng);
  if (as_bf16) {
    DeviceBuffer f32;
    RETURN_IF_ERROR(f32.Reserve(host.size() * 4, "attention bench staging"));
    RADIXLM_CUDA_TRY(
        cudaMemcpy(f32.as<void>(), host.data(), host.size() * 4, cudaMemcpyHostToDevice));
    RADIXLM_CUDA_TRY(ConvertToBf16(f32.as<float>(), n, static_cast<bf16*>(dst), nullptr));
    RADIXLM_CUDA_TRY(cudaDeviceSynchronize());
    return Tile(dst, static_cast<size_t>(n) * 2, static_cast<size_t>(elements) * 2);
  }
  RADIXLM_CUDA_TRY(cudaMemcpy(dst, host.data(), host.size() * 4, cudaMemcpyHostToDevice));
  return Tile(dst, static_cast<size_t>(n) * 4, static_cast<size_t>(elements) * 4);
}

template <typename T>
Status Upload(const std::vector<T>& host, DeviceBuffer* dst, const char* what) {
  RETURN_IF_ERROR(dst->Reserve(std::max<size_t>(host.size() * sizeof(T), 16), what));
  if (!host.empty()) {
    RADIXLM_CUDA_TRY(
        cudaMemcpy(dst->as<void>(), host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice));
  }
  return OkStatus();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

StatusOr<BenchDevice> QueryBenchDevice(int device) {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count <= device) {
    cudaGetLastError();  // clears the error of a machine without a driver
    return FailedPreconditionError("no CUDA device " + std::to_string(device) + " (" +
                                   std::to_string(count) + " visible)");
  }
  RADIXLM_CUDA_TRY(cudaSetDevice(device));
  cudaDeviceProp props{};
  RADIXLM_CUDA_TRY(cudaGetDeviceProperties(&props, device));
  BenchDevice d;
  d.name = props.name;
  d.sms = props.multiProcessorCount;
  d.l2_bytes = props.l2CacheSize;
  size_t free_bytes = 0, total_bytes = 0;
  RADIXLM_CUDA_TRY(cudaMemGetInfo(&free_bytes, &total_bytes));
  d.free_bytes = free_bytes;
  d.total_bytes = total_bytes;
  return d;
}

uint64_t AttentionBenchBytes(const AttentionBenchShape& s) {
  const uint64_t pages = static_cast<uint64_t>(PoolPages(s));
  const uint64_t pool = pages * s.kv_heads * s.page_size * s.head_dim * 2;  // one of K, V
  const uint64_t rows = static_cast<uint64_t>(s.batch * s.tokens);
  const uint64_t qkv = rows * (s.heads + 2 * s.kv_heads) * s.head_dim * 4;
  const uint64_t out = rows * s.heads * s.head_dim * 2;
  const int64_t max_partials = AttentionMaxPartials(s.heads, kDecodeBatch);
  const uint64_t partials =
      static_cast<uint64_t>(max_partials) * kAttentionRows * (s.head_dim + 2) * 4;
  return 2 * pool + qkv + out + partials + (uint64_t{128} << 20);  // + L2 flush buffer and tables
}

StatusOr<AttentionBenchResult> BenchPagedAttention(const AttentionBenchShape& s, int warmup,
                                                   int samples, int device) {
  if (!AttentionSupportsHeadDim(s.head_dim)) {
    return InvalidArgumentError("attention bench: head_dim " + std::to_string(s.head_dim) +
                                " is not supported");
  }
  if (s.heads <= 0 || s.kv_heads <= 0 || s.heads % s.kv_heads != 0 || s.batch <= 0 ||
      s.tokens <= 0 || s.start < 0 || s.page_size <= 0 || samples <= 0 || warmup < 0 ||
      s.shared_prefix < 0 || s.shared_prefix > s.start || s.shared_prefix % s.page_size != 0 ||
      s.share_group <= 0) {
    return InvalidArgumentError("attention bench: bad shape (heads " + std::to_string(s.heads) +
                                ", kv heads " + std::to_string(s.kv_heads) + ", batch " +
                                std::to_string(s.batch) + ", tokens " + std::to_string(s.tokens) +
                                ", shared prefix " + std::to_string(s.shared_prefix) +
                                " in whole pages of the context)");
  }
  RADIXLM_CUDA_TRY(cudaSetDevice(device));
  RADIXLM_CUDA_TRY(PrepareAttention());
  int num_sms = 0, l2_bytes = 0;
  RADIXLM_CUDA_TRY(cudaDeviceGetAttribute(&num_sms, cudaDevAttrMultiProcessorCount, device));
  RADIXLM_CUDA_TRY(cudaDeviceGetAttribute(&l2_bytes, cudaDevAttrL2CacheSize, device));

  // Sequences, their page tables (a shuffled permutation of the pool, as pages
  // come from a pool that has been in use; a group's shared pages the same
  // ones in each of its tables) and the plan. A sequence's prefix key is its
  // first page, as the backend's.
  const int64_t per_seq = PagesPerSeq(s), shared = SharedPages(s);
  const int64_t num_pages = PoolPages(s);
  std::vector<int32_t> pool(static_cast<size_t>(num_pages));
  std::iota(pool.begin(), pool.end(), 0);
  std::shuffle(pool.begin(), pool.end(), std::mt19937(7));
  std::vector<int32_t> pages;
  std::vector<AttentionPlanSeq> plan;
  std::vector<AttentionSeq> seqs;
  size_t next_page = 0;
  std::vector<int32_t> group_pages;
  for (int64_t i = 0; i < s.batch; ++i) {
    if (i % s.share_group == 0) {
      group_pages.assign(pool.begin() + static_cast<std::ptrdiff_t>(next_page),
                         pool.begin() + static_cast<std::ptrdiff_t>(next_page + shared));
      next_page += static_cast<size_t>(shared);
    }
    const auto table_at = static_cast<int32_t>(pages.size());
    pages.insert(pages.end(), group_pages.begin(), group_pages.end());
    for (int64_t p = shared; p < per_seq; ++p) pages.push_back(pool[next_page++]);
    plan.push_back({s.start, s.tokens, pages[static_cast<size_t>(table_at)], nullptr, per_seq});
    seqs.push_back({static_cast<int32_t>(i * s.tokens), static_cast<int32_t>(s.start), table_at});
  }
  for (size_t i = 0; i < plan.size(); ++i) plan[i].pages = pages.data() + seqs[i].page_table_offset;
  std::vector<AttentionBlock> blocks;
  std::vector<AttentionMerge> merges;
  DecodeCascade cascade;
  cascade.page_size = s.page_size;
  const int64_t max_partials = AttentionMaxPartials(s.heads, kDecodeBatch);
  const bool decode = PlanStepAttention(
      plan, s.heads, s.kv_heads, s.head_dim, num_sms, max_partials, &blocks, &merges, 0,
      s.sequence_major ? DecodeBlockOrder::kSequenceMajor : DecodeBlockOrder::kKvHeadMajor,
      s.cascade ? &cascade : nullptr);
  const auto cascade_blocks = static_cast<int64_t>(cascade.blocks.size());
  const auto plan_blocks = static_cast<int64_t>(blocks.size());
  const auto plan_merges = static_cast<int64_t>(merges.size());
  // As a step pads it (the padding blocks return at once), its decode form as
  // the backend's (RADIXLM_CUDA_DECODE_MMA, by sequence when unset).
  const int decode_mma = DecodeMmaFromEnvironment(2);
  int32_t decode_forms = 0;
  if (decode) {
    PadDecodePlan(s.batch, s.kv_heads, num_sms, &blocks, &merges, &cascade);
    if (decode_mma == 2) decode_forms = MarkDecodeForms(plan, 0, &blocks);
  }

  const int64_t rows = s.batch * s.tokens;
  const int64_t ld = (s.heads + 2 * s.kv_heads) * s.head_dim;
  const int64_t pool_elements = num_pages * s.kv_heads * s.page_size * s.head_dim;
  DeviceBuffer qkv, k_pool, v_pool, tables, seq_buf, block_buf, merge_buf, acc, stats, counters,
      out, flush, cascade_buf, member_buf;
  RETURN_IF_ERROR(qkv.Reserve(static_cast<size_t>(rows * ld) * 4, "attention bench queries"));
  RETURN_IF_ERROR(k_pool.Reserve(static_cast<size_t>(pool_elements) * 2, "attention bench K pool"));
  RETURN_IF_ERROR(v_pool.Reserve(static_cast<size_t>(pool_elements) * 2, "attention bench V pool"));
  RETURN_IF_ERROR(
      out.Reserve(static_cast<size_t>(rows * s.heads * s.head_dim) * 2, "attention bench output"));
  RETURN_IF_ERROR(
      acc.Reserve(static_cast<size_t>(max_partials) * kAttentionRows * s.head_dim * 4, "partials"));
  RETURN_IF_ERROR(
      stats.Reserve(static_cast<size_t>(max_partials) * kAttentionRows * 2 * 4, "partials"));
  RETURN_IF_ERROR(counters.Reserve(static_cast<size_t>(max_partials) * 4, "merge counters"));
  RADIXLM_CUDA_TRY(cudaMemset(counters.as<void>(), 0, counters.size()));
  const size_t flush_bytes =
      std::max<size_t>(size_t{2} * static_cast<size_t>(l2_bytes), size_t{64} << 20);
  RETURN_IF_ERROR(flush.Reserve(flush_bytes, "attention bench L2 flush"));
  RETURN_IF_ERROR(FillRandom(qkv.as<void>(), rows * ld, false, 1));
  RETURN_IF_ERROR(FillRandom(k_pool.as<void>(), pool_elements, true, 2));
  RETURN_IF_ERROR(FillRandom(v_pool.as<void>(), pool_elements, true, 3));
  RETURN_IF_ERROR(Upload(pages, &tables, "page tables"));
  RETURN_IF_ERROR(Upload(seqs, &seq_buf, "sequences"));
  RETURN_IF_ERROR(Upload(blocks, &block_buf, "attention blocks"));
  RETURN_IF_ERROR(Upload(merges, &merge_buf, "attention merges"));
  RETURN_IF_ERROR(Upload(cascade.blocks, &cascade_buf, "cascade blocks"));
  RETURN_IF_ERROR(Upload(cascade.members, &member_buf, "cascade members"));

  AttentionArgs a{};
  a.qkv = qkv.as<float>();
  a.ld = ld;
  a.k_pool = k_pool.as<bf16>();
  a.v_pool = v_pool.as<bf16>();
  a.page_tables = tables.as<int32_t>();
  a.seqs = seq_buf.as<AttentionSeq>();
  a.blocks = block_buf.as<AttentionBlock>();
  a.num_blocks = static_cast<int32_t>(blocks.size());
  a.merges = merge_buf.as<AttentionMerge>();
  a.num_merges = static_cast<int32_t>(merges.size());
  a.page_size = static_cast<int32_t>(s.page_size);
  a.heads = static_cast<int32_t>(s.heads);
  a.kv_heads = static_cast<int32_t>(s.kv_heads);
  a.head_dim = static_cast<int32_t>(s.head_dim);
  a.scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
  a.partial_acc = acc.as<float>();
  a.partial_stats = stats.as<float>();
  a.merge_counters = counters.as<int32_t>();
  a.out = out.as<bf16>();
  a.decode = decode ? 1 : 0;
  a.cascade_blocks = cascade_buf.as<CascadeBlock>();
  a.num_cascade_blocks = static_cast<int32_t>(cascade.blocks.size());
  a.cascade_split_keys = cascade.split_keys;
  a.cascade_members = member_buf.as<CascadeMember>();
  a.decode_mma = decode_mma;
  a.decode_forms = decode_forms;

  Events ev;
  RADIXLM_CUDA_TRY(cudaEventCreate(&ev.start));
  RADIXLM_CUDA_TRY(cudaEventCreate(&ev.stop));
  for (int i = 0; i < warmup; ++i) RADIXLM_CUDA_TRY(LaunchAttention(a, nullptr));
  RADIXLM_CUDA_TRY(cudaDeviceSynchronize());
  std::vector<double> times;
  for (int i = 0; i < samples; ++i) {
    RADIXLM_CUDA_TRY(cudaMemsetAsync(flush.as<void>(), i & 0xff, flush_bytes, nullptr));
    RADIXLM_CUDA_TRY(cudaEventRecord(ev.start, nullptr));
    RADIXLM_CUDA_TRY(LaunchAttention(a, nullptr));
    RADIXLM_CUDA_TRY(cudaEventRecord(ev.stop, nullptr));
    RADIXLM_CUDA_TRY(cudaEventSynchronize(ev.stop));
    float ms = 0;
    RADIXLM_CUDA_TRY(cudaEventElapsedTime(&ms, ev.start, ev.stop));
    times.push_back(static_cast<double>(ms) * 1e-3);
  }

  AttentionBenchResult r;
  r.seconds = Median(times);
  r.samples = samples;
  r.blocks = plan_blocks;
  r.merges = plan_merges;
  r.cascade_blocks = cascade_blocks;
  // Query j (0-based among the new tokens) sees start + j + 1 keys.
  const double t = static_cast<double>(s.tokens), st = static_cast<double>(s.start);
  const double pairs = static_cast<double>(s.batch) * (t * st + t * (t + 1) / 2);
  r.flops = 4.0 * static_cast<double>(s.heads * s.head_dim) * pairs;
  const double token_bytes = 2.0 * static_cast<double>(s.kv_heads * s.head_dim) * 2.0;
  r.kv_bytes = static_cast<double>(s.batch) * (st + t) * token_bytes;
  const double groups = static_cast<double>((s.batch + s.share_group - 1) / s.share_group);
  r.unique_kv_bytes = r.kv_bytes - (static_cast<double>(s.batch) - groups) *
                                       static_cast<double>(s.shared_prefix) * token_bytes;
  return r;
}

}  // namespace radixlm::backend::cuda
