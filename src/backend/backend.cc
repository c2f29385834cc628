#include "backend/backend.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string>

namespace radixlm::backend {

Status ValidateBatch(std::span<const SequenceInput> batch, const model::ModelConfig& config,
                     int64_t page_size, int64_t num_pages, bool chooses_tokens, int64_t futures) {
  for (size_t s = 0; s < batch.size(); ++s) {
    const SequenceInput& seq = batch[s];
    const std::string where = "sequence " + std::to_string(s) + ": ";
    const int64_t n = static_cast<int64_t>(seq.tokens.size());
    if (seq.start < 0) return InvalidArgumentError(where + "negative start");
    if (seq.num_logits < 0 || seq.num_logits > n) {
      return InvalidArgumentError(where + std::to_string(seq.num_logits) + " logits asked for " +
                                  std::to_string(n) + " new tokens");
    }
    if (seq.sampling != nullptr) {
      if (!chooses_tokens)
        return InvalidArgumentError(where + "this backend does not choose tokens");
      if (seq.num_logits != 1)
        return InvalidArgumentError(where + "row sampling needs exactly one logit row");
      Status valid = seq.sampling->Validate(config.vocab_size);
      if (!valid.ok()) return InvalidArgumentError(where + valid.message());
    }
    if (seq.prompt_logprobs != nullptr) {
      if (!chooses_tokens)
        return InvalidArgumentError(where + "this backend does not compute prompt logprobs");
      Status valid = seq.prompt_logprobs->Validate(config.vocab_size, n);
      if (!valid.ok()) return InvalidArgumentError(where + valid.message());
    }
    const int64_t end = seq.start + n;
    if (end > config.max_position_embeddings) {
      return InvalidArgumentError(where + std::to_string(end) + " tokens exceed the context of " +
                                  std::to_string(config.max_position_embeddings));
    }
    if (static_cast<int64_t>(seq.page_table.size()) * page_size < end) {
      return InvalidArgumentError(where + "page table of " + std::to_string(seq.page_table.size()) +
                                  " pages cannot hold " + std::to_string(end) + " tokens");
    }
    const int64_t pages_used = (end + page_size - 1) / page_size;
    for (int64_t i = 0; i < pages_used; ++i) {
      if (seq.page_table[i] < 0 || seq.page_table[i] >= num_pages) {
        return InvalidArgumentError(where + "page " + std::to_string(seq.page_table[i]) +
                                    " is outside the pool of " + std::to_string(num_pages));
      }
    }
    for (int32_t t : seq.tokens) {
      if (t < 0 && -1 - static_cast<int64_t>(t) < futures)
        continue;  // FutureToken of the previous step
      if (t < 0 || t >= config.vocab_size) {
        return InvalidArgumentError(where + "token id " + std::to_string(t) +
                                    " is outside the vocabulary of " +
                                    std::to_string(config.vocab_size));
      }
    }
  }
  return OkStatus();
}

Status Backend::ExportPages(std::span<const int32_t>, std::span<std::byte* const>) {
  return UnimplementedError(std::string(name()) + " backend cannot move KV pages to the host");
}

Status Backend::ImportPages(std::span<const int32_t>, std::span<const std::byte* const>) {
  return UnimplementedError(std::string(name()) + " backend cannot move KV pages from the host");
}

Backend::HostMemory Backend::AllocateHost(size_t bytes) {
  constexpr size_t kAlign = 4096;
  const size_t rounded = (std::max<size_t>(bytes, 1) + kAlign - 1) / kAlign * kAlign;
  return HostMemory(static_cast<std::byte*>(std::aligned_alloc(kAlign, rounded)),
                    [](std::byte* p) { std::free(p); });
}

Status Backend::Launch(std::span<const SequenceInput> batch) {
  if (done_.size() >= 2) return FailedPreconditionError("two steps are in flight already");
  RETURN_IF_ERROR(
      ValidateBatch(batch, config(), page_size(), num_pages(), chooses_tokens(), last_choices_));
  // Futures become the ids the previous batch chose (written there by now).
  // (A moved vector keeps its buffer, so the spans stay valid as `resolved` grows.)
  std::vector<std::vector<int32_t>> resolved;
  std::vector<SequenceInput> inputs(batch.begin(), batch.end());
  for (SequenceInput& in : inputs) {
    if (std::none_of(in.tokens.begin(), in.tokens.end(), [](int32_t t) { return t < 0; })) continue;
    std::vector<int32_t>& tokens = resolved.emplace_back(in.tokens.begin(), in.tokens.end());
    for (int32_t& t : tokens) {
      if (t < 0) t = last_ids_[static_cast<size_t>(-1 - t)];
    }
    in.tokens = tokens;
  }
  Done d;
  const auto start = std::chrono::steady_clock::now();
  d.status = Forward(inputs, &d.logits);
  // The caller's thread is the device here: the forward is the device's time.
  device_ns_ +=
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start)
          .count();
  if (!d.status.ok()) return d.status;  // nothing in flight
  last_ids_.clear();
  for (const SequenceInput& in : batch) {
    if (in.sampling != nullptr)
      last_ids_.insert(last_ids_.end(), in.sampling->chosen.begin(), in.sampling->chosen.end());
  }
  last_choices_ = static_cast<int64_t>(last_ids_.size());
  done_.push_back(std::move(d));
  return OkStatus();
}

Status Backend::Wait(std::vector<float>* logits) {
  if (done_.empty()) return FailedPreconditionError("no step is in flight");
  Done d = std::move(done_.front());
  done_.erase(done_.begin());
  logits->swap(d.logits);
  return d.status;
}

}  // namespace radixlm::backend
