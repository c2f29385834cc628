// KvMemory: the host memory behind the CPU backend's KV page pool (its keys or
// its values, F32 or E4M3 bytes: the backend decides the element).
//
// One anonymous mapping, advised to use transparent huge pages: a pool of a
// gigabyte is 512 TLB entries instead of 262,144, which matters because the
// prefix cache scatters a sequence's pages over the whole pool while a cacheless
// engine keeps reusing the few pages it just freed. With `commit`, every page is
// faulted in at creation, as a GPU engine reserves its KV pool at start-up: the
// memory is really there (an over-committed host fails now, not mid-request) and
// no request pays the first-touch faults of the pages it is handed. Without it,
// pages cost nothing until first written (tests build many small pools).
#pragma once

#include <cstddef>
#include <memory>

#include "core/status.h"

namespace radixlm::backend::cpu {

class KvMemory {
 public:
  // Zero-filled `bytes` bytes.
  static StatusOr<std::unique_ptr<KvMemory>> Create(size_t bytes, bool commit);
  ~KvMemory();
  KvMemory(const KvMemory&) = delete;
  KvMemory& operator=(const KvMemory&) = delete;

  std::byte* data() const { return static_cast<std::byte*>(data_); }
  size_t bytes() const { return bytes_; }

 private:
  KvMemory(void* data, size_t bytes) : data_(data), bytes_(bytes) {}
  void* data_;
  size_t bytes_;
};

}  // namespace radixlm::backend::cpu
