#include "backend/backend.h"

#include <string>

namespace radixlm::backend {

Status ValidateBatch(std::span<const SequenceInput> batch, const model::ModelConfig& config,
                     int64_t page_size, int64_t num_pages, bool chooses_tokens) {
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
      if (t < 0 || t >= config.vocab_size) {
        return InvalidArgumentError(where + "token id " + std::to_string(t) +
                                    " is outside the vocabulary of " +
                                    std::to_string(config.vocab_size));
      }
    }
  }
  return OkStatus();
}

}  // namespace radixlm::backend
