// Communicator: the collectives tensor-parallel ranks need, one object per rank.
//
// Every rank of a group calls the same collectives in the same order with the
// same sizes (the ranks run the same program on the same batch); a collective
// returns on a rank once every rank has joined it. A rank's communicator is
// used by one thread at a time (the thread running that rank).
//
// Implementations: ThreadCommunicator (ranks as threads of one process, host
// memory; below) and, in CUDA builds, backend/cuda/nccl_communicator.h (device
// memory, NCCL loaded at run time).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/status.h"

namespace radixlm::backend::parallel {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // data[0, count) becomes, on every rank, the elementwise sum of every rank's
  // data[0, count). In place; count must be the same on every rank.
  virtual Status AllReduceSum(float* data, int64_t count) = 0;
  // Returns once every rank has called it.
  virtual Status Barrier() = 0;
};

// Ranks as threads of one process. The sum is taken in rank order for every
// element, ((d0 + d1) + d2) + ..., so its bits depend only on the ranks'
// inputs: the same run to run, whatever thread finishes first. Each rank sums
// a 1/N slice of the elements and writes the sums into every rank's buffer, so
// the buffers must stay valid until the call returns; two barriers per call.
// Ranks that pass different counts all get INTERNAL (nothing is summed).
// Waiting ranks spin briefly, then sleep on a futex (std::atomic::wait), so
// oversubscribed cores still make progress.
class ThreadCommunicator final : public Communicator {
 public:
  // `size` communicators of one group: element r is rank r. size >= 1.
  static std::vector<std::unique_ptr<Communicator>> CreateGroup(int size);

  int rank() const override { return rank_; }
  int size() const override;
  Status AllReduceSum(float* data, int64_t count) override;
  Status Barrier() override;

  struct Group;  // shared by the group's communicators (communicator.cc)

 private:
  ThreadCommunicator(std::shared_ptr<Group> group, int rank);

  std::shared_ptr<Group> group_;
  int rank_ = 0;
};

}  // namespace radixlm::backend::parallel
