// Tensor parallelism on the CPU backend (backend/parallel/): TP=2 and TP=4
// against one rank on the generated models of backend_cases.h (relative L2
// printed, within kVsOneRank), greedy tokens from the prefix cache equal to a
// cold run, every rank performing the same collectives, and the invariance
// cases every backend passes (backend_invariance.h), bit for bit against itself.
#include "backend/parallel/tensor_parallel_backend.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "backend/backend_cases.h"
#include "backend/backend_invariance.h"
#include "backend/cpu/cpu_backend.h"
#include "backend/parallel/communicator.h"
#include "backend/parallel/cpu_tensor_parallel.h"
#include "backend/test_model.h"

namespace radixlm::testing {
namespace {

using backend::SequenceInput;
using backend::parallel::Communicator;
using backend::parallel::TensorParallelBackend;

// F32 throughout; TP sums o_proj and down_proj in N parts, so only rounding
// differs from one rank: measured 1.3e-7 to 1.9e-7 relative L2 on these models.
constexpr double kVsOneRank = 1e-6;

StatusOr<std::unique_ptr<TensorParallelBackend>> MakeTp(
    const model::ModelWeights& weights, int n, int64_t page_size = 16, int64_t num_pages = 256,
    std::function<std::vector<std::unique_ptr<Communicator>>(int)> communicators = {}) {
  return backend::parallel::CreateCpuTensorParallel(
      weights, {.page_size = page_size, .num_pages = num_pages, .threads = 2}, n,
      std::move(communicators));
}

BackendKind CpuTpKind(int n) {
  BackendKind kind;
  kind.name = n == 2 ? "cpu_tp2" : "cpu_tp4";
  kind.available = [] { return true; };
  kind.create = [n](const model::ModelWeights& weights, int64_t page_size,
                    int64_t num_pages) -> StatusOr<std::unique_ptr<backend::Backend>> {
    ASSIGN_OR_RETURN(auto made, MakeTp(weights, n, page_size, num_pages));
    return std::unique_ptr<backend::Backend>(std::move(made));
  };
  kind.vs_cpu = kVsOneRank;
  kind.vs_itself = 0;  // the ranks' products and the all-reduce's order are fixed
  return kind;
}

INSTANTIATE_TEST_SUITE_P(TensorParallel, BackendInvarianceTest,
                         ::testing::Combine(::testing::Values(CpuTpKind(2), CpuTpKind(4)),
                                            ::testing::ValuesIn(kCases)),
                         BackendInvarianceName);

double RelativeL2(const std::vector<float>& out, const std::vector<float>& ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    num += (static_cast<double>(out[i]) - ref[i]) * (static_cast<double>(out[i]) - ref[i]);
    den += static_cast<double>(ref[i]) * ref[i];
  }
  return std::sqrt(num / den);
}

int32_t Argmax(const std::vector<float>& row) {
  return static_cast<int32_t>(std::max_element(row.begin(), row.end()) - row.begin());
}

// Greedy decoding of `steps` tokens after `prompt`, whose first `start` tokens
// are already in `pages` (the rest computed here in one chunk).
std::vector<int32_t> Greedy(backend::Backend& b, std::vector<int32_t> seq, int64_t start,
                            const std::vector<int32_t>& pages, int64_t steps) {
  const int64_t n = static_cast<int64_t>(seq.size());
  std::vector<float> logits;
  SequenceInput prefill{std::span(seq).subspan(static_cast<size_t>(start)), start, pages, 1};
  EXPECT_TRUE(b.Forward({&prefill, 1}, &logits).ok());
  for (int64_t i = 0; i < steps; ++i) {
    seq.push_back(Argmax(logits));
    SequenceInput step{std::span(seq).last(1), static_cast<int64_t>(seq.size()) - 1, pages, 1};
    EXPECT_TRUE(b.Forward({&step, 1}, &logits).ok());
  }
  return std::vector<int32_t>(seq.begin() + n, seq.end());
}

class TensorParallelTest : public ::testing::TestWithParam<std::tuple<Case, int>> {
 protected:
  void SetUp() override {
    const Case& c = std::get<0>(GetParam());
    model::MakeModelOptions options;
    options.arch = c.arch;
    options.preset = "tiny";
    options.seed = 7;
    options.dtype = c.dtype;
    options.num_kv_heads = c.kv_heads;
    m_ = MakeTestModel(options, std::string("tp_") + c.name, 16, 256, c.config_from, c.config_to);
    ASSERT_NE(m_, nullptr);
    auto tp = MakeTp(m_->weights, n());
    ASSERT_TRUE(tp.ok()) << tp.status().ToString();
    tp_ = std::move(tp).value();
    vocab_ = m_->config.vocab_size;
  }
  int n() const { return std::get<1>(GetParam()); }

  std::unique_ptr<TestModel> m_;  // its backend is the single rank
  std::unique_ptr<TensorParallelBackend> tp_;
  int64_t vocab_ = 0;
};

TEST_P(TensorParallelTest, LogitsAndGreedyTokensMatchOneRank) {
  EXPECT_EQ(tp_->name(), "cpu-tp" + std::to_string(n()));
  EXPECT_EQ(tp_->config().num_heads, m_->config.num_heads);  // the whole model's shape
  const std::vector<int32_t> prompt = RandomTokens(70, vocab_, 1);
  const std::vector<int32_t> pages = Iota(0, 5);
  SequenceInput seq{prompt, 0, pages, 70};
  std::vector<float> one, many;
  ASSERT_TRUE(m_->backend->Forward({&seq, 1}, &one).ok());
  ASSERT_TRUE(tp_->Forward({&seq, 1}, &many).ok());
  ASSERT_EQ(one.size(), many.size());
  const double l2 = RelativeL2(many, one);
  std::printf("%s at TP=%d: relative L2 %.3g against one rank over %zu logits\n",
              std::get<0>(GetParam()).name, n(), l2, one.size());
  EXPECT_LE(l2, kVsOneRank);
  EXPECT_GT(l2, 0) << "the all-reduce sums in parts: some bits must differ";
  const std::vector<int32_t> fresh = Iota(10, 7);
  EXPECT_EQ(Greedy(*tp_, prompt, 0, fresh, 40), Greedy(*m_->backend, prompt, 0, fresh, 40));
}

// The prefix cache drives every rank through one page table: a prompt whose
// first 50 tokens another request left in the cache (the boundary page copied
// on every rank) decodes the same greedy tokens as the cold prompt.
TEST_P(TensorParallelTest, GreedyTokensFromTheCacheEqualCold) {
  const int64_t n = 90, steps = 32;
  const std::vector<int32_t> prompt = RandomTokens(n, vocab_, 21);
  const std::vector<int32_t> cold = Iota(200, 8);
  const std::vector<int32_t> want = Greedy(*tp_, prompt, 0, cold, steps);
  for (int64_t shared : {48, 50}) {
    std::vector<int32_t> table;
    ASSERT_NO_FATAL_FAILURE(CachedPrefixTable(*tp_, prompt, shared, &table));
    while (static_cast<int64_t>(table.size()) * 16 < n + steps)
      table.push_back(150 + static_cast<int32_t>(table.size()));
    EXPECT_EQ(Greedy(*tp_, prompt, shared, table, steps), want) << shared << " tokens cached";
  }
}

INSTANTIATE_TEST_SUITE_P(Models, TensorParallelTest,
                         ::testing::Combine(::testing::Values(kCases[0], kCases[2], kCases[5],
                                                              kCases[6]),
                                            ::testing::Values(2, 4)),
                         [](const auto& info) {
                           return std::string(std::get<0>(info.param).name) + "_tp" +
                                  std::to_string(std::get<1>(info.param));
                         });

// A communicator that logs each collective (its kind and size) before passing
// it on to a ThreadCommunicator.
struct Collective {
  bool barrier;
  int64_t count;
  bool operator==(const Collective&) const = default;
};

class RecordingCommunicator final : public Communicator {
 public:
  RecordingCommunicator(std::unique_ptr<Communicator> inner, std::vector<Collective>* log)
      : inner_(std::move(inner)), log_(log) {}
  int rank() const override { return inner_->rank(); }
  int size() const override { return inner_->size(); }
  Status AllReduceSum(float* data, int64_t count) override {
    log_->push_back({false, count});
    return inner_->AllReduceSum(data, count);
  }
  Status Barrier() override {
    log_->push_back({true, 0});
    return inner_->Barrier();
  }

 private:
  std::unique_ptr<Communicator> inner_;
  std::vector<Collective>* log_;
};

TEST(TensorParallelCollectivesTest, EveryRankPerformsTheSameCollectives) {
  model::MakeModelOptions options;
  options.preset = "tiny";
  options.seed = 7;
  auto m = MakeTestModel(options, "tp_collectives");
  ASSERT_NE(m, nullptr);
  const int n = 4;
  std::vector<std::vector<Collective>> logs(n);
  auto tp = MakeTp(m->weights, n, 16, 64, [&](int size) {
    std::vector<std::unique_ptr<Communicator>> wrapped;
    for (auto& c : backend::parallel::ThreadCommunicator::CreateGroup(size)) {
      const int r = c->rank();
      wrapped.push_back(std::make_unique<RecordingCommunicator>(std::move(c), &logs[r]));
    }
    return wrapped;
  });
  ASSERT_TRUE(tp.ok()) << tp.status().ToString();
  const int64_t vocab = m->config.vocab_size, h = m->config.hidden_size;
  const int64_t layers = m->config.num_layers;

  // A prefill of 13 beside a decode step, then the prefill in chunks of 5 and 8,
  // a copied page and pages moved through host memory, and a refused batch.
  const std::vector<int32_t> a = RandomTokens(13, vocab, 1), b = RandomTokens(1, vocab, 2);
  const std::vector<int32_t> pa = Iota(0, 1), pb = Iota(1, 1), pc = Iota(2, 1);
  std::vector<float> logits;
  std::vector<int64_t> sizes;  // tokens of each Forward that ran
  SequenceInput fill{b, 0, pb, 0};
  ASSERT_TRUE((*tp)->Forward({&fill, 1}, &logits).ok());
  sizes.push_back(1);
  SequenceInput batch[2] = {{a, 0, pa, 13}, {b, 1, pb, 1}};
  ASSERT_TRUE((*tp)->Forward(batch, &logits).ok());
  sizes.push_back(14);
  for (auto [start, len] : {std::pair<int64_t, int64_t>{0, 5}, {5, 8}}) {
    SequenceInput part{std::span(a).subspan(start, len), start, pc, 1};
    ASSERT_TRUE((*tp)->Forward({&part, 1}, &logits).ok());
    sizes.push_back(len);
  }
  ASSERT_TRUE((*tp)->CopyPage(0, 3, 13).ok());
  auto host = (*tp)->AllocateHost(static_cast<size_t>((*tp)->page_bytes()));
  std::byte* out[1] = {host.get()};
  const std::byte* in[1] = {host.get()};
  const int32_t page[1] = {2}, other[1] = {5};
  ASSERT_TRUE((*tp)->ExportPages(page, out).ok());
  ASSERT_TRUE((*tp)->ImportPages(other, in).ok());
  const std::vector<int32_t> bad = {static_cast<int32_t>(vocab)};
  SequenceInput refused{bad, 0, pa, 1};
  EXPECT_EQ((*tp)->Forward({&refused, 1}, &logits).code(), StatusCode::kInvalidArgument);

  std::vector<Collective> want;
  for (int64_t t : sizes) {
    for (int64_t l = 0; l < 2 * layers; ++l) want.push_back({false, t * h});
  }
  for (int r = 0; r < n; ++r) EXPECT_EQ(logs[r], want) << "rank " << r;

  // The ranks' pages together: TP page bytes are the ranks' summed, and the
  // export is rank 0's bytes, then rank 1's, ...
  int64_t sum = 0;
  for (int r = 0; r < n; ++r) sum += (*tp)->rank(r).page_bytes();
  EXPECT_EQ((*tp)->page_bytes(), sum);
  EXPECT_EQ(sum, 2 * m->backend->page_bytes());  // 2 KV heads, each on 2 of the 4 ranks
  std::vector<std::byte> rank_bytes(static_cast<size_t>((*tp)->rank(1).page_bytes()));
  std::byte* rank_out[1] = {rank_bytes.data()};
  ASSERT_TRUE((*tp)->rank(1).ExportPages(page, rank_out).ok());
  EXPECT_EQ(0, std::memcmp(rank_bytes.data(), host.get() + (*tp)->rank(0).page_bytes(),
                           rank_bytes.size()));
}

TEST(TensorParallelCollectivesTest, OnlyRankZeroComputesLogits) {
  model::MakeModelOptions options;
  options.preset = "tiny";
  options.seed = 7;
  auto m = MakeTestModel(options, "tp_head");
  ASSERT_NE(m, nullptr);
  auto tp = MakeTp(m->weights, 2);
  ASSERT_TRUE(tp.ok());
  const auto& rank1 = static_cast<const backend::cpu::CpuBackend&>((*tp)->rank(1));
  const auto& rank0 = static_cast<const backend::cpu::CpuBackend&>((*tp)->rank(0));
  const uint64_t head = static_cast<uint64_t>(m->config.vocab_size * m->config.hidden_size);
  EXPECT_EQ(rank0.matmul_params() + rank1.matmul_params(), m->backend->matmul_params());
  EXPECT_EQ(rank0.matmul_params(), rank1.matmul_params() + head);
  // Straight to rank 1 (the group's other rank never joins: nothing may get
  // as far as a collective): refused before any work.
  const std::vector<int32_t> tokens = {1, 2, 3}, pages = Iota(0, 1);
  SequenceInput seq{tokens, 0, pages, 1};
  std::vector<float> logits;
  EXPECT_EQ((*tp)->rank(1).Forward({&seq, 1}, &logits).code(), StatusCode::kFailedPrecondition);
}

TEST(TensorParallelCollectivesTest, RefusesSizesTheModelCannotSplit) {
  model::MakeModelOptions options;
  options.preset = "tiny";  // 4 heads, 2 KV heads
  options.seed = 7;
  auto m = MakeTestModel(options, "tp_refused");
  ASSERT_NE(m, nullptr);
  for (int n : {0, 3, 8}) {
    auto tp = MakeTp(m->weights, n);
    ASSERT_FALSE(tp.ok()) << n;
    EXPECT_EQ(tp.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(tp.status().message().find("tensor parallel size " + std::to_string(n)),
              std::string::npos)
        << tp.status().message();
  }
}

}  // namespace
}  // namespace radixlm::testing
