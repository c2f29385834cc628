// FakeBackend: a Backend with no model, for scheduler tests.
//
// Its "KV" is the token itself, written into the page slot of each position; the
// logits at a position are a pseudo-random function of every token read back
// through the page table up to that position. So a sequence gets the logits of
// its own token history only if its pages hold exactly that history: a wrong page
// table, a missed or wrong copy-on-write, a page freed and reused while still
// read, all change the logits, and the generated text with them. Reference()
// computes the same logits from the token list directly. Its "hidden state" at a
// position is four numbers drawn from the same history hash (ReferenceEmbedding
// gives the unit-length sum a prompt's embedding should be).
// With `chooses` on it samples rows itself (backend::SampleRow), as the CUDA
// backend does on the device, so the engine's delegated path runs against it,
// and computes prompt-logprob figures (backend::ComputePromptRow of each asked
// row's logits).
// With `overlaps` on it defers like a device: Launch only queues the step (its
// tables copied, as an upload would), CopyPage queues too, and the queue runs in
// order when Wait asks for a step's results, FutureTokens read from the step
// run before. A scheduler that read results before Wait, fed the wrong future,
// or handed a step a page table that changed meanwhile gets wrong tokens.
#pragma once

#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "backend/backend.h"
#include "model/config.h"

namespace radixlm::testing {

class FakeBackend final : public backend::Backend {
 public:
  FakeBackend(int64_t vocab, int64_t max_context, int64_t page_size, int64_t num_pages,
              bool chooses = false, bool overlaps = false)
      : page_size_(page_size),
        num_pages_(num_pages),
        chooses_(chooses),
        overlaps_(overlaps),
        slots_(static_cast<size_t>(page_size * num_pages), -1) {
    config_.vocab_size = vocab;
    config_.max_position_embeddings = max_context;
    config_.hidden_size = kHidden;
  }

  std::string_view name() const override { return "fake"; }
  const model::ModelConfig& config() const override { return config_; }
  int64_t page_size() const override { return page_size_; }
  int64_t num_pages() const override { return num_pages_; }
  bool chooses_tokens() const override { return chooses_; }
  bool overlaps() const override { return overlaps_; }

  Status Launch(std::span<const backend::SequenceInput> batch) override {
    if (!overlaps_) return Backend::Launch(batch);
    if (launched_.size() >= 2) return FailedPreconditionError("two steps are in flight already");
    RETURN_IF_ERROR(backend::ValidateBatch(batch, config_, page_size_, num_pages_, chooses_,
                                           launched_choices_));
    Op op;
    op.step = true;
    for (const auto& in : batch) {
      op.inputs.push_back({std::vector<int32_t>(in.tokens.begin(), in.tokens.end()), in.start,
                           std::vector<int32_t>(in.page_table.begin(), in.page_table.end()),
                           in.num_logits, in.hidden_sum, in.sampling, in.prompt_logprobs});
    }
    launched_choices_ = 0;
    for (const auto& in : batch) {
      if (in.sampling != nullptr)
        launched_choices_ += static_cast<int64_t>(in.sampling->choices.size());
    }
    queue_.push_back(std::move(op));
    launched_.push_back(ran_ + static_cast<int64_t>(queue_.size()) - 1);
    max_in_flight_ = std::max<int64_t>(max_in_flight_, static_cast<int64_t>(launched_.size()));
    return OkStatus();
  }

  Status Wait(std::vector<float>* logits) override {
    if (!overlaps_) return Backend::Wait(logits);
    if (launched_.empty()) return FailedPreconditionError("no step is in flight");
    const int64_t target = launched_.front();
    launched_.erase(launched_.begin());
    // Run the queue in order up to the step asked for.
    while (ran_ <= target) {
      Op op = std::move(queue_.front());
      queue_.erase(queue_.begin());
      ++ran_;
      if (!op.step) {
        RETURN_IF_ERROR(RunCopy(op.src, op.dst, op.slots));
        continue;
      }
      std::vector<backend::SequenceInput> inputs;
      for (Input& in : op.inputs) {
        for (int32_t& t : in.tokens) {
          if (t < 0) t = ran_ids_[static_cast<size_t>(-1 - t)];
        }
        backend::SequenceInput s{in.tokens, in.start, in.page_table, in.num_logits, in.hidden_sum};
        s.sampling = in.sampling;
        s.prompt_logprobs = in.prompt_logprobs;
        inputs.push_back(s);
      }
      std::vector<float> out;
      RETURN_IF_ERROR(Forward(inputs, &out));
      ran_ids_.clear();
      for (const auto& in : inputs) {
        if (in.sampling != nullptr) {
          ran_ids_.insert(ran_ids_.end(), in.sampling->chosen.begin(), in.sampling->chosen.end());
        }
      }
      if (ran_ == target + 1) logits->swap(out);
    }
    return OkStatus();
  }

  Status Forward(std::span<const backend::SequenceInput> batch,
                 std::vector<float>* logits) override {
    RETURN_IF_ERROR(backend::ValidateBatch(batch, config_, page_size_, num_pages_, chooses_));
    ++forwards_;
    logits->clear();
    int64_t prefill = 0;
    for (const auto& seq : batch) {
      if (seq.tokens.size() > 1) prefill += static_cast<int64_t>(seq.tokens.size());
    }
    step_prefill_.push_back(prefill);
    if (decode_step_ns_ > 0) model_ns_ += decode_step_ns_ + prefill * token_ns_;
    for (const auto& seq : batch) {
      computed_tokens_ += static_cast<int64_t>(seq.tokens.size());
      max_batch_tokens_ =
          std::max<int64_t>(max_batch_tokens_, static_cast<int64_t>(seq.tokens.size()));
      for (size_t i = 0; i < seq.tokens.size(); ++i)
        Slot(seq.page_table, seq.start + static_cast<int64_t>(i)) = seq.tokens[i];
      const int64_t end = seq.start + static_cast<int64_t>(seq.tokens.size());
      auto history = [&](int64_t p) {
        uint64_t h = 1469598103934665603ull;
        for (int64_t q = 0; q <= p; ++q) h = Mix(h, static_cast<uint32_t>(Slot(seq.page_table, q)));
        return h;
      };
      for (int64_t p = end - seq.num_logits; p < end; ++p) {
        if (seq.sampling != nullptr) {
          std::vector<float> row;
          AppendLogits(history(p), &row);
          backend::SampleRow(row, *seq.sampling);
          ++sampled_rows_;
          continue;
        }
        AppendLogits(history(p), logits);
      }
      if (seq.hidden_sum != nullptr) {
        for (int64_t p = seq.start; p < end; ++p) AddHidden(history(p), seq.hidden_sum);
      }
      if (const backend::PromptLogprobs* pl = seq.prompt_logprobs; pl != nullptr) {
        for (size_t j = 0; j < pl->targets.size(); ++j) {
          std::vector<float> row;
          AppendLogits(history(seq.start + pl->first + static_cast<int64_t>(j)), &row);
          backend::ComputePromptRow(row, pl->targets[j], pl->top_logprobs, &pl->out[j]);
          ++prompt_rows_;
        }
      }
    }
    return OkStatus();
  }

  Status CopyPage(int32_t src, int32_t dst, int64_t slots) override {
    if (src < 0 || dst < 0 || src >= num_pages_ || dst >= num_pages_ || slots > page_size_) {
      return InvalidArgumentError("bad page copy");
    }
    if (overlaps_ && !queue_.empty()) {  // after every step launched before
      Op op;
      op.src = src, op.dst = dst, op.slots = slots;
      queue_.push_back(std::move(op));
      return OkStatus();
    }
    return RunCopy(src, dst, slots);
  }

  Status RunCopy(int32_t src, int32_t dst, int64_t slots) {
    ++copies_;
    for (int64_t s = 0; s < slots; ++s)
      slots_[static_cast<size_t>(dst * page_size_ + s)] =
          slots_[static_cast<size_t>(src * page_size_ + s)];
    return OkStatus();
  }

  // The logits after `tokens` (the row Forward gives for the last of them).
  std::vector<float> Reference(std::span<const int32_t> tokens) const {
    uint64_t h = 1469598103934665603ull;
    for (int32_t t : tokens) h = Mix(h, static_cast<uint32_t>(t));
    std::vector<float> out;
    AppendLogits(h, &out);
    return out;
  }

  // The embedding of a prompt: its positions' hidden states summed, at unit length.
  std::vector<float> ReferenceEmbedding(std::span<const int32_t> tokens) const {
    std::vector<float> sum(kHidden, 0.0f);
    uint64_t h = 1469598103934665603ull;
    for (int32_t t : tokens) {
      h = Mix(h, static_cast<uint32_t>(t));
      AddHidden(h, sum.data());
    }
    double norm = 0;
    for (float x : sum) norm += static_cast<double>(x) * x;
    for (float& x : sum) x = static_cast<float>(x / std::sqrt(norm));
    return sum;
  }

  // A device clock for StepCost: each step costs `decode_step_ns` plus
  // `token_ns` per token of its multi-token rows (device_ns reports this sum).
  void SetStepCosts(int64_t decode_step_ns, int64_t token_ns) {
    decode_step_ns_ = decode_step_ns;
    token_ns_ = token_ns;
  }
  int64_t device_ns() const override {
    return decode_step_ns_ > 0 ? model_ns_ : Backend::device_ns();
  }
  // Per forward, the tokens of its multi-token rows.
  const std::vector<int64_t>& step_prefill() const { return step_prefill_; }

  int64_t computed_tokens() const { return computed_tokens_; }
  int64_t forwards() const { return forwards_; }
  int64_t copies() const { return copies_; }
  int64_t max_batch_tokens() const { return max_batch_tokens_; }
  int64_t sampled_rows() const { return sampled_rows_; }
  int64_t max_in_flight() const { return max_in_flight_; }
  int64_t prompt_rows() const { return prompt_rows_; }

 private:
  int64_t decode_step_ns_ = 0, token_ns_ = 0, model_ns_ = 0;
  std::vector<int64_t> step_prefill_;

  static uint64_t Mix(uint64_t h, uint32_t v) {
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    h *= 0xff51afd7ed558ccdull;
    return h ^ (h >> 33);
  }
  void AppendLogits(uint64_t h, std::vector<float>* out) const {
    // Printable bytes only, so generated text is plain ASCII (special tokens
    // and control bytes get very low logits).
    for (int64_t v = 0; v < config_.vocab_size; ++v) {
      uint64_t x = Mix(h, static_cast<uint32_t>(v));
      float logit = static_cast<float>(x >> 40) / static_cast<float>(1 << 24) * 6.0f - 3.0f;
      if (v < 32 || v >= 127) logit = -30.0f;
      out->push_back(logit);
    }
  }
  static void AddHidden(uint64_t h, float* sum) {
    for (int i = 0; i < kHidden; ++i) {
      sum[i] += static_cast<float>(Mix(h, 1000u + static_cast<uint32_t>(i)) >> 40) /
                    static_cast<float>(1 << 24) -
                0.5f;
    }
  }
  int32_t& Slot(std::span<const int32_t> table, int64_t pos) {
    return slots_[static_cast<size_t>(table[static_cast<size_t>(pos / page_size_)] * page_size_ +
                                      pos % page_size_)];
  }

  static constexpr int kHidden = 4;
  model::ModelConfig config_;
  int64_t page_size_, num_pages_;
  bool chooses_ = false, overlaps_ = false;
  // Deferred mode: steps and copies in launch order, not yet run.
  struct Input {
    std::vector<int32_t> tokens;
    int64_t start;
    std::vector<int32_t> page_table;
    int64_t num_logits;
    float* hidden_sum;
    const backend::RowSampling* sampling;
    const backend::PromptLogprobs* prompt_logprobs;
  };
  struct Op {
    bool step = false;
    std::vector<Input> inputs;
    int32_t src = 0, dst = 0;
    int64_t slots = 0;
  };
  std::vector<Op> queue_;
  int64_t ran_ = 0;                // ops run so far (queue_ starts at op ran_)
  std::vector<int64_t> launched_;  // op numbers of the steps not waited for
  int64_t launched_choices_ = 0;   // of the step launched last
  std::vector<int32_t> ran_ids_;   // ids the step run last chose
  int64_t max_in_flight_ = 0;
  std::vector<int32_t> slots_;
  int64_t computed_tokens_ = 0, forwards_ = 0, copies_ = 0, max_batch_tokens_ = 0,
          sampled_rows_ = 0, prompt_rows_ = 0;
};

}  // namespace radixlm::testing
