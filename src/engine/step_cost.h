// StepCost: what a step costs on the device, learnt from the steps that ran,
// for stall-free batching (Sarathi-Serve): beside running decodes, a step
// carries only as many prefill tokens as keep it within a chosen multiple of a
// decode-only step of the same batch (EngineOptions::mixed_step_ratio).
//
// Learnt from the device's own time per step (Backend::device_ns), so the
// figures hold for whatever model, context and kernels run:
//   decode cost   decode-only steps, per batch size in powers of two (1, 2-3,
//                 4-7, ...), an exponential moving average each;
//   token cost    a mixed step's time beyond the decode cost of its batch, per
//                 prefill token (steps with at least kMinSampleTokens of them),
//                 also averaged.
// A batch whose size class has no decode sample yet borrows the nearest smaller
// class's: a lower decode cost only makes the share smaller. A busy server may
// never run a decode-only step at its batch (prefill always waits), so the
// scheduler asks NeedsDecodeSample and makes such a step decode-only: once
// per size class, and again every kRefreshSteps steps as contexts grow.
// Steps are observed in launch order.
//
// Not thread-safe: the scheduler's step thread owns it.
#pragma once

#include <array>
#include <cstdint>

namespace radixlm::engine {

class StepCost {
 public:
  static constexpr int64_t kMinSampleTokens = 16;
  static constexpr double kWeight = 0.125;  // of a new sample in the averages
  static constexpr int64_t kRefreshSteps = 256;

  // A finished step: one-token rows, other (prefill) tokens, its device time.
  void Observe(int64_t decode_rows, int64_t prefill_tokens, double seconds);

  // Prefill tokens a step with `decode_rows` decodes may carry so that it costs
  // at most `ratio` (> 1) times a decode-only step of that batch; -1 while the
  // costs are not known yet (no decode sample at or below the batch, or no
  // mixed step measured).
  int64_t Share(int64_t decode_rows, double ratio) const;

  // The averages (-1: unknown): a decode-only step of `decode_rows` rows, and a
  // prefill token beside decodes.
  double DecodeSeconds(int64_t decode_rows) const;
  double TokenSeconds() const { return token_seconds_; }

  // Whether a step of `decode_rows` decodes should run without prefill, to
  // measure its decode cost: its size class has no sample, or one older than
  // kRefreshSteps steps, and no such step is on its way (ProbeLaunched).
  bool NeedsDecodeSample(int64_t decode_rows) const;
  void ProbeLaunched(int64_t decode_rows);

 private:
  static constexpr int kClasses = 24;
  static int Class(int64_t rows);

  std::array<double, kClasses> decode_seconds_ = MakeUnknown();
  double token_seconds_ = -1;
  int64_t steps_ = 0;  // observed
  // Per class: the step of its last decode sample, and of its last probe.
  std::array<int64_t, kClasses> sampled_at_ = MakeNever();
  std::array<int64_t, kClasses> probed_at_ = MakeNever();

  static constexpr std::array<int64_t, kClasses> MakeNever() {
    std::array<int64_t, kClasses> a{};
    for (int64_t& v : a) v = -(int64_t{1} << 40);
    return a;
  }
  static constexpr std::array<double, kClasses> MakeUnknown() {
    std::array<double, kClasses> a{};
    for (double& v : a) v = -1;
    return a;
  }
};

}  // namespace radixlm::engine
