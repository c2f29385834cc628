// Backend: runs the model over a batch of sequences whose KV cache lives in pages.
//
// Page ids come from the kvcache PagePool; the backend owns the memory they index
// (for every layer, K and V of `page_size` token slots per page). A sequence in a
// batch brings its new tokens, how many tokens of it are already in the KV pages
// (from the prefix cache or from earlier chunks), and the page table that holds
// all of them: position p lives in page page_table[p / page_size], slot
// p % page_size. The backend writes the new tokens' K and V into their slots and
// attends through the page table, so sequences that share prefix pages read the
// same memory. A partly filled page that another sequence shares is copied first
// (CopyPage) and the copy written: copy-on-write of the boundary page.
//
// Every implementation computes each sequence's logits independently of how the
// work was cut: cached or cold, one chunk or many, alone or in a batch give the
// same bits (the CPU backend is bit-exact; see docs/ARCHITECTURE.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "backend/sampling.h"
#include "core/status.h"
#include "model/config.h"

namespace radixlm::backend {

// A token the step launched just before has not handed over yet: the id chosen
// by its choice `choice` (counted over all its rows' choices in batch order).
// Overlapped scheduling (Backend::Launch) feeds a sequence the token it is
// still sampling; the device reads it where it was written.
constexpr int32_t FutureToken(int32_t choice) { return -1 - choice; }

struct SequenceInput {
  std::span<const int32_t> tokens;      // new tokens, at positions [start, start + size); in
                                        // Launch, FutureToken(j) for the previous step's choice j
  int64_t start = 0;                    // tokens already in this sequence's pages
  std::span<const int32_t> page_table;  // pages covering positions [0, start + size)
  int64_t num_logits = 1;               // logits for the last num_logits new tokens (0: none)
  // When set: the final hidden state (after the final norm) of every new token is
  // added into these hidden_size floats, in position order, so a caller summing a
  // prompt over several chunks gets the same bits as over one (embeddings: the
  // mean over the prompt). Host memory.
  float* hidden_sum = nullptr;
  // When set (with num_logits 1, on a backend whose chooses_tokens() is true):
  // the backend samples the sequence's logit row itself (RowSampling,
  // sampling.h: log-probability figures, edits, the token mask, one ChooseToken
  // per choice) and
  // writes the ids and figures there; the row is then left out of Forward's
  // `logits`. On the GPU only ids and the asked-for figures cross to the host.
  const RowSampling* sampling = nullptr;
  // When set (on a backend whose chooses_tokens() is true): log-probability
  // figures of some of the new tokens' rows, computed where the logits are
  // (PromptLogprobs, sampling.h); written by the time the step is waited for.
  const PromptLogprobs* prompt_logprobs = nullptr;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string_view name() const = 0;
  // The number format the model computes in ("f32", "bf16"): with name(), what
  // decides an answer's bits beside the model (the response cache's key).
  virtual std::string_view numeric_format() const { return "f32"; }
  // The number format the KV pool's pages hold: numeric_format() unless the
  // pool is quantized (kKvFormatFp8, "fp8_e4m3": --kv-dtype fp8, kv_dtype.h).
  // With name(), what makes two backends' pages interchangeable (the KV tiers'
  // fingerprint); beside numeric_format(), what decides an answer's bits.
  virtual std::string_view kv_format() const { return numeric_format(); }
  virtual const model::ModelConfig& config() const = 0;
  virtual int64_t page_size() const = 0;
  virtual int64_t num_pages() const = 0;

  // Whether Forward honours SequenceInput::sampling (tokens chosen where the
  // logits are). A backend without it gets none (ValidateBatch refuses them).
  virtual bool chooses_tokens() const { return false; }

  // Runs the batch; `logits` gets one row of vocab_size floats per requested
  // position, sequences in batch order, except the rows of sequences with
  // `sampling`, whose tokens (and figures) go there instead; `prompt_logprobs`
  // figures go where they point. Bad input (token ids past the
  // vocabulary, positions past the context, page tables too short or naming pages outside the pool,
  // more logits than new tokens) is INVALID_ARGUMENT and computes nothing. One thread at a time:
  // backends keep their activations between calls.
  virtual Status Forward(std::span<const SequenceInput> batch, std::vector<float>* logits) = 0;

  // Copies the first `slots` slots of page `src` into page `dst`, every layer.
  // Ordered after every step launched before and before every step launched after.
  virtual Status CopyPage(int32_t src, int32_t dst, int64_t slots) = 0;

  // The KV tiers below the device (engine/kv_tiers.h) keep whole pages: every
  // layer's keys and values of one page, page_bytes() bytes in the backend's
  // own layout and its pool's format, kv_format() (0: this backend cannot move
  // pages).
  // ExportPages copies page pages[i] to host memory at dst[i], ImportPages
  // host memory at src[i] into page pages[i]; both are ordered like CopyPage
  // (after every step launched before, before every step launched after) and
  // may return before the copy is done: the host memory must come from
  // AllocateHost, and it is read or written in that order with the steps and
  // the other copies (so an import from memory an export wrote gets the
  // exported bytes). Pages outside the pool are INVALID_ARGUMENT.
  virtual int64_t page_bytes() const { return 0; }
  virtual Status ExportPages(std::span<const int32_t> pages, std::span<std::byte* const> dst);
  virtual Status ImportPages(std::span<const int32_t> pages, std::span<const std::byte* const> src);
  // Host memory for those copies: page-aligned, pinned on a GPU. Null when the
  // memory cannot be had.
  using HostMemory = std::unique_ptr<std::byte, void (*)(std::byte*)>;
  virtual HostMemory AllocateHost(size_t bytes);
  // Returns once every ExportPages and ImportPages enqueued so far is done, so
  // the host may read what they wrote (the CPU backend's are done on return).
  virtual Status WaitHostCopies() { return OkStatus(); }
  // A mark after every ExportPages and ImportPages enqueued so far, and whether
  // the copies up to a mark are done, without waiting (the CPU backend's are
  // done on return: 0 and true).
  virtual uint64_t HostCopyMark() { return 0; }
  virtual bool HostCopyDone(uint64_t mark) { return true; }

  // Overlapped steps: Launch starts a step and returns; Wait finishes the
  // oldest step launched and not waited for, filling its outputs (the
  // RowSampling ids and figures and the PromptLogprobs figures of its batch,
  // whose memory the caller keeps until then, and `logits`). At most two steps are in flight, so
  // the host prepares step N+1 while the device runs step N; a batch may feed FutureToken(j) of the
  // step launched just before (whose RowSampling choices it counts). A step whose logits or hidden
  // sums cross to the host must be waited for before the next launch. Steps run in launch order, so
  // pages a later step reuses are written after every earlier step is done with them. This default
  // runs Forward at Launch (futures resolved from the previous batch's chosen ids); backends that
  // overlap for real say so in overlaps().
  virtual bool overlaps() const { return false; }
  virtual Status Launch(std::span<const SequenceInput> batch);
  virtual Status Wait(std::vector<float>* logits);
  int64_t steps_in_flight() const { return static_cast<int64_t>(done_.size()); }

  // The device's own time for the steps finished so far, first kernel to last
  // (the default Launch: the time in Forward), for the engine's step breakdown.
  virtual int64_t device_ns() const { return device_ns_; }

 protected:
  int64_t device_ns_ = 0;
  // The default Launch's finished steps, and the ids its last batch chose.
  struct Done {
    Status status;
    std::vector<float> logits;
  };
  std::vector<Done> done_;
  std::vector<int32_t> last_ids_;
  int64_t last_choices_ = 0;  // choices of the step launched last (the futures a launch may name)
};

// Checks a batch against a model and pool; shared by every backend. Row
// sampling and prompt logprobs are refused unless `chooses_tokens`; FutureToken(j) unless j <
// `futures` (the choices of the step launched before: Launch only).
Status ValidateBatch(std::span<const SequenceInput> batch, const model::ModelConfig& config,
                     int64_t page_size, int64_t num_pages, bool chooses_tokens = false,
                     int64_t futures = 0);

}  // namespace radixlm::backend
