#include "backend/parallel/tensor_parallel_backend.h"

#include <algorithm>
#include <string>

namespace radixlm::backend::parallel {

Status TensorParallelOptions::Validate() const {
  if (size < 1) {
    return InvalidArgumentError("tensor parallel size " + std::to_string(size) +
                                ": must be at least 1");
  }
  if (!make_rank) return InvalidArgumentError("tensor parallel: no rank factory");
  return OkStatus();
}

TensorParallelBackend::TensorParallelBackend(ShardPlan plan)
    : plan_(std::move(plan)), threads_(plan_.size()) {}

TensorParallelBackend::~TensorParallelBackend() = default;

StatusOr<std::unique_ptr<TensorParallelBackend>> TensorParallelBackend::Create(
    const model::ModelWeights& weights, const TensorParallelOptions& options) {
  RETURN_IF_ERROR(options.Validate());
  ASSIGN_OR_RETURN(ShardPlan plan, ShardPlan::Create(weights.config, options.size));
  std::unique_ptr<TensorParallelBackend> b(new TensorParallelBackend(std::move(plan)));
  const int n = options.size;
  b->communicators_ = options.make_communicators ? options.make_communicators(n)
                                                 : ThreadCommunicator::CreateGroup(n);
  if (static_cast<int>(b->communicators_.size()) != n) {
    return InternalError("tensor parallel: " + std::to_string(b->communicators_.size()) +
                         " communicators for " + std::to_string(n) + " ranks");
  }
  for (int r = 0; r < n; ++r) {
    const Communicator& c = *b->communicators_[static_cast<size_t>(r)];
    if (c.rank() != r || c.size() != n) {
      return InternalError("tensor parallel: communicator " + std::to_string(r) + " is rank " +
                           std::to_string(c.rank()) + " of " + std::to_string(c.size()));
    }
  }
  // One rank at a time: a rank's F32 weights are made (and the checkpoint's
  // pages read) before the next starts, so peak memory is one rank's transient.
  for (int r = 0; r < n; ++r) {
    const model::ModelWeights rank_weights = b->plan_.RankWeights(weights, r);
    ASSIGN_OR_RETURN(std::unique_ptr<Backend> rank,
                     options.make_rank(rank_weights, b->plan_.rank(r),
                                       b->communicators_[static_cast<size_t>(r)].get()));
    if (!b->ranks_.empty() && (rank->page_size() != b->ranks_[0]->page_size() ||
                               rank->num_pages() != b->ranks_[0]->num_pages())) {
      return InternalError("tensor parallel: rank " + std::to_string(r) +
                           " has another page size or page count than rank 0");
    }
    b->page_offsets_.push_back(b->page_bytes_);
    b->page_bytes_ += rank->page_bytes();
    b->ranks_.push_back(std::move(rank));
  }
  // A rank that cannot move pages: none can.
  if (std::any_of(b->ranks_.begin(), b->ranks_.end(),
                  [](const std::unique_ptr<Backend>& r) { return r->page_bytes() == 0; })) {
    b->page_bytes_ = 0;
  }
  b->name_ = std::string(b->ranks_[0]->name()) + "-tp" + std::to_string(n);
  b->unused_logits_.resize(static_cast<size_t>(n));
  return b;
}

Status TensorParallelBackend::Forward(std::span<const SequenceInput> batch,
                                      std::vector<float>* logits) {
  RETURN_IF_ERROR(ValidateBatch(batch, config(), page_size(), num_pages(), chooses_tokens()));
  quiet_.assign(batch.begin(), batch.end());
  for (SequenceInput& in : quiet_) {
    in.num_logits = 0;
    in.hidden_sum = nullptr;
    in.sampling = nullptr;
    in.prompt_logprobs = nullptr;
  }
  return threads_.Run([&](int r) {
    if (r == 0) return ranks_[0]->Forward(batch, logits);
    return ranks_[static_cast<size_t>(r)]->Forward(quiet_, &unused_logits_[static_cast<size_t>(r)]);
  });
}

Status TensorParallelBackend::CopyPage(int32_t src, int32_t dst, int64_t slots) {
  return threads_.Run(
      [&](int r) { return ranks_[static_cast<size_t>(r)]->CopyPage(src, dst, slots); });
}

Status TensorParallelBackend::ExportPages(std::span<const int32_t> pages,
                                          std::span<std::byte* const> dst) {
  if (pages.size() != dst.size()) return InvalidArgumentError("ExportPages: sizes differ");
  if (page_bytes_ == 0) return Backend::ExportPages(pages, dst);
  return threads_.Run([&](int r) {
    std::vector<std::byte*> mine(dst.begin(), dst.end());
    for (std::byte*& p : mine) p += page_offsets_[static_cast<size_t>(r)];
    return ranks_[static_cast<size_t>(r)]->ExportPages(pages, mine);
  });
}

Status TensorParallelBackend::ImportPages(std::span<const int32_t> pages,
                                          std::span<const std::byte* const> src) {
  if (pages.size() != src.size()) return InvalidArgumentError("ImportPages: sizes differ");
  if (page_bytes_ == 0) return Backend::ImportPages(pages, src);
  return threads_.Run([&](int r) {
    std::vector<const std::byte*> mine(src.begin(), src.end());
    for (const std::byte*& p : mine) p += page_offsets_[static_cast<size_t>(r)];
    return ranks_[static_cast<size_t>(r)]->ImportPages(pages, mine);
  });
}

Status TensorParallelBackend::WaitHostCopies() {
  return threads_.Run([&](int r) { return ranks_[static_cast<size_t>(r)]->WaitHostCopies(); });
}

bool TensorParallelBackend::HostCopyDone(uint64_t mark) {
  for (const std::unique_ptr<Backend>& r : ranks_) {
    if (!r->HostCopyDone(mark)) return false;
  }
  return true;
}

}  // namespace radixlm::backend::parallel
