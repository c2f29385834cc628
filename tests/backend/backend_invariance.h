// The invariance cases every backend must pass (backend_invariance.cc): the same
// logits however the work is cut (chunks, batches, a prefix from the cache, copied
// mid-page), greedy tokens however the prompt is cut, summed hidden states, row
// sampling, refused batches. One value-parameterized suite over (backend, model of
// backend_cases.h); each backend's test binary links backend_invariance.cc and
// instantiates it with its BackendKind:
//
//   INSTANTIATE_TEST_SUITE_P(Cpu, BackendInvarianceTest,
//                            ::testing::Combine(::testing::Values(CpuKind()),
//                                               ::testing::ValuesIn(kCases)),
//                            BackendInvarianceName);
//
// The CPU backend of the test model is the reference the backend under test is
// compared with; tests skip at run time where the kind is not available (no GPU).
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <ostream>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "backend/backend.h"
#include "backend/backend_cases.h"
#include "backend/test_model.h"
#include "core/status.h"

namespace radixlm::testing {

struct BackendKind {
  const char* name = "";
  // False where the backend cannot run here (no device): its tests skip.
  std::function<bool()> available;
  // The backend under test over the test model's weights.
  std::function<StatusOr<std::unique_ptr<backend::Backend>>(const model::ModelWeights& weights,
                                                            int64_t page_size, int64_t num_pages)>
      create;
  // Bounds on the relative L2 distance of logits (and hidden-state sums): against
  // the CPU backend, and against itself with the work cut differently. 0: equal
  // bit for bit.
  double vs_cpu = 0;
  double vs_itself = 0;
};

inline void PrintTo(const BackendKind& kind, std::ostream* os) { *os << kind.name; }

// The CPU backend (the reference): bit for bit against itself.
BackendKind CpuKind();

// The CPU backend with an FP8 KV pool (--kv-dtype fp8): bit for bit against
// itself however the work is cut, within kFp8KvBound (backend_cases.h) of the F32
// pool.
BackendKind CpuFp8KvKind();

using BackendInvarianceParam = std::tuple<BackendKind, Case>;

std::string BackendInvarianceName(const ::testing::TestParamInfo<BackendInvarianceParam>& info);

class BackendInvarianceTest : public ::testing::TestWithParam<BackendInvarianceParam> {
 protected:
  static constexpr int64_t kPageSize = 16;
  static constexpr int64_t kPages = 256;

  void SetUp() override;
  const BackendKind& kind() const { return std::get<0>(GetParam()); }

  std::vector<float> Run(backend::Backend& b, std::span<const backend::SequenceInput> batch);
  // The backend under test, and the CPU reference.
  std::vector<float> Under(std::span<const backend::SequenceInput> batch) {
    return Run(*under_, batch);
  }
  std::vector<float> Cpu(std::span<const backend::SequenceInput> batch) {
    return Run(*m_->backend, batch);
  }
  std::vector<float> Rows(const std::vector<float>& all, int64_t first, int64_t n) const;
  // EXPECTs `out` within `bound` of `ref` (relative L2; 0: the same bits).
  void ExpectClose(const std::vector<float>& out, const std::vector<float>& ref, double bound,
                   const std::string& what) const;

  std::unique_ptr<TestModel> m_;
  std::unique_ptr<backend::Backend> under_;
  int64_t vocab_ = 0;
};

}  // namespace radixlm::testing
