// DeviceBuffer: one cudaMalloc'd block, freed with the object; PinnedBuffer: the
// same in page-locked host memory (for asynchronous uploads). Reserve grows the
// block (contents are not kept) and reports an allocation failure with the
// bytes asked for and the bytes free on the device.
#pragma once

#include <cstddef>
#include <string>
#include <utility>

#include "core/status.h"

namespace radixlm::backend::cuda {

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  ~DeviceBuffer();
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  Status Reserve(size_t bytes, const std::string& what);
  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }
  size_t size() const { return size_; }
  void Swap(DeviceBuffer& other) {
    std::swap(ptr_, other.ptr_);
    std::swap(size_, other.size_);
  }

 private:
  void* ptr_ = nullptr;
  size_t size_ = 0;
};

class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  ~PinnedBuffer();
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;

  Status Reserve(size_t bytes);
  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }

 private:
  void* ptr_ = nullptr;
  size_t size_ = 0;
};

// "12.3 GiB".
std::string GiB(double bytes);

}  // namespace radixlm::backend::cuda
