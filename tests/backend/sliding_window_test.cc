// Sliding-window attention (model/config.h) on the CPU backend: logits against
// the reference forward (which masks by its own loop bounds) with the window
// shorter than the prompt, the window shown to matter (the logits past it are
// not full attention's), and the invariance guarantee with a window: the same
// bits, hence the same greedy ids, whether the prompt is prefilled whole, in
// chunks, after a cached prefix longer than the window, or in a batch.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "backend/backend_cases.h"
#include "backend/cpu/cpu_backend.h"
#include "backend/reference_forward.h"
#include "backend/test_model.h"

namespace radixlm::testing {
namespace {

using backend::SequenceInput;

struct WindowCase {
  const char* name;
  const char* arch;
  model::DType dtype;
  int64_t kv_heads;
  int64_t window;           // --sliding-window; -1: the preset's (mistral tiny: 32)
  int64_t expect_window;    // what the config must say
  const char* config_from;  // config.json edit
  const char* config_to;
  bool first_layer_windowed;  // false: layer 0 has full attention (Qwen2's max_window_layers)
};

const WindowCase kWindowCases[] = {
    {"mistral_f32", "mistral", model::DType::kF32, 0, -1, 32, "", "", true},
    {"mistral_bf16_mqa", "mistral", model::DType::kBF16, 1, -1, 32, "", "", true},
    // Not a multiple of the page size (16) nor of the query block (16).
    {"mistral_window_21", "mistral", model::DType::kF32, 0, 21, 21, "", "", true},
    // Each query sees only itself.
    {"mistral_window_1", "mistral", model::DType::kF32, 4, 1, 1, "", "", true},
    // Qwen2 with use_sliding_window: layer 0 full attention, layer 1 windowed.
    {"qwen2_mixed_layers", "qwen2", model::DType::kF32, 0, 24, 24, "\"max_window_layers\":0",
     "\"max_window_layers\":1", false},
};

void PrintTo(const WindowCase& c, std::ostream* os) { *os << c.name; }

class SlidingWindowTest : public ::testing::TestWithParam<WindowCase> {
 protected:
  void SetUp() override {
    const WindowCase& c = GetParam();
    model::MakeModelOptions options;
    options.arch = c.arch;
    options.preset = "tiny";
    options.seed = 7;
    options.dtype = c.dtype;
    options.num_kv_heads = c.kv_heads;
    options.sliding_window = c.window;
    m_ = MakeTestModel(options, std::string("swa_") + c.name, kPageSize, 256, c.config_from,
                       c.config_to);
    ASSERT_NE(m_, nullptr);
    vocab_ = m_->config.vocab_size;
    ASSERT_EQ(m_->config.sliding_window, c.expect_window);
    ASSERT_EQ(m_->config.LayerWindow(0), c.first_layer_windowed ? c.expect_window : 0);
    ASSERT_EQ(m_->config.LayerWindow(1), c.expect_window);
  }

  std::vector<float> Run(std::span<const SequenceInput> batch) {
    std::vector<float> logits;
    Status status = m_->backend->Forward(batch, &logits);
    EXPECT_TRUE(status.ok()) << status.ToString();
    return logits;
  }
  std::vector<float> Rows(const std::vector<float>& all, int64_t first, int64_t n) const {
    return std::vector<float>(all.begin() + first * vocab_, all.begin() + (first + n) * vocab_);
  }
  static bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
  }

  // Max |a - b| / max |b| over rows [first, first + n).
  double RelativeError(const std::vector<float>& a, const std::vector<double>& b, int64_t first,
                       int64_t n) const {
    double max_ref = 0, max_err = 0;
    for (int64_t i = first * vocab_; i < (first + n) * vocab_; ++i) {
      max_ref = std::max(max_ref, std::abs(b[static_cast<size_t>(i)]));
      max_err = std::max(max_err, std::abs(b[static_cast<size_t>(i)] - a[static_cast<size_t>(i)]));
    }
    return max_ref > 0 ? max_err / max_ref : INFINITY;
  }

  static constexpr int64_t kPageSize = 16;
  std::unique_ptr<TestModel> m_;
  int64_t vocab_ = 0;
};

TEST_P(SlidingWindowTest, MatchesReferenceForwardPastTheWindow) {
  const int64_t n = 100;  // three windows of 32 and more
  const std::vector<int32_t> tokens = RandomTokens(n, vocab_, 1);
  const std::vector<int32_t> pages = Iota(0, 7);
  SequenceInput seq{tokens, 0, pages, n};
  const std::vector<float> logits = Run({&seq, 1});
  const std::vector<double> ref = ReferenceForward(m_->weights, tokens);
  ASSERT_EQ(logits.size(), ref.size());
  const double err = RelativeError(logits, ref, 0, n);
  std::printf("relative error %.3g against the reference\n", err);
  EXPECT_LE(err, 1e-4);

  // The window matters: with it removed, the reference agrees where no query
  // reaches past the window and disagrees beyond.
  model::ModelWeights full = m_->weights;
  full.config.sliding_window = 0;
  full.config.window_layers.clear();
  const std::vector<double> unwindowed = ReferenceForward(full, tokens);
  const int64_t w = GetParam().expect_window;
  EXPECT_LE(RelativeError(logits, unwindowed, 0, w), 1e-4) << "inside the first window";
  const double past = RelativeError(logits, unwindowed, w, n - w);
  std::printf("full attention differs by %.3g past the window\n", past);
  EXPECT_GT(past, 1e-2) << "the window changed nothing";
}

// Decode steps (one token over a long cached history) against the reference.
TEST_P(SlidingWindowTest, DecodeStepsMatchReference) {
  const int64_t n = 80;
  const std::vector<int32_t> tokens = RandomTokens(n, vocab_, 3);
  const std::vector<int32_t> pages = Iota(0, 5);
  SequenceInput prefill{std::span(tokens).first(60), 0, pages, 0};
  Run({&prefill, 1});
  std::vector<float> decoded;
  for (int64_t p = 60; p < n; ++p) {
    SequenceInput step{std::span(tokens).subspan(static_cast<size_t>(p), 1), p, pages, 1};
    const std::vector<float> out = Run({&step, 1});
    decoded.insert(decoded.end(), out.begin(), out.end());
  }
  const std::vector<double> ref = ReferenceForward(m_->weights, tokens);
  const std::vector<double> tail(ref.begin() + 60 * vocab_, ref.end());
  EXPECT_LE(RelativeError(decoded, tail, 0, n - 60), 1e-4);
}

TEST_P(SlidingWindowTest, LogitsAreIdenticalHoweverTheWorkIsCut) {
  const int64_t n = 100;
  const std::vector<int32_t> prompt = RandomTokens(n, vocab_, 2);
  const std::vector<int32_t> cold_pages = Iota(0, 7);
  SequenceInput cold{prompt, 0, cold_pages, n};
  const std::vector<float> reference = Run({&cold, 1});

  for (int64_t chunk : {1, 5, 7, 33, 64}) {
    const std::vector<int32_t> pages = Iota(10, 7);
    std::vector<float> rows;
    for (int64_t start = 0; start < n; start += chunk) {
      const int64_t len = std::min(chunk, n - start);
      SequenceInput part{std::span(prompt).subspan(start, len), start, pages, len};
      const std::vector<float> out = Run({&part, 1});
      rows.insert(rows.end(), out.begin(), out.end());
    }
    EXPECT_TRUE(SameBits(rows, reference)) << "chunks of " << chunk;
  }

  {  // Batched beside a prefill and a decode step of other sequences.
    const std::vector<int32_t> other = RandomTokens(37, vocab_, 3);
    const std::vector<int32_t> decode = RandomTokens(1, vocab_, 4);
    const std::vector<int32_t> other_pages = Iota(30, 3), decode_pages = Iota(40, 4),
                               pages = Iota(50, 7);
    const std::vector<int32_t> history = RandomTokens(50, vocab_, 5);
    SequenceInput fill{history, 0, decode_pages, 0};
    Run({&fill, 1});
    SequenceInput batch[3] = {
        {other, 0, other_pages, 5}, {prompt, 0, pages, n}, {decode, 50, decode_pages, 1}};
    const std::vector<float> out = Run(batch);
    ASSERT_EQ(out.size(), static_cast<size_t>((5 + n + 1) * vocab_));
    EXPECT_TRUE(SameBits(Rows(out, 5, n), reference)) << "batched";
  }

  // Prefixes from the cache longer than the window (the pages before the window
  // stay in the table; the window only masks them), ending on a page boundary
  // and inside a page (copied first).
  for (int64_t shared : {64, 50, 81}) {
    std::vector<int32_t> table;
    ASSERT_NO_FATAL_FAILURE(CachedPrefixTable(*m_->backend, prompt, shared, &table));
    SequenceInput rest{std::span(prompt).subspan(shared), shared, table, n - shared};
    EXPECT_TRUE(SameBits(Run({&rest, 1}), Rows(reference, shared, n - shared)))
        << "prefix of " << shared << " from the cache";
  }
}

// Greedy decoding well past the window: the same ids whether the prompt was
// prefilled whole, in chunks of 7, or after a cached prefix.
TEST_P(SlidingWindowTest, GreedyIdsAgreeHoweverThePromptIsCut) {
  const int64_t n = 45, steps = 40;
  const std::vector<int32_t> prompt = RandomTokens(n, vocab_, 11);
  auto decode = [&](std::vector<float> logits, const std::vector<int32_t>& pages) {
    std::vector<int32_t> seq = prompt;
    for (int64_t i = 0; i < steps; ++i) {
      seq.push_back(
          static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin()));
      SequenceInput step{std::span(seq).last(1), static_cast<int64_t>(seq.size()) - 1, pages, 1};
      logits = Run({&step, 1});
    }
    return std::vector<int32_t>(seq.begin() + n, seq.end());
  };
  const int64_t table_pages = (n + steps + kPageSize - 1) / kPageSize;
  auto prefill = [&](int64_t chunk, const std::vector<int32_t>& pages, int64_t from) {
    std::vector<float> logits;
    for (int64_t start = from; start < n; start += chunk) {
      const int64_t len = std::min(chunk, n - start);
      SequenceInput part{std::span(prompt).subspan(start, len), start, pages, 1};
      logits = Run({&part, 1});
    }
    return logits;
  };
  const std::vector<int32_t> whole_pages = Iota(0, table_pages);
  const std::vector<int32_t> whole = decode(prefill(n, whole_pages, 0), whole_pages);
  const std::vector<int32_t> chunked_pages = Iota(100, table_pages);
  EXPECT_EQ(decode(prefill(7, chunked_pages, 0), chunked_pages), whole) << "chunks of 7";

  // 40 tokens from the cache (a page copied at the boundary), then the rest.
  std::vector<int32_t> extended = prompt;
  extended.resize(static_cast<size_t>(n + steps), 0);  // room in the table for the decode steps
  std::vector<int32_t> table;
  ASSERT_NO_FATAL_FAILURE(CachedPrefixTable(*m_->backend, extended, 40, &table));
  EXPECT_EQ(decode(prefill(n, table, 40), table), whole) << "after a cached prefix";
}

INSTANTIATE_TEST_SUITE_P(Windows, SlidingWindowTest, ::testing::ValuesIn(kWindowCases),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace radixlm::testing
