#include "backend/cuda/cuda_backend.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <vector>

#include "backend/cpu/cpu_backend.h"  // RopeInverseFrequencies (plain C++)
#include "backend/cuda/attention.h"
#include "backend/cuda/attention_plan.h"
#include "backend/cuda/choose_tokens.h"
#include "backend/cuda/cuda_status.h"
#include "backend/cuda/device_buffer.h"
#include "backend/cuda/fp8_gemm.h"
#include "backend/cuda/gemv.h"
#include "backend/cuda/kernels.h"
#include "backend/cuda/row_sampling_tables.h"
#include "model/fp8_weights.h"  // ScalesToF32

namespace radixlm::backend::cuda {

using model::Architecture;
using model::WeightView;

namespace {

// cuBLAS's workspace for its split-K kernels (NVIDIA recommends 32 MiB on Hopper).
constexpr size_t kCublasWorkspace = size_t{32} << 20;
// Decode steps of up to this many sequences run as CUDA graphs; at most this
// many captured graphs are kept, the least recently replayed dropped first. A
// decode graph's key is set by its batch size (padded plans), so every size a
// server meets is captured once (a capture costs milliseconds: serving 1..256
// streams must not capture again and again).
constexpr int64_t kMaxGraphBatch = 256;
constexpr size_t kMaxGraphs = 512;
// The step-table buffer's first size (it grows, which drops the graphs).
constexpr size_t kMinMetaBytes = size_t{1} << 20;
// Prompt-logprob rows go through the LM head this many at a time, so their
// logits take at most this many rows of the logits buffer (64 MiB at Llama 3's
// 128k vocabulary) however long the prompt chunk.
constexpr int64_t kPromptBlock = 128;

// A view's rows as BF16, row-major [rows, cols]. BF16 checkpoints in their
// stored layout are copied as they are; anything else goes through F32.
void AppendBf16(const WeightView& view, std::vector<uint16_t>* out) {
  const size_t at = out->size();
  out->resize(at + static_cast<size_t>(view.elements()));
  if (view.ref->info->dtype == model::DType::kBF16 && !view.transposed && view.col_offset == 0 &&
      view.cols == view.ref->info->shape.back()) {
    std::memcpy(out->data() + at, view.ref->data.data() + view.offset * view.cols * 2,
                static_cast<size_t>(view.elements()) * 2);
    return;
  }
  std::vector<float> f32(static_cast<size_t>(view.elements()));
  model::ViewToF32(view, f32);
  for (size_t i = 0; i < f32.size(); ++i) (*out)[at + i] = model::F32ToBf16(f32[i]);
}

// An A/B switch from the environment: "0" turns the option it names off, "1" on.
bool Switch(const char* name, bool option) {
  const char* value = std::getenv(name);
  if (value != nullptr && std::strcmp(value, "0") == 0) return false;
  if (value != nullptr && std::strcmp(value, "1") == 0) return true;
  return option;
}

}  // namespace

Status CudaBackendOptions::Validate() const {
  if (page_size <= 0 || num_pages < 0)
    return InvalidArgumentError("page size must be positive, page count not negative");
  if (!(gpu_memory_fraction > 0 && gpu_memory_fraction <= 1)) {
    return InvalidArgumentError("gpu_memory_fraction must be in (0, 1]");
  }
  if (max_step_tokens <= 0) return InvalidArgumentError("max_step_tokens must be positive");
  if (gemv_max_rows < 0 || gemv_max_rows > kGemvMaxRows) {
    return InvalidArgumentError("gemv_max_rows must be in [0, " + std::to_string(kGemvMaxRows) +
                                "]");
  }
  return OkStatus();
}

int CudaDeviceCount() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

struct CudaBackend::Impl {
  // A linear layer's weights [n, k] as the products read them: BF16, or (fp8)
  // E4M3 codes with an F32 scale a row.
  struct Matrix {
    DeviceBuffer w;
    DeviceBuffer scale;
    bool fp8 = false;
    const void* data() const { return w.as<void>(); }
    const bf16* bf16_w() const { return fp8 ? nullptr : w.as<bf16>(); }
    const uint8_t* codes() const { return fp8 ? w.as<uint8_t>() : nullptr; }
    const float* scales() const { return fp8 ? scale.as<float>() : nullptr; }
  };
  struct Layer {
    DeviceBuffer attn_norm, attn_norm_bias, qkv_bias, o_bias;
    DeviceBuffer mlp_norm, mlp_norm_bias, up_bias, down_bias;
    Matrix qkv, o, up, down;
  };

  model::ModelConfig config;
  bool gpt2 = false, gated = true, tied = false;
  bool has_full_attention_layers = true;  // false where every layer has the sliding window
  int device = 0;
  int num_sms = 0;
  std::string device_name;
  int64_t page_size = 0, num_pages = 0;
  int64_t q_dim = 0, kv_dim = 0, ld = 0, up_dim = 0;
  uint64_t matmul_params = 0;
  uint64_t weight_bytes = 0;  // of the matrices a decode step reads (the LM head included)
  // FP8 weights (CudaBackendOptions::fp8_weights): the products of more rows
  // than the GEMVs take; null when every matrix is BF16.
  bool use_fp8_weights = true;
  std::unique_ptr<Fp8Gemm> fp8_gemm;
  int64_t fp8_max_k = 0, fp8_max_elements = 0;

  cudaStream_t stream = nullptr;
  // Page copies (CopyPage) run on their own stream, after the compute stream's
  // last step (compute_idle) and before the next step (copies_done).
  cudaStream_t copy_stream = nullptr;
  cudaEvent_t compute_idle = nullptr, copies_done = nullptr;
  // HostCopyMark's events on the copy stream, a ring (marks[m % kMarks] for mark
  // m), made on first use; marks up to marks_done are known to be done.
  static constexpr uint64_t kMarks = 64;
  cudaEvent_t marks[kMarks] = {};
  uint64_t marks_made = 0, marks_done = 0;
  bool copies_pending = false;
  cublasHandle_t cublas = nullptr;
  DeviceBuffer cublas_workspace;

  DeviceBuffer embed, pos_embed, final_norm, final_norm_bias, lm_head, inv_freq;
  std::vector<Layer> layers;
  DeviceBuffer k_pool, v_pool;
  // The pools' element: BF16, or an E4M3 code (kv_fp8) with the scales of every
  // layer and KV head, K's then V's ([2][layers][kv_heads] floats, on the
  // device; on the host too, for key_scale and value_scale).
  bool kv_fp8 = false;
  int64_t kv_element_bytes = 2;
  std::vector<float> kv_scales_host;
  DeviceBuffer kv_scales;

  // Activations, sized for `capacity` tokens.
  int64_t capacity = 0;
  DeviceBuffer x, normed, qkv_out, attn, up, act;
  DeviceBuffer rope_angles;  // [kGemvMaxRows][head_dim / 2] (cos, sin): RopeAngles
  // Split-K partials (kAttentionRows x head_dim F32 each): AttentionMaxPartials.
  DeviceBuffer partial_acc, partial_stats, merge_counters;
  int64_t max_partials = 0;
  DeviceBuffer meta;                  // the step's token, position, slot, row and attention tables
  DeviceBuffer last, logits, hidden;  // logit rows, their logits, hidden-sum rows
  // Row sampling's ids and figures (SampleOutputLayout). Its ids are where the
  // next step's FutureTokens read, so growing it keeps them.
  DeviceBuffer sample_out;

  // A launched step until Wait: its tables' host copy (the upload reads it
  // until the step starts), where its results land and who gets them. Two, so
  // one step is prepared while the other runs.
  struct Flight {
    PinnedBuffer meta_host, sample_host;
    SampleTables samples;
    SampleOutputLayout layout{0, 0};
    size_t sample_bytes = 0;
    std::vector<SequenceInput> batch;  // the caller's, valid until Wait
    int64_t num_logits = 0, num_sampled = 0, hidden_rows = 0;
    int64_t num_prompt_rows = 0;  // figures after the sampled rows' (PromptLogprobs)
    bool host_rows = false;       // logits or hidden sums cross at Wait
    bool empty = false;           // no token: nothing was launched
    cudaEvent_t start = nullptr, end = nullptr, done = nullptr;
    // With profile_phases: events at the step's phase boundaries, and the phase
    // each one starts.
    std::vector<cudaEvent_t> marks;
    std::vector<int> mark_phase;
    size_t used_marks = 0;
  };
  Flight flights[2];
  // RADIXLM_CUDA_PHASES=1: device time per phase of the layers (phase_seconds),
  // from events between them; steps then launch directly (no graph replay).
  bool profile_phases = false;
  double phase_s[CudaBackend::kPhases] = {};
  std::vector<int> in_flight;  // slots, oldest first
  uint64_t launches = 0;
  int64_t last_choices = 0;  // choices of the step launched last: the futures the next may name
  int64_t device_ns = 0;     // Backend::device_ns

  // Captured decode steps. A step's kernels depend on its shape only through the
  // key (tokens, sequences, attention blocks and merges: the launch grids and the
  // table offsets, with the page tables packed last) and on the buffers' addresses,
  // which are checked before each replay; everything else is read from the step
  // tables, uploaded to the same buffer before the replay.
  struct GraphKey {
    int64_t tokens, seqs, blocks, merges, rows, choices;
    int64_t cascade_blocks = 0, cascade_members = 0, cascade_keys = 0;
    int64_t decode_forms = 0;  // which decode kernels the step launches
    auto operator<=>(const GraphKey&) const = default;
  };
  struct Graph {
    cudaGraphExec_t exec = nullptr;
    std::vector<const void*> buffers;
    uint64_t last_use = 0;
  };
  bool use_graphs = true;
  // From the options and the environment (Create).
  bool use_pdl = false, use_fused_gemv = true;  // for steps of at most gemv_rows tokens
  bool use_cascade = true;
  int use_decode_mma = 0;            // AttentionArgs::decode_mma
  int64_t gemv_rows = kGemvMaxRows;  // products of at most this many rows: the hand GEMVs
  std::map<GraphKey, Graph> graphs;
  uint64_t graph_replays = 0, graph_captures = 0, cascade_steps = 0;

  Status GrowSampleOut(size_t bytes);

  void DropGraphs() {
    for (auto& [key, g] : graphs) cudaGraphExecDestroy(g.exec);
    graphs.clear();
  }

  ~Impl() {
    DropGraphs();
    if (cublas != nullptr) cublasDestroy(cublas);
    if (stream != nullptr) cudaStreamDestroy(stream);
    if (copy_stream != nullptr) cudaStreamDestroy(copy_stream);
    if (compute_idle != nullptr) cudaEventDestroy(compute_idle);
    if (copies_done != nullptr) cudaEventDestroy(copies_done);
    for (cudaEvent_t e : marks) {
      if (e != nullptr) cudaEventDestroy(e);
    }
    for (Flight& f : flights) {
      for (cudaEvent_t e : {f.start, f.end, f.done}) {
        if (e != nullptr) cudaEventDestroy(e);
      }
      for (cudaEvent_t e : f.marks) cudaEventDestroy(e);
    }
  }

  const bf16* head() const { return tied ? embed.as<bf16>() : lm_head.as<bf16>(); }

  Status UploadBf16(std::initializer_list<const WeightView*> views, DeviceBuffer* dst,
                    const std::string& what) {
    std::vector<uint16_t> host;
    for (const WeightView* v : views) AppendBf16(*v, &host);
    RETURN_IF_ERROR(dst->Reserve(host.size() * 2, what));
    RADIXLM_CUDA_TRY(
        cudaMemcpy(dst->as<void>(), host.data(), host.size() * 2, cudaMemcpyHostToDevice));
    return OkStatus();
  }

  // F32 vectors (norms, biases); absent views leave the buffer empty.
  Status UploadF32(std::initializer_list<const WeightView*> views, DeviceBuffer* dst,
                   const std::string& what) {
    std::vector<float> host;
    for (const WeightView* v : views) {
      if (!v->present()) return OkStatus();
      std::vector<float> part(static_cast<size_t>(v->elements()));
      model::ViewToF32(*v, part);
      host.insert(host.end(), part.begin(), part.end());
    }
    RETURN_IF_ERROR(dst->Reserve(host.size() * 4, what));
    RADIXLM_CUDA_TRY(
        cudaMemcpy(dst->as<void>(), host.data(), host.size() * 4, cudaMemcpyHostToDevice));
    return OkStatus();
  }

  // Uploads a stack of views ([n, k] together) as FP8 codes and row scales
  // when every view is an E4M3 weight with one scale a row (per channel or per
  // tensor) and the shape suits the FP8 kernels; otherwise as BF16 (FP8 views
  // dequantized, as the products then read BF16).
  Status UploadMatrix(std::initializer_list<const WeightView*> views, Matrix* dst,
                      const std::string& what) {
    int64_t n = 0, k = -1;
    bool fp8 = use_fp8_weights;
    // A scale block's 0 is the whole dimension (model/quantization.h): {0, 0}
    // per tensor, {1, 0} per output channel; one scale a row needs a block
    // spanning every column.
    auto block_rows = [](const WeightView& v) {
      return v.scale_block.rows > 0 ? v.scale_block.rows : v.ref->info->shape[0];
    };
    for (const WeightView* v : views) {
      n += v->rows;
      if (k >= 0 && v->cols != k) fp8 = false;
      k = v->cols;
      fp8 = fp8 && v->ref->info->dtype == model::DType::kF8E4M3 && v->scale != nullptr &&
            !v->transposed && v->col_offset == 0 && v->ref->info->shape.size() == 2 &&
            v->ref->info->shape[1] == v->cols &&
            (v->scale_block.cols == 0 || v->scale_block.cols >= v->cols) && block_rows(*v) >= 1;
    }
    fp8 = fp8 && k % 16 == 0 && n % 16 == 0;
    if (!fp8) {
      weight_bytes += static_cast<uint64_t>(n) * k * 2;
      return UploadBf16(views, &dst->w, what);
    }
    std::vector<uint8_t> codes;
    std::vector<float> scales;
    codes.reserve(static_cast<size_t>(n * k));
    scales.reserve(static_cast<size_t>(n));
    for (const WeightView* v : views) {
      const uint8_t* first = v->ref->data.data() + v->offset * v->cols;
      codes.insert(codes.end(), first, first + v->rows * v->cols);
      const std::vector<float> stored = model::ScalesToF32(*v->scale);
      const int64_t per = block_rows(*v);
      for (int64_t r = 0; r < v->rows; ++r) {
        scales.push_back(stored[static_cast<size_t>((v->offset + r) / per)]);
      }
    }
    RETURN_IF_ERROR(dst->w.Reserve(codes.size(), what));
    RETURN_IF_ERROR(dst->scale.Reserve(scales.size() * 4, what));
    RADIXLM_CUDA_TRY(
        cudaMemcpy(dst->w.as<void>(), codes.data(), codes.size(), cudaMemcpyHostToDevice));
    RADIXLM_CUDA_TRY(cudaMemcpy(dst->scale.as<void>(), scales.data(), scales.size() * 4,
                                cudaMemcpyHostToDevice));
    dst->fp8 = true;
    weight_bytes += static_cast<uint64_t>(n) * k;
    fp8_max_k = std::max(fp8_max_k, k);
    fp8_max_elements = std::max(fp8_max_elements, n * k);
    return OkStatus();
  }

  Status ReserveActivations(int64_t tokens) {
    if (tokens <= capacity) return OkStatus();
    const model::ModelConfig& c = config;
    const auto t = static_cast<size_t>(tokens);
    if (fp8_gemm != nullptr)
      RETURN_IF_ERROR(fp8_gemm->Reserve(tokens, fp8_max_k, config.hidden_size, fp8_max_elements));
    RETURN_IF_ERROR(x.Reserve(t * c.hidden_size * 4, "activations"));
    RETURN_IF_ERROR(normed.Reserve(t * c.hidden_size * 2, "activations"));
    RETURN_IF_ERROR(qkv_out.Reserve(t * ld * 4, "activations"));
    RETURN_IF_ERROR(attn.Reserve(t * q_dim * 2, "activations"));
    RETURN_IF_ERROR(up.Reserve(t * up_dim * 2, "activations"));
    if (gated) RETURN_IF_ERROR(act.Reserve(t * c.intermediate_size * 2, "activations"));
    capacity = tokens;
    return OkStatus();
  }

  // y[m, n] (= or +=) x[m, k] . w[n, k]^T; x and w BF16, y F32 or BF16, F32 accumulation.
  // `pdl`: launched as a programmatic dependent where it is a hand GEMV (kernels.h).
  Status Gemm(const bf16* xin, int64_t m, int64_t k, const bf16* w, int64_t n, void* y, bool y_f32,
              bool accumulate, bool pdl = false) {
    if (m <= gemv_rows && GemvSupports(m, k, xin, w)) {
      RADIXLM_CUDA_TRY(Gemv(xin, m, k, w, n, y, y_f32, accumulate, stream, pdl));
      return OkStatus();
    }
    const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
    RADIXLM_CUBLAS_TRY(cublasGemmEx(cublas, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(n),
                                    static_cast<int>(m), static_cast<int>(k), &alpha, w,
                                    CUDA_R_16BF, static_cast<int>(k), xin, CUDA_R_16BF,
                                    static_cast<int>(k), &beta, y, y_f32 ? CUDA_R_32F : CUDA_R_16BF,
                                    static_cast<int>(n), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    return OkStatus();
  }

  // The same with a layer's matrix, BF16 or FP8 (GemvFp8 up to gemv_rows rows,
  // Fp8Gemm past them).
  Status Gemm(const bf16* xin, int64_t m, int64_t k, const Matrix& w, int64_t n, void* y,
              bool y_f32, bool accumulate, bool pdl = false) {
    if (!w.fp8) return Gemm(xin, m, k, w.bf16_w(), n, y, y_f32, accumulate, pdl);
    if (m <= gemv_rows && GemvFp8Supports(m, k, xin, w.codes())) {
      RADIXLM_CUDA_TRY(
          GemvFp8(xin, m, k, w.codes(), w.scales(), n, y, y_f32, accumulate, stream, pdl));
      return OkStatus();
    }
    return fp8_gemm->Run(xin, m, k, w.codes(), w.scales(), n, y, y_f32, accumulate, stream);
  }

  Status Norm(const DeviceBuffer& w, const DeviceBuffer& b, const int32_t* rows, int64_t count,
              bf16* out_bf16, float* out_f32, bool pdl = false) {
    RADIXLM_CUDA_TRY(NormRows(x.as<float>(), rows, count, config.hidden_size, w.as<float>(),
                              gpt2 ? b.as<float>() : nullptr, gpt2,
                              static_cast<float>(config.norm_eps), out_bf16, out_f32, stream, pdl));
    return OkStatus();
  }

  // This layer's pools, as RopeAndStoreKv and the attention kernels take them.
  struct LayerKv {
    bf16* k = nullptr;  // BF16 pools
    bf16* v = nullptr;
    __nv_fp8_storage_t* k_fp8 = nullptr;  // FP8 pools
    __nv_fp8_storage_t* v_fp8 = nullptr;
    const float* k_scales = nullptr;  // FP8: kv_heads each
    const float* v_scales = nullptr;
  };
  LayerKv KvOfLayer(int64_t layer) const {
    const int64_t layer_bytes = num_pages * kv_dim * page_size * kv_element_bytes;
    char* k_layer = k_pool.as<char>() + layer * layer_bytes;
    char* v_layer = v_pool.as<char>() + layer * layer_bytes;
    LayerKv kv;
    if (!kv_fp8) {
      kv.k = reinterpret_cast<bf16*>(k_layer);
      kv.v = reinterpret_cast<bf16*>(v_layer);
      return kv;
    }
    kv.k_fp8 = reinterpret_cast<__nv_fp8_storage_t*>(k_layer);
    kv.v_fp8 = reinterpret_cast<__nv_fp8_storage_t*>(v_layer);
    kv.k_scales = kv_scales.as<float>() + layer * config.num_kv_heads;
    kv.v_scales = kv_scales.as<float>() + (config.num_layers + layer) * config.num_kv_heads;
    return kv;
  }

  Status Create(const model::ModelWeights& w, const CudaBackendOptions& options);
  Status Launch(std::span<const SequenceInput> batch);
  Status Wait(std::vector<float>* logits);
};

Status CudaBackend::Impl::GrowSampleOut(size_t bytes) {
  if (bytes <= sample_out.size()) return OkStatus();
  // The ids of the step in flight (if any) move along: the next step may read them.
  DeviceBuffer grown;
  RETURN_IF_ERROR(grown.Reserve(std::max(bytes, 2 * sample_out.size()), "row sampling outputs"));
  if (sample_out.size() > 0) {
    RADIXLM_CUDA_TRY(cudaMemcpyAsync(grown.as<void>(), sample_out.as<void>(), sample_out.size(),
                                     cudaMemcpyDeviceToDevice, stream));
    RADIXLM_CUDA_TRY(cudaStreamSynchronize(stream));
  }
  sample_out.Swap(grown);
  return OkStatus();
}

Status CudaBackend::Impl::Create(const model::ModelWeights& w, const CudaBackendOptions& options) {
  const model::ModelConfig& c = config;
  device = options.device;
  use_graphs = options.cuda_graphs;
  use_pdl = Switch("RADIXLM_CUDA_PDL", options.pdl);
  use_fused_gemv = Switch("RADIXLM_CUDA_FUSED_GEMV", options.fused_gemv);
  use_fp8_weights = Switch("RADIXLM_CUDA_FP8_WEIGHTS", options.fp8_weights);
  use_decode_mma = DecodeMmaFromEnvironment(options.decode_mma);
  use_cascade = Switch("RADIXLM_CUDA_CASCADE", options.cascade_decode);
  profile_phases = Switch("RADIXLM_CUDA_PHASES", false);
  gemv_rows = options.gemv_max_rows;
  if (const char* rows = std::getenv("RADIXLM_CUDA_GEMV_ROWS"); rows != nullptr) {
    gemv_rows = std::clamp<int64_t>(std::atoll(rows), 0, kGemvMaxRows);
  }
  page_size = options.page_size;
  gpt2 = c.architecture == Architecture::kGpt2;
  gated = !gpt2;
  has_full_attention_layers = false;
  for (int64_t li = 0; li < c.num_layers; ++li) {
    has_full_attention_layers = has_full_attention_layers || c.LayerWindow(li) == 0;
  }
  q_dim = c.num_heads * c.head_dim;
  kv_dim = c.num_kv_heads * c.head_dim;
  ld = q_dim + 2 * kv_dim;
  up_dim = gated ? 2 * c.intermediate_size : c.intermediate_size;
  if (!AttentionSupportsHeadDim(c.head_dim)) {
    return UnimplementedError(
        "the CUDA backend's attention supports head_dim 16, 32, 64 and 128, not " +
        std::to_string(c.head_dim));
  }
  if (c.num_kv_heads <= 0 || c.num_heads % c.num_kv_heads != 0 ||
      c.num_heads / c.num_kv_heads > kAttentionRows) {
    return UnimplementedError(
        "the CUDA backend needs heads / kv_heads to be a whole number up to " +
        std::to_string(kAttentionRows));
  }
  const int devices = CudaDeviceCount();
  if (devices == 0)
    return FailedPreconditionError("no CUDA device is present (or the driver is missing)");
  if (device < 0 || device >= devices) {
    return InvalidArgumentError("CUDA device " + std::to_string(device) + " of " +
                                std::to_string(devices));
  }
  RADIXLM_CUDA_TRY(cudaSetDevice(device));
  cudaDeviceProp props{};
  RADIXLM_CUDA_TRY(cudaGetDeviceProperties(&props, device));
  device_name = props.name;
  num_sms = props.multiProcessorCount;
  RADIXLM_CUDA_TRY(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  RADIXLM_CUDA_TRY(cudaStreamCreateWithFlags(&copy_stream, cudaStreamNonBlocking));
  RADIXLM_CUDA_TRY(cudaEventCreateWithFlags(&compute_idle, cudaEventDisableTiming));
  RADIXLM_CUDA_TRY(cudaEventCreateWithFlags(&copies_done, cudaEventDisableTiming));
  for (Flight& f : flights) {
    RADIXLM_CUDA_TRY(cudaEventCreate(&f.start));
    RADIXLM_CUDA_TRY(cudaEventCreate(&f.end));
    RADIXLM_CUDA_TRY(cudaEventCreateWithFlags(&f.done, cudaEventDisableTiming));
  }
  RADIXLM_CUBLAS_TRY(cublasCreate(&cublas));
  RADIXLM_CUBLAS_TRY(cublasSetStream(cublas, stream));
  RETURN_IF_ERROR(cublas_workspace.Reserve(kCublasWorkspace, "the cuBLAS workspace"));
  RADIXLM_CUBLAS_TRY(cublasSetWorkspace(cublas, cublas_workspace.as<void>(), kCublasWorkspace));
  RADIXLM_CUDA_TRY(PrepareAttention());
  RADIXLM_CUDA_TRY(PrepareGemv());

  // Weights: first check they fit at all, so the message says so plainly.
  uint64_t weight_elements = 0;
  auto count = [&](const WeightView& v) { weight_elements += v.present() ? v.elements() : 0; };
  count(w.embed);
  count(w.pos_embed);
  tied = w.lm_head.ref == w.embed.ref && !w.lm_head.transposed;
  if (!tied) count(w.lm_head);
  for (const model::LayerWeights& l : w.layers) {
    for (const WeightView* v : {&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down}) count(*v);
  }
  const uint64_t bf16_bytes = weight_elements * 2;  // at most: FP8 matrices take half
  size_t free_bytes = 0, total_bytes = 0;
  RADIXLM_CUDA_TRY(cudaMemGetInfo(&free_bytes, &total_bytes));
  if (bf16_bytes > free_bytes) {
    return ResourceExhaustedError("the model's BF16 weights need " +
                                  GiB(static_cast<double>(bf16_bytes)) + " of GPU memory; " +
                                  GiB(static_cast<double>(free_bytes)) + " free of " +
                                  GiB(static_cast<double>(total_bytes)) + " on " + device_name);
  }
  RETURN_IF_ERROR(UploadBf16({&w.embed}, &embed, "the embedding"));
  if (gpt2) RETURN_IF_ERROR(UploadBf16({&w.pos_embed}, &pos_embed, "the position embedding"));
  RETURN_IF_ERROR(UploadF32({&w.final_norm}, &final_norm, "the final norm"));
  RETURN_IF_ERROR(UploadF32({&w.final_norm_bias}, &final_norm_bias, "the final norm"));
  if (!tied) RETURN_IF_ERROR(UploadBf16({&w.lm_head}, &lm_head, "the LM head"));
  layers = std::vector<Layer>(w.layers.size());
  for (size_t i = 0; i < w.layers.size(); ++i) {
    const model::LayerWeights& l = w.layers[i];
    Layer& out = layers[i];
    const std::string what = "layer " + std::to_string(i);
    RETURN_IF_ERROR(UploadF32({&l.attn_norm}, &out.attn_norm, what));
    RETURN_IF_ERROR(UploadF32({&l.attn_norm_bias}, &out.attn_norm_bias, what));
    RETURN_IF_ERROR(UploadMatrix({&l.q, &l.k, &l.v}, &out.qkv, what));
    RETURN_IF_ERROR(UploadF32({&l.q_bias, &l.k_bias, &l.v_bias}, &out.qkv_bias, what));
    RETURN_IF_ERROR(UploadMatrix({&l.o}, &out.o, what));
    RETURN_IF_ERROR(UploadF32({&l.o_bias}, &out.o_bias, what));
    RETURN_IF_ERROR(UploadF32({&l.mlp_norm}, &out.mlp_norm, what));
    RETURN_IF_ERROR(UploadF32({&l.mlp_norm_bias}, &out.mlp_norm_bias, what));
    if (gated) {
      RETURN_IF_ERROR(UploadMatrix({&l.gate, &l.up}, &out.up, what));
    } else {
      RETURN_IF_ERROR(UploadMatrix({&l.up}, &out.up, what));
    }
    RETURN_IF_ERROR(UploadF32({&l.up_bias}, &out.up_bias, what));
    RETURN_IF_ERROR(UploadMatrix({&l.down}, &out.down, what));
    RETURN_IF_ERROR(UploadF32({&l.down_bias}, &out.down_bias, what));
    matmul_params += static_cast<uint64_t>(ld + up_dim) * c.hidden_size +
                     static_cast<uint64_t>(q_dim + c.intermediate_size) * c.hidden_size;
  }
  matmul_params += static_cast<uint64_t>(c.vocab_size * c.hidden_size);
  weight_bytes += static_cast<uint64_t>(c.vocab_size * c.hidden_size) * 2;  // the LM head, BF16
  if (fp8_max_k > 0) {
    ASSIGN_OR_RETURN(fp8_gemm, Fp8Gemm::Create(c.hidden_size));
  }
  if (!gpt2) {
    const std::vector<float> inv = cpu::RopeInverseFrequencies(c);
    RETURN_IF_ERROR(inv_freq.Reserve(inv.size() * 4, "RoPE frequencies"));
    RADIXLM_CUDA_TRY(
        cudaMemcpy(inv_freq.as<void>(), inv.data(), inv.size() * 4, cudaMemcpyHostToDevice));
  }

  // Activations for a full step, and the split-K attention partials.
  RETURN_IF_ERROR(ReserveActivations(options.max_step_tokens));
  RETURN_IF_ERROR(rope_angles.Reserve(
      static_cast<size_t>(kGemvMaxRows * c.head_dim / 2) * sizeof(float2), "RoPE angles"));
  max_partials = AttentionMaxPartials(c.num_heads, kMaxGraphBatch);
  RETURN_IF_ERROR(partial_acc.Reserve(
      static_cast<size_t>(max_partials) * kAttentionRows * c.head_dim * 4, "attention partials"));
  RETURN_IF_ERROR(partial_stats.Reserve(static_cast<size_t>(max_partials) * kAttentionRows * 2 * 4,
                                        "attention partials"));
  RETURN_IF_ERROR(
      merge_counters.Reserve(static_cast<size_t>(max_partials) * 4, "attention partials"));
  RADIXLM_CUDA_TRY(cudaMemset(merge_counters.as<void>(), 0, merge_counters.size()));

  // The pool's format, and an FP8 pool's scales (the CPU backend's checks).
  switch (options.kv_dtype) {
    case KvDtype::kAuto:
      break;
    case KvDtype::kFp8: {
      kv_fp8 = true;
      kv_element_bytes = 1;
      const auto n = static_cast<size_t>(c.num_layers * c.num_kv_heads);
      const model::KvCacheScales& scales = w.kv_cache_scales;
      if (!scales.present()) {
        kv_scales_host.assign(2 * n, 1.0f);
      } else if (scales.k.size() == n && scales.v.size() == n) {
        kv_scales_host = scales.k;
        kv_scales_host.insert(kv_scales_host.end(), scales.v.begin(), scales.v.end());
      } else {
        return InvalidArgumentError("KV cache scales for " + std::to_string(scales.k.size()) +
                                    " layer heads, the model has " + std::to_string(n));
      }
      RETURN_IF_ERROR(kv_scales.Reserve(kv_scales_host.size() * 4, "KV cache scales"));
      RADIXLM_CUDA_TRY(cudaMemcpy(kv_scales.as<void>(), kv_scales_host.data(),
                                  kv_scales_host.size() * 4, cudaMemcpyHostToDevice));
      break;
    }
  }

  // The KV pool: what the fraction leaves, or exactly num_pages.
  const uint64_t page_bytes =
      static_cast<uint64_t>(c.num_layers) * 2 * kv_dim * page_size * kv_element_bytes;
  RADIXLM_CUDA_TRY(cudaMemGetInfo(&free_bytes, &total_bytes));
  if (options.num_pages > 0) {
    num_pages = options.num_pages;
  } else {
    const double budget = options.gpu_memory_fraction * static_cast<double>(total_bytes) -
                          static_cast<double>(total_bytes - free_bytes);
    num_pages = budget > 0 ? static_cast<int64_t>(budget / static_cast<double>(page_bytes)) : 0;
    if (num_pages < 2) {
      char fraction[32];
      std::snprintf(fraction, sizeof(fraction), "%.3g", options.gpu_memory_fraction);
      return ResourceExhaustedError(
          std::string("gpu_memory_fraction ") + fraction + " of " +
          GiB(static_cast<double>(total_bytes)) + " leaves no room for KV pages of " +
          std::to_string(page_bytes) +
          " bytes: " + GiB(static_cast<double>(total_bytes - free_bytes)) + " is in use (weights " +
          GiB(static_cast<double>(weight_bytes)) + ", workspace, other processes), " +
          GiB(static_cast<double>(free_bytes)) + " free");
    }
  }
  const size_t pool_bytes = static_cast<size_t>(num_pages) * page_bytes / 2;
  RETURN_IF_ERROR(
      k_pool.Reserve(pool_bytes, "the K page pool (" + std::to_string(num_pages) + " pages)"));
  RETURN_IF_ERROR(
      v_pool.Reserve(pool_bytes, "the V page pool (" + std::to_string(num_pages) + " pages)"));
  RADIXLM_CUDA_TRY(cudaStreamSynchronize(stream));
  return OkStatus();
}

Status CudaBackend::Impl::Launch(std::span<const SequenceInput> batch) {
  if (in_flight.size() >= 2) return FailedPreconditionError("two steps are in flight already");
  if (!in_flight.empty() && flights[in_flight.front()].host_rows) {
    return FailedPreconditionError("the step in flight hands rows to the host: wait for it first");
  }
  RETURN_IF_ERROR(
      ValidateBatch(batch, config, page_size, num_pages, /*chooses_tokens=*/true, last_choices));
  const int slot = static_cast<int>(launches % 2);
  Flight& flight = flights[slot];
  const model::ModelConfig& c = config;
  const int64_t h = c.hidden_size, hd = c.head_dim;
  RADIXLM_CUDA_TRY(cudaSetDevice(device));
  // The page copies asked for since the last step land before this one reads or
  // writes a page; after it, compute_idle lets the next copies start.
  if (copies_pending) {
    RADIXLM_CUDA_TRY(cudaStreamWaitEvent(stream, copies_done, 0));
    copies_pending = false;
  }
  struct MarkIdle {
    Impl* impl;
    ~MarkIdle() { cudaEventRecord(impl->compute_idle, impl->stream); }
  } mark_idle{this};

  // The step's tables, packed into one upload: per row token, position and KV
  // slot; logit rows; hidden-sum rows; page tables; attention work.
  std::vector<int32_t> tokens, positions, slots, logit_rows, hidden_rows, page_tables;
  std::vector<int32_t> prompt_rows;                      // activation rows of prompt-logprob rows
  std::vector<std::pair<int32_t, int32_t>> prompt_asks;  // per prompt row: target, top
  std::vector<AttentionSeq> seqs;
  SampleTables& samples = flight.samples;
  samples.Clear();
  int64_t t = 0;
  for (const SequenceInput& s : batch) {
    if (const PromptLogprobs* p = s.prompt_logprobs; p != nullptr) {
      for (size_t j = 0; j < p->targets.size(); ++j) {
        prompt_rows.push_back(static_cast<int32_t>(t + p->first + static_cast<int64_t>(j)));
        prompt_asks.emplace_back(p->targets[j], p->top_logprobs);
      }
    }
    if (s.sampling != nullptr) samples.Add(*s.sampling, static_cast<int32_t>(logit_rows.size()), 0);
    const auto n = static_cast<int64_t>(s.tokens.size());
    seqs.push_back({static_cast<int32_t>(t), static_cast<int32_t>(s.start),
                    static_cast<int32_t>(page_tables.size())});
    const int64_t pages_used = (s.start + n + page_size - 1) / page_size;
    page_tables.insert(page_tables.end(), s.page_table.begin(), s.page_table.begin() + pages_used);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t pos = s.start + i;
      tokens.push_back(s.tokens[static_cast<size_t>(i)]);
      positions.push_back(static_cast<int32_t>(pos));
      slots.push_back(static_cast<int32_t>(
          s.page_table[static_cast<size_t>(pos / page_size)] * page_size + pos % page_size));
      if (i >= n - s.num_logits) logit_rows.push_back(static_cast<int32_t>(t + i));
      if (s.hidden_sum != nullptr) hidden_rows.push_back(static_cast<int32_t>(t + i));
    }
    t += n;
  }
  const auto num_logits = static_cast<int64_t>(logit_rows.size());
  const auto num_sampled = static_cast<int64_t>(samples.rows.size());
  const auto num_choices = static_cast<int64_t>(samples.choices.size());
  // Prompt-logprob rows after the sampled ones, each block's logits in the
  // logits buffer's rows after the logit rows.
  const auto num_prompt_rows = static_cast<int64_t>(prompt_rows.size());
  for (int64_t j = 0; j < num_prompt_rows; ++j) {
    const auto& [target, top] = prompt_asks[static_cast<size_t>(j)];
    samples.AddPromptRow(static_cast<int32_t>(num_logits + j % kPromptBlock), target, top);
  }
  const auto num_rows = static_cast<int64_t>(samples.rows.size());
  const int64_t prompt_block_rows = std::min(num_prompt_rows, kPromptBlock);
  flight.batch.assign(batch.begin(), batch.end());
  flight.num_logits = num_logits;
  flight.num_sampled = num_sampled;
  flight.num_prompt_rows = num_prompt_rows;
  flight.hidden_rows = static_cast<int64_t>(hidden_rows.size());
  flight.host_rows = num_sampled < num_logits || !hidden_rows.empty();
  flight.sample_bytes = 0;
  flight.empty = t == 0;
  // Once everything is enqueued, the step is in flight (Wait finishes it).
  auto in_flight_now = [&] {
    in_flight.push_back(slot);
    ++launches;
    last_choices = num_choices;
  };
  if (t == 0) {
    in_flight_now();
    return OkStatus();
  }

  // Attention work: (sequence, kv head, block of query tokens), split over the
  // keys when the blocks alone would leave most multiprocessors idle. One plan
  // for the full-attention layers and one for the sliding-window layers, each
  // made only where some layer uses it (a model may mix them: Qwen2's
  // max_window_layers).
  std::vector<AttentionPlanSeq> plan_seqs;
  for (const SequenceInput& s : batch) {
    // The first page as the decode plan's prefix key: sequences on one cached
    // prompt's pages run side by side (attention_plan.h, DecodeBlockOrder).
    // Its page table, for the cascade blocks (sequences on the same pages).
    const int64_t first_page = s.page_table.empty() ? -1 : s.page_table[0];
    const int64_t pages_used = std::min<int64_t>(
        static_cast<int64_t>(s.page_table.size()),
        (s.start + static_cast<int64_t>(s.tokens.size()) + page_size - 1) / page_size);
    plan_seqs.push_back({s.start, static_cast<int64_t>(s.tokens.size()), first_page,
                         s.page_table.data(), pages_used});
  }
  struct Plan {
    std::vector<AttentionBlock> blocks;
    std::vector<AttentionMerge> merges;
    DecodeCascade cascade;
    size_t blocks_at = 0, merges_at = 0;  // in the step's tables
    size_t cascade_at = 0, members_at = 0;
    int32_t decode_forms = 0;  // AttentionArgs::decode_forms (decode_mma 2)
  };
  Plan plans[2];  // [0]: full attention, [1]: the sliding window
  bool decode_plan = false;
  for (int windowed = 0; windowed < 2; ++windowed) {
    if (!(windowed ? c.sliding_window > 0 : has_full_attention_layers)) continue;
    Plan& plan = plans[windowed];
    plan.cascade.page_size = page_size;
    DecodeCascade* cascade = use_cascade && !windowed && !kv_fp8 ? &plan.cascade : nullptr;
    decode_plan = PlanStepAttention(
        plan_seqs, c.num_heads, c.num_kv_heads, c.head_dim, num_sms, max_partials, &plan.blocks,
        &plan.merges, windowed ? c.sliding_window : 0, DecodeBlockOrder::kKvHeadMajor, cascade);
    // Counts that depend on the batch size alone (and the cascade's, padded to
    // powers of two), so a decode graph is not captured anew whenever a
    // sequence crosses a split boundary.
    if (decode_plan) {
      if (!plan.cascade.blocks.empty()) ++cascade_steps;
      if (use_decode_mma == 2 && !kv_fp8) {
        plan.decode_forms =
            MarkDecodeForms(plan_seqs, windowed ? c.sliding_window : 0, &plan.blocks);
      }
      PadDecodePlan(static_cast<int64_t>(batch.size()), c.num_kv_heads, num_sms, &plan.blocks,
                    &plan.merges, cascade);
    }
  }

  // Pack and upload the tables (16-byte aligned parts).
  std::vector<int32_t> meta_words;
  auto put = [&meta_words](const void* data, size_t bytes) {
    const size_t at = meta_words.size();
    meta_words.resize(at + (bytes + 15) / 16 * 4, 0);
    if (bytes > 0) std::memcpy(meta_words.data() + at, data, bytes);
    return at;
  };
  const size_t tokens_at = put(tokens.data(), tokens.size() * 4);
  const size_t positions_at = put(positions.data(), positions.size() * 4);
  const size_t slots_at = put(slots.data(), slots.size() * 4);
  const size_t logit_rows_at = put(logit_rows.data(), logit_rows.size() * 4);
  const size_t hidden_rows_at = put(hidden_rows.data(), hidden_rows.size() * 4);
  const size_t prompt_rows_at = put(prompt_rows.data(), prompt_rows.size() * 4);
  const size_t seqs_at = put(seqs.data(), seqs.size() * sizeof(AttentionSeq));
  for (Plan& plan : plans) {  // an unmade plan takes no room
    plan.blocks_at = put(plan.blocks.data(), plan.blocks.size() * sizeof(AttentionBlock));
    plan.merges_at = put(plan.merges.data(), plan.merges.size() * sizeof(AttentionMerge));
    plan.cascade_at =
        put(plan.cascade.blocks.data(), plan.cascade.blocks.size() * sizeof(CascadeBlock));
    plan.members_at =
        put(plan.cascade.members.data(), plan.cascade.members.size() * sizeof(CascadeMember));
  }
  const size_t choices_at =
      put(samples.choices.data(), samples.choices.size() * sizeof(DeviceChoice));
  const size_t rows_at = put(samples.rows.data(), samples.rows.size() * sizeof(DeviceRow));
  const size_t pages_at = put(page_tables.data(), page_tables.size() * 4);  // its length varies
  // The edits last (their count varies too); rows name them by their index
  // from the table's start in DeviceEdit units (parts are 16-byte aligned).
  const size_t edits_at = put(samples.edits.data(), samples.edits.size() * sizeof(DeviceEdit));
  // Token masks after them (their count varies too), named by their first
  // word from the table's start.
  const size_t masks_at = put(samples.masks.data(), samples.masks.size() * 4);
  for (int64_t r = 0; r < num_rows; ++r) {
    auto* row = reinterpret_cast<DeviceRow*>(meta_words.data() + rows_at) + r;
    row->edit_begin += static_cast<int32_t>(edits_at / 4);
    if (row->mask_begin >= 0) row->mask_begin += static_cast<int32_t>(masks_at);
  }
  const size_t meta_bytes = meta_words.size() * 4;
  PinnedBuffer& meta_host = flight.meta_host;
  RETURN_IF_ERROR(meta_host.Reserve(meta_bytes));
  if (meta_bytes > meta.size())
    RETURN_IF_ERROR(meta.Reserve(std::max(meta_bytes * 2, kMinMetaBytes), "step tables"));
  std::memcpy(meta_host.as<void>(), meta_words.data(), meta_bytes);
  RADIXLM_CUDA_TRY(cudaEventRecord(flight.start, stream));
  RADIXLM_CUDA_TRY(cudaMemcpyAsync(meta.as<void>(), meta_host.as<void>(), meta_bytes,
                                   cudaMemcpyHostToDevice, stream));
  const int32_t* words = meta.as<int32_t>();

  RETURN_IF_ERROR(ReserveActivations(t));
  if (!hidden_rows.empty())
    RETURN_IF_ERROR(hidden.Reserve(hidden_rows.size() * h * 4, "hidden states"));
  if (num_logits + prompt_block_rows > 0) {
    RETURN_IF_ERROR(last.Reserve(
        static_cast<size_t>(std::max(num_logits, prompt_block_rows) * h) * 2, "logit rows"));
    RETURN_IF_ERROR(logits.Reserve(
        static_cast<size_t>((num_logits + prompt_block_rows) * c.vocab_size) * 4, "logits"));
  }
  flight.layout = SampleOutputLayout(num_rows, num_choices);
  const SampleOutputLayout& sample_layout = flight.layout;
  flight.sample_bytes = sample_layout.bytes(samples.figures);
  if (num_rows > 0) {
    RETURN_IF_ERROR(GrowSampleOut(sample_layout.end));
    RETURN_IF_ERROR(flight.sample_host.Reserve(sample_layout.end));
  }
  float* xp = x.as<float>();
  bf16* normed_p = normed.as<bf16>();
  float* qkv_p = qkv_out.as<float>();
  bf16* attn_p = attn.as<bf16>();
  bf16* up_p = up.as<bf16>();

  AttentionArgs aa{};
  aa.qkv = qkv_p;
  aa.ld = ld;
  aa.page_tables = words + pages_at;
  aa.seqs = reinterpret_cast<const AttentionSeq*>(words + seqs_at);
  aa.page_size = static_cast<int32_t>(page_size);
  aa.heads = static_cast<int32_t>(c.num_heads);
  aa.kv_heads = static_cast<int32_t>(c.num_kv_heads);
  aa.head_dim = static_cast<int32_t>(hd);
  aa.scale = 1.0f / std::sqrt(static_cast<float>(hd));
  aa.partial_acc = partial_acc.as<float>();
  aa.partial_stats = partial_stats.as<float>();
  aa.merge_counters = merge_counters.as<int32_t>();
  aa.out = attn_p;
  bool one_token_each = true;
  for (const SequenceInput& s : batch) one_token_each = one_token_each && s.tokens.size() == 1;
  aa.decode = decode_plan ? 1 : 0;
  aa.decode_mma = kv_fp8 ? 0 : use_decode_mma;

  // With profile_phases, an event where each phase starts (the step's end event
  // closes the last).
  flight.used_marks = 0;
  auto mark = [&](int phase) -> Status {
    if (!profile_phases) return OkStatus();
    if (flight.used_marks == flight.marks.size()) {
      cudaEvent_t e = nullptr;
      RADIXLM_CUDA_TRY(cudaEventCreate(&e));
      flight.marks.push_back(e);
      flight.mark_phase.push_back(0);
    }
    flight.mark_phase[flight.used_marks] = phase;
    RADIXLM_CUDA_TRY(cudaEventRecord(flight.marks[flight.used_marks++], stream));
    return OkStatus();
  };

  // The step's kernels, from the embedding to the logits (no allocation, no host
  // copy: this is what a CUDA graph captures).
  auto enqueue = [&]() -> Status {
    RETURN_IF_ERROR(mark(CudaBackend::kPhaseQkv));
    RADIXLM_CUDA_TRY(EmbedRows(embed.as<bf16>(), gpt2 ? pos_embed.as<bf16>() : nullptr,
                               words + tokens_at, words + positions_at, sample_out.as<int32_t>(), t,
                               h, xp, stream));
    // Steps of at most kGemvMaxRows tokens run on the hand GEMVs only (no cuBLAS),
    // so every kernel of a layer is ours or attention.cu's: those launch as
    // programmatic dependents (the attention kernels launch plainly and wait for
    // all before them), and the RMSNorms, RoPE + K/V store and SiLU·mul fold into
    // the products (NormGemv, the same bits as the unfused kernels).
    const bool small = t <= gemv_rows;
    const bool pdl = use_pdl && small;
    const bool fuse = use_fused_gemv && small && !gpt2 &&
                      NormGemvSupports(t, h, xp, layers[0].qkv.data()) &&
                      NormGemvSupports(t, h, xp, layers[0].up.data());
    // The qkv product's epilogue stores BF16 K and V: an FP8 pool's are stored
    // by RopeAndStoreKv after the unfused product.
    const bool fuse_qkv = fuse && !kv_fp8;
    // The fused qkv products read the step's RoPE angles from one table.
    float2* angles = fuse_qkv ? rope_angles.as<float2>() : nullptr;  // fuse implies a RoPE model
    if (angles != nullptr) {
      RADIXLM_CUDA_TRY(
          RopeAngles(words + positions_at, t, inv_freq.as<float>(), hd / 2, angles, stream, pdl));
    }
    for (int64_t li = 0; li < c.num_layers; ++li) {
      Layer& l = layers[static_cast<size_t>(li)];
      const LayerKv kv = KvOfLayer(li);
      RETURN_IF_ERROR(mark(CudaBackend::kPhaseQkv));
      RopeKvArgs rk{qkv_p,
                    t,
                    c.num_heads,
                    c.num_kv_heads,
                    hd,
                    l.qkv_bias.size() > 0 ? l.qkv_bias.as<float>() : nullptr,
                    words + positions_at,
                    gpt2 ? nullptr : inv_freq.as<float>(),
                    words + slots_at,
                    page_size,
                    kv.k,
                    kv.v,
                    angles};
      rk.k_fp8 = kv.k_fp8;
      rk.v_fp8 = kv.v_fp8;
      rk.k_scales = kv.k_scales;
      rk.v_scales = kv.v_scales;
      const float eps = static_cast<float>(c.norm_eps);
      if (fuse_qkv) {
        NormGemvArgs qkv_args;
        qkv_args.x = xp;
        qkv_args.m = t;
        qkv_args.k = h;
        qkv_args.norm_weight = l.attn_norm.as<float>();
        qkv_args.eps = eps;
        qkv_args.w = l.qkv.bf16_w();
        qkv_args.w8 = l.qkv.codes();
        qkv_args.w_scale = l.qkv.scales();
        qkv_args.out = NormGemvOut::kRopeKv;
        qkv_args.rope = rk;
        RADIXLM_CUDA_TRY(NormGemv(qkv_args, stream, pdl));
      } else {
        RETURN_IF_ERROR(Norm(l.attn_norm, l.attn_norm_bias, nullptr, t, normed_p, nullptr, pdl));
        RETURN_IF_ERROR(Gemm(normed_p, t, h, l.qkv, ld, qkv_p, true, false, pdl));
        RADIXLM_CUDA_TRY(RopeAndStoreKv(rk, stream, pdl));
      }
      aa.k_pool = kv.k;
      aa.v_pool = kv.v;
      aa.k_fp8 = kv.k_fp8;
      aa.v_fp8 = kv.v_fp8;
      aa.k_scales = kv.k_scales;
      aa.v_scales = kv.v_scales;
      aa.window = static_cast<int32_t>(c.LayerWindow(li));
      const Plan& plan = plans[aa.window > 0 ? 1 : 0];
      aa.blocks = reinterpret_cast<const AttentionBlock*>(words + plan.blocks_at);
      aa.num_blocks = static_cast<int32_t>(plan.blocks.size());
      aa.merges = reinterpret_cast<const AttentionMerge*>(words + plan.merges_at);
      aa.num_merges = static_cast<int32_t>(plan.merges.size());
      aa.cascade_blocks = reinterpret_cast<const CascadeBlock*>(words + plan.cascade_at);
      aa.num_cascade_blocks = static_cast<int32_t>(plan.cascade.blocks.size());
      aa.cascade_split_keys = plan.cascade.split_keys;
      aa.decode_forms = plan.decode_forms;
      aa.cascade_members = reinterpret_cast<const CascadeMember*>(words + plan.members_at);
      RETURN_IF_ERROR(mark(CudaBackend::kPhaseAttention));
      RADIXLM_CUDA_TRY(LaunchAttention(aa, stream, pdl));
      RETURN_IF_ERROR(mark(CudaBackend::kPhaseMlp));
      RETURN_IF_ERROR(Gemm(attn_p, t, q_dim, l.o, h, xp, true, true, pdl));
      if (l.o_bias.size() > 0)
        RADIXLM_CUDA_TRY(AddBias(xp, l.o_bias.as<float>(), t, h, stream, pdl));
      const bf16* mlp_in = up_p;
      if (fuse) {
        NormGemvArgs up_args;
        up_args.x = xp;
        up_args.m = t;
        up_args.k = h;
        up_args.norm_weight = l.mlp_norm.as<float>();
        up_args.eps = eps;
        up_args.w = l.up.bf16_w();
        up_args.w8 = l.up.codes();
        up_args.w_scale = l.up.scales();
        up_args.out = NormGemvOut::kSiluMul;
        up_args.act = act.as<bf16>();
        up_args.inter = c.intermediate_size;
        RADIXLM_CUDA_TRY(NormGemv(up_args, stream, pdl));
        mlp_in = act.as<bf16>();
      } else {
        RETURN_IF_ERROR(Norm(l.mlp_norm, l.mlp_norm_bias, nullptr, t, normed_p, nullptr, pdl));
        RETURN_IF_ERROR(Gemm(normed_p, t, h, l.up, up_dim, up_p, false, false, pdl));
        if (gated) {
          RADIXLM_CUDA_TRY(SiluMul(up_p, t, c.intermediate_size, act.as<bf16>(), stream, pdl));
          mlp_in = act.as<bf16>();
        } else {
          RADIXLM_CUDA_TRY(Gelu(up_p, l.up_bias.size() > 0 ? l.up_bias.as<float>() : nullptr, t,
                                c.intermediate_size, c.gelu_exact, stream, pdl));
        }
      }
      RETURN_IF_ERROR(Gemm(mlp_in, t, c.intermediate_size, l.down, h, xp, true, true, pdl));
      if (l.down_bias.size() > 0)
        RADIXLM_CUDA_TRY(AddBias(xp, l.down_bias.as<float>(), t, h, stream, pdl));
    }

    RETURN_IF_ERROR(mark(CudaBackend::kPhaseHead));
    if (!hidden_rows.empty()) {
      RETURN_IF_ERROR(Norm(final_norm, final_norm_bias, words + hidden_rows_at,
                           static_cast<int64_t>(hidden_rows.size()), nullptr, hidden.as<float>()));
    }
    if (num_logits > 0) {
      RETURN_IF_ERROR(Norm(final_norm, final_norm_bias, words + logit_rows_at, num_logits,
                           last.as<bf16>(), nullptr));
      RETURN_IF_ERROR(Gemm(last.as<bf16>(), num_logits, h, head(), c.vocab_size, logits.as<float>(),
                           true, false));
    }
    if (num_sampled > 0) {
      RADIXLM_CUDA_TRY(SampleRows(logits.as<float>(), c.vocab_size,
                                  reinterpret_cast<const DeviceRow*>(words + rows_at), num_sampled,
                                  reinterpret_cast<const DeviceChoice*>(words + choices_at),
                                  meta.as<DeviceEdit>(), meta.as<uint32_t>(),
                                  sample_layout.At(sample_out.as<void>()), stream));
    }
    // Prompt-logprob rows, a block at a time: the final norm, the LM head into
    // the logits rows after the logit rows, the figures (SampleRows with no
    // choice). Stream order keeps a block's rows until its figures are taken.
    for (int64_t b0 = 0; b0 < num_prompt_rows; b0 += kPromptBlock) {
      const int64_t m = std::min(kPromptBlock, num_prompt_rows - b0);
      RETURN_IF_ERROR(Norm(final_norm, final_norm_bias, words + prompt_rows_at + b0, m,
                           last.as<bf16>(), nullptr));
      RETURN_IF_ERROR(Gemm(last.as<bf16>(), m, h, head(), c.vocab_size,
                           logits.as<float>() + num_logits * c.vocab_size, true, false));
      SampleOutputs out = sample_layout.At(sample_out.as<void>());
      out.figures += num_sampled + b0;
      RADIXLM_CUDA_TRY(
          SampleRows(logits.as<float>(), c.vocab_size,
                     reinterpret_cast<const DeviceRow*>(words + rows_at) + num_sampled + b0, m,
                     reinterpret_cast<const DeviceChoice*>(words + choices_at),
                     meta.as<DeviceEdit>(), meta.as<uint32_t>(), out, stream));
    }
    return OkStatus();
  };

  // Decode steps (one new token and one logit row per sequence) replay a graph
  // captured for their shape; other steps launch their kernels directly.
  const bool decode = use_graphs && !profile_phases && one_token_each && hidden_rows.empty() &&
                      num_prompt_rows == 0 && t <= kMaxGraphBatch && num_logits == t;
  if (decode) {
    const GraphKey key{t,
                       static_cast<int64_t>(seqs.size()),
                       static_cast<int64_t>(plans[0].blocks.size() + plans[1].blocks.size()),
                       static_cast<int64_t>(plans[0].merges.size() + plans[1].merges.size()),
                       num_sampled,
                       num_choices,
                       static_cast<int64_t>(plans[0].cascade.blocks.size()),
                       static_cast<int64_t>(plans[0].cascade.members.size()),
                       plans[0].cascade.split_keys,
                       plans[0].decode_forms | plans[1].decode_forms << 2};
    std::vector<const void*> buffers = {meta.as<void>(),      x.as<void>(),    normed.as<void>(),
                                        qkv_out.as<void>(),   attn.as<void>(), up.as<void>(),
                                        act.as<void>(),       last.as<void>(), logits.as<void>(),
                                        sample_out.as<void>()};
    if (fp8_gemm != nullptr) {
      for (const void* p : fp8_gemm->buffers()) buffers.push_back(p);
    }
    auto it = graphs.find(key);
    if (it != graphs.end() && it->second.buffers != buffers) {
      cudaGraphExecDestroy(it->second.exec);
      graphs.erase(it);
      it = graphs.end();
    }
    if (it == graphs.end()) {
      if (graphs.size() >= kMaxGraphs) {
        auto oldest = std::min_element(
            graphs.begin(), graphs.end(),
            [](const auto& a, const auto& b) { return a.second.last_use < b.second.last_use; });
        cudaGraphExecDestroy(oldest->second.exec);
        graphs.erase(oldest);
      }
      RADIXLM_CUDA_TRY(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
      const Status captured = enqueue();
      cudaGraph_t graph = nullptr;
      const cudaError_t ended = cudaStreamEndCapture(stream, &graph);
      if (!captured.ok() || ended != cudaSuccess) {
        if (graph != nullptr) cudaGraphDestroy(graph);
        cudaGetLastError();
        RETURN_IF_ERROR(captured);
        RADIXLM_CUDA_TRY(ended);
      }
      Graph g;
      g.buffers = buffers;
      const cudaError_t made = cudaGraphInstantiate(&g.exec, graph, 0);
      cudaGraphDestroy(graph);
      RADIXLM_CUDA_TRY(made);
      it = graphs.emplace(key, std::move(g)).first;
      ++graph_captures;
    } else {
      ++graph_replays;
    }
    it->second.last_use = graph_captures + graph_replays;
    RADIXLM_CUDA_TRY(cudaGraphLaunch(it->second.exec, stream));
  } else {
    RETURN_IF_ERROR(enqueue());
  }

  RADIXLM_CUDA_TRY(cudaEventRecord(flight.end, stream));
  // Sampled rows cross as ids and figures, prompt-logprob rows as figures,
  // now; logits and hidden sums at Wait (nothing launches before that).
  if (num_rows > 0) {
    RADIXLM_CUDA_TRY(cudaMemcpyAsync(flight.sample_host.as<void>(), sample_out.as<void>(),
                                     flight.sample_bytes, cudaMemcpyDeviceToHost, stream));
  }
  RADIXLM_CUDA_TRY(cudaEventRecord(flight.done, stream));
  in_flight_now();
  return OkStatus();
}

Status CudaBackend::Impl::Wait(std::vector<float>* logits_out) {
  if (in_flight.empty()) return FailedPreconditionError("no step is in flight");
  const int slot = in_flight.front();
  in_flight.erase(in_flight.begin());
  Flight& flight = flights[slot];
  const model::ModelConfig& c = config;
  const int64_t h = c.hidden_size;
  RADIXLM_CUDA_TRY(cudaSetDevice(device));
  logits_out->resize(static_cast<size_t>((flight.num_logits - flight.num_sampled) * c.vocab_size));
  if (flight.empty) return OkStatus();
  RADIXLM_CUDA_TRY(cudaEventSynchronize(flight.done));
  float device_ms = 0;
  if (cudaEventElapsedTime(&device_ms, flight.start, flight.end) == cudaSuccess) {
    device_ns += static_cast<int64_t>(static_cast<double>(device_ms) * 1e6);
  }
  for (size_t i = 0; i < flight.used_marks; ++i) {
    const cudaEvent_t to = i + 1 < flight.used_marks ? flight.marks[i + 1] : flight.end;
    float ms = 0;
    if (cudaEventElapsedTime(&ms, flight.marks[i], to) == cudaSuccess)
      phase_s[flight.mark_phase[i]] += static_cast<double>(ms) * 1e-3;
  }
  RADIXLM_CUDA_TRY(cudaGetLastError());
  const std::vector<SequenceInput>& batch = flight.batch;
  if (flight.num_sampled > 0) {
    size_t index = 0;
    for (const SequenceInput& s : batch) {
      if (s.sampling != nullptr) {
        UnpackRow(flight.samples, index++, flight.layout, flight.sample_host.as<void>(),
                  *s.sampling);
      }
    }
  }
  if (flight.num_prompt_rows > 0) {
    auto index = static_cast<size_t>(flight.num_sampled);
    for (const SequenceInput& s : batch) {
      if (s.prompt_logprobs == nullptr) continue;
      for (RowLogprobs& out : s.prompt_logprobs->out)
        UnpackPromptRow(index++, flight.layout, flight.sample_host.as<void>(), &out);
    }
  }
  if (!flight.host_rows) return OkStatus();
  // Logit rows not sampled here cross as F32 (runs of consecutive rows in one copy).
  const auto row_bytes = static_cast<size_t>(c.vocab_size) * 4;
  int64_t row = 0, written = 0;
  for (const SequenceInput& s : batch) {
    if (s.num_logits == 0) continue;
    if (s.sampling != nullptr) {
      ++row;
      continue;
    }
    RADIXLM_CUDA_TRY(
        cudaMemcpyAsync(reinterpret_cast<char*>(logits_out->data()) + written * row_bytes,
                        logits.as<char>() + row * row_bytes, s.num_logits * row_bytes,
                        cudaMemcpyDeviceToHost, stream));
    row += s.num_logits;
    written += s.num_logits;
  }
  // Hidden sums: every asked-for row normed on the device, summed on the host in
  // position order (the same bits however the prompt was chunked).
  std::vector<float> hidden_host(static_cast<size_t>(flight.hidden_rows * h));
  if (!hidden_host.empty()) {
    RADIXLM_CUDA_TRY(cudaMemcpyAsync(hidden_host.data(), hidden.as<void>(), hidden_host.size() * 4,
                                     cudaMemcpyDeviceToHost, stream));
  }
  RADIXLM_CUDA_TRY(cudaStreamSynchronize(stream));
  RADIXLM_CUDA_TRY(cudaGetLastError());
  size_t hrow = 0;
  for (const SequenceInput& s : batch) {
    if (s.hidden_sum == nullptr) continue;
    for (size_t i = 0; i < s.tokens.size(); ++i, ++hrow) {
      const float* src = hidden_host.data() + hrow * h;
      for (int64_t j = 0; j < h; ++j) s.hidden_sum[j] += src[j];
    }
  }
  return OkStatus();
}

CudaBackend::CudaBackend(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CudaBackend::~CudaBackend() = default;

StatusOr<std::unique_ptr<CudaBackend>> CudaBackend::Create(const model::ModelWeights& weights,
                                                           const CudaBackendOptions& options) {
  RETURN_IF_ERROR(options.Validate());
  const model::ModelConfig& c = weights.config;
  if (c.architecture != Architecture::kGpt2 && c.head_dim % 2 != 0) {
    return InvalidArgumentError("rotary embeddings need an even head_dim");
  }
  auto impl = std::make_unique<Impl>();
  impl->config = c;
  RETURN_IF_ERROR(impl->Create(weights, options));
  return std::unique_ptr<CudaBackend>(new CudaBackend(std::move(impl)));
}

const model::ModelConfig& CudaBackend::config() const { return impl_->config; }
int64_t CudaBackend::page_size() const { return impl_->page_size; }
int64_t CudaBackend::num_pages() const { return impl_->num_pages; }
uint64_t CudaBackend::matmul_params() const { return impl_->matmul_params; }
uint64_t CudaBackend::weight_bytes_per_token() const { return impl_->weight_bytes; }
uint64_t CudaBackend::graph_replays() const { return impl_->graph_replays; }
uint64_t CudaBackend::graph_captures() const { return impl_->graph_captures; }
uint64_t CudaBackend::cascade_steps() const { return impl_->cascade_steps; }
bool CudaBackend::profiles_phases() const { return impl_->profile_phases; }
double CudaBackend::phase_seconds(int phase) const {
  return phase >= 0 && phase < kPhases ? impl_->phase_s[phase] : 0.0;
}
const char* CudaBackend::PhaseName(int phase) {
  static constexpr const char* kNames[kPhases] = {"norm + qkv + rope", "attention", "o + mlp",
                                                  "head + sampling"};
  return phase >= 0 && phase < kPhases ? kNames[phase] : "?";
}
const char* CudaBackend::fp8_gemm_path() const {
  return impl_->fp8_gemm == nullptr ? "none" : Fp8GemmPathName(impl_->fp8_gemm->path());
}
uint64_t CudaBackend::kv_bytes() const { return impl_->k_pool.size() + impl_->v_pool.size(); }
std::string_view CudaBackend::kv_format() const {
  return impl_->kv_fp8 ? kKvFormatFp8 : numeric_format();
}
float CudaBackend::key_scale(int64_t layer, int64_t head) const {
  const Impl& m = *impl_;
  return m.kv_fp8 ? m.kv_scales_host[static_cast<size_t>(layer * m.config.num_kv_heads + head)]
                  : 1.0f;
}
float CudaBackend::value_scale(int64_t layer, int64_t head) const {
  const Impl& m = *impl_;
  return m.kv_fp8 ? m.kv_scales_host[static_cast<size_t>(
                        (m.config.num_layers + layer) * m.config.num_kv_heads + head)]
                  : 1.0f;
}
std::string CudaBackend::device_name() const { return impl_->device_name; }

Status CudaBackend::Forward(std::span<const SequenceInput> batch, std::vector<float>* logits) {
  if (!impl_->in_flight.empty())
    return FailedPreconditionError("Forward with steps in flight: Wait for them first");
  RETURN_IF_ERROR(impl_->Launch(batch));
  return impl_->Wait(logits);
}

Status CudaBackend::Launch(std::span<const SequenceInput> batch) { return impl_->Launch(batch); }
Status CudaBackend::Wait(std::vector<float>* logits) { return impl_->Wait(logits); }
int64_t CudaBackend::device_ns() const { return impl_->device_ns; }

Status CudaBackend::CopyPage(int32_t src, int32_t dst, int64_t slots) {
  Impl& m = *impl_;
  if (src < 0 || src >= m.num_pages || dst < 0 || dst >= m.num_pages || slots < 0 ||
      slots > m.page_size) {
    return InvalidArgumentError("CopyPage(" + std::to_string(src) + ", " + std::to_string(dst) +
                                ", " + std::to_string(slots) + ") outside the pool");
  }
  RADIXLM_CUDA_TRY(cudaSetDevice(m.device));
  RADIXLM_CUDA_TRY(cudaStreamWaitEvent(m.copy_stream, m.compute_idle, 0));
  RADIXLM_CUDA_TRY(CopyPageSlots(m.k_pool.as<void>(), m.v_pool.as<void>(), m.kv_element_bytes,
                                 m.config.num_layers, m.num_pages, m.config.num_kv_heads,
                                 m.page_size, m.config.head_dim, src, dst, slots, m.copy_stream));
  RADIXLM_CUDA_TRY(cudaEventRecord(m.copies_done, m.copy_stream));
  m.copies_pending = true;
  return OkStatus();
}

// A page's bytes: per layer, the keys of its kv heads (one contiguous run in
// the pool), then their values, BF16 or FP8 codes.
int64_t CudaBackend::page_bytes() const {
  const Impl& m = *impl_;
  return 2 * m.config.num_layers * m.config.num_kv_heads * m.page_size * m.config.head_dim *
         m.kv_element_bytes;
}

// Enqueues the copies of `pages` between the pools and host memory on the copy
// stream (to_host: device to host; `host` then points at writable memory).
Status CudaBackend::MovePages(std::span<const int32_t> pages, const std::byte* const* host,
                              bool to_host) {
  Impl& m = *impl_;
  for (int32_t page : pages) {
    if (page < 0 || page >= m.num_pages)
      return InvalidArgumentError("page copy: page " + std::to_string(page) + " outside the pool");
  }
  if (pages.empty()) return OkStatus();
  RADIXLM_CUDA_TRY(cudaSetDevice(m.device));
  RADIXLM_CUDA_TRY(cudaStreamWaitEvent(m.copy_stream, m.compute_idle, 0));
  const size_t run = static_cast<size_t>(m.config.num_kv_heads * m.page_size * m.config.head_dim *
                                         m.kv_element_bytes);
  char* pools[2] = {m.k_pool.as<char>(), m.v_pool.as<char>()};
  // Per page and pool, one strided copy: the layers' runs are num_pages runs
  // apart in the pool and 2 runs apart (K then V) on the host.
  const size_t pool_pitch = static_cast<size_t>(m.num_pages) * run;
  const size_t host_pitch = 2 * run;
  const size_t layers = static_cast<size_t>(m.config.num_layers);
  for (size_t i = 0; i < pages.size(); ++i) {
    std::byte* page_host = const_cast<std::byte*>(host[i]);
    for (int kv = 0; kv < 2; ++kv) {
      char* pool_page = pools[kv] + static_cast<size_t>(pages[i]) * run;
      std::byte* h = page_host + static_cast<size_t>(kv) * run;
      if (to_host) {
        RADIXLM_CUDA_TRY(cudaMemcpy2DAsync(h, host_pitch, pool_page, pool_pitch, run, layers,
                                           cudaMemcpyDeviceToHost, m.copy_stream));
      } else {
        RADIXLM_CUDA_TRY(cudaMemcpy2DAsync(pool_page, pool_pitch, h, host_pitch, run, layers,
                                           cudaMemcpyHostToDevice, m.copy_stream));
      }
    }
  }
  RADIXLM_CUDA_TRY(cudaEventRecord(m.copies_done, m.copy_stream));
  m.copies_pending = true;
  return OkStatus();
}

Status CudaBackend::ExportPages(std::span<const int32_t> pages, std::span<std::byte* const> dst) {
  if (pages.size() != dst.size()) return InvalidArgumentError("ExportPages: sizes differ");
  return MovePages(pages, dst.data(), /*to_host=*/true);
}

Status CudaBackend::ImportPages(std::span<const int32_t> pages,
                                std::span<const std::byte* const> src) {
  if (pages.size() != src.size()) return InvalidArgumentError("ImportPages: sizes differ");
  return MovePages(pages, src.data(), /*to_host=*/false);
}

Status CudaBackend::WaitHostCopies() {
  RADIXLM_CUDA_TRY(cudaSetDevice(impl_->device));
  RADIXLM_CUDA_TRY(cudaStreamSynchronize(impl_->copy_stream));
  return OkStatus();
}

uint64_t CudaBackend::HostCopyMark() {
  Impl& m = *impl_;
  if (cudaSetDevice(m.device) != cudaSuccess) return m.marks_made;
  // A ring slot is reused only once its mark is known done.
  if (m.marks_made - m.marks_done >= Impl::kMarks) {
    cudaStreamSynchronize(m.copy_stream);
    m.marks_done = m.marks_made;
  }
  const uint64_t mark = m.marks_made + 1;
  cudaEvent_t& e = m.marks[mark % Impl::kMarks];
  if (e == nullptr && cudaEventCreateWithFlags(&e, cudaEventDisableTiming) != cudaSuccess) {
    e = nullptr;
    cudaStreamSynchronize(m.copy_stream);
    m.marks_done = m.marks_made;
    return m.marks_made;
  }
  if (cudaEventRecord(e, m.copy_stream) != cudaSuccess) {
    cudaStreamSynchronize(m.copy_stream);
    m.marks_done = m.marks_made;
    return m.marks_made;
  }
  m.marks_made = mark;
  return mark;
}

bool CudaBackend::HostCopyDone(uint64_t mark) {
  Impl& m = *impl_;
  if (mark <= m.marks_done) return true;
  if (cudaEventQuery(m.marks[mark % Impl::kMarks]) != cudaSuccess) return false;
  m.marks_done = mark;  // the stream runs in order: every earlier mark is done too
  return true;
}

Backend::HostMemory CudaBackend::AllocateHost(size_t bytes) {
  void* p = nullptr;
  if (cudaSetDevice(impl_->device) != cudaSuccess ||
      cudaHostAlloc(&p, std::max<size_t>(bytes, 1), cudaHostAllocDefault) != cudaSuccess) {
    return HostMemory(nullptr, [](std::byte*) {});
  }
  return HostMemory(static_cast<std::byte*>(p), [](std::byte* q) { cudaFreeHost(q); });
}

}  // namespace radixlm::backend::cuda
