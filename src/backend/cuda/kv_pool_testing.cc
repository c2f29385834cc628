#include "backend/cuda/kv_pool_testing.h"

#include "backend/cuda/cuda_status.h"
#include "backend/cuda/device_buffer.h"
#include "backend/cuda/kernels.h"

namespace radixlm::backend::cuda {

namespace {

template <typename T>
Status Upload(const std::vector<T>& host, DeviceBuffer* dst) {
  RETURN_IF_ERROR(dst->Reserve(host.size() * sizeof(T), "a test buffer"));
  RADIXLM_CUDA_TRY(
      cudaMemcpy(dst->as<void>(), host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice));
  return OkStatus();
}

}  // namespace

Status RunStoreKvFp8(const KvStoreProblem& p, std::vector<uint8_t>* k, std::vector<uint8_t>* v) {
  const int64_t ld = (p.heads + 2 * p.kv_heads) * p.head_dim;
  const auto rows = static_cast<int64_t>(p.slots.size());
  if (static_cast<int64_t>(p.qkv.size()) != rows * ld ||
      p.k_scales.size() != static_cast<size_t>(p.kv_heads) ||
      p.v_scales.size() != p.k_scales.size())
    return InvalidArgumentError("KvStoreProblem: rows, slots or scales of the wrong size");
  const auto pool = static_cast<size_t>(p.num_pages * p.kv_heads * p.page_size * p.head_dim);
  DeviceBuffer qkv, slots, scales, k_pool, v_pool;
  RETURN_IF_ERROR(Upload(p.qkv, &qkv));
  RETURN_IF_ERROR(Upload(p.slots, &slots));
  std::vector<float> both = p.k_scales;
  both.insert(both.end(), p.v_scales.begin(), p.v_scales.end());
  RETURN_IF_ERROR(Upload(both, &scales));
  RETURN_IF_ERROR(k_pool.Reserve(pool, "a test K pool"));
  RETURN_IF_ERROR(v_pool.Reserve(pool, "a test V pool"));
  RADIXLM_CUDA_TRY(cudaMemset(k_pool.as<void>(), 0xff, pool));
  RADIXLM_CUDA_TRY(cudaMemset(v_pool.as<void>(), 0xff, pool));
  RopeKvArgs a{qkv.as<float>(),     rows,        p.heads, p.kv_heads,
               p.head_dim,          nullptr,     nullptr, nullptr,
               slots.as<int32_t>(), p.page_size, nullptr, nullptr};
  a.k_fp8 = k_pool.as<__nv_fp8_storage_t>();
  a.v_fp8 = v_pool.as<__nv_fp8_storage_t>();
  a.k_scales = scales.as<float>();
  a.v_scales = scales.as<float>() + p.kv_heads;
  RADIXLM_CUDA_TRY(RopeAndStoreKv(a, nullptr));
  if (p.copy_slots > 0) {
    RADIXLM_CUDA_TRY(CopyPageSlots(k_pool.as<void>(), v_pool.as<void>(), 1, 1, p.num_pages,
                                   p.kv_heads, p.page_size, p.head_dim, p.copy_src, p.copy_dst,
                                   p.copy_slots, nullptr));
  }
  RADIXLM_CUDA_TRY(cudaDeviceSynchronize());
  k->resize(pool);
  v->resize(pool);
  RADIXLM_CUDA_TRY(cudaMemcpy(k->data(), k_pool.as<void>(), pool, cudaMemcpyDeviceToHost));
  RADIXLM_CUDA_TRY(cudaMemcpy(v->data(), v_pool.as<void>(), pool, cudaMemcpyDeviceToHost));
  return OkStatus();
}

}  // namespace radixlm::backend::cuda
