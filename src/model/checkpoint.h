// Checkpoint: the weights of a Hugging Face model directory, memory-mapped.
//
// A directory holds either one `model.safetensors` or shards listed by
// `model.safetensors.index.json` ({"weight_map": {"tensor": "shard file"}}). Every
// shard is mapped once; a tensor is found by name across shards. The index is
// checked against the shards: a tensor it names must be in the shard it names, a
// shard must not hold tensors the index does not list, and no shard may be a path
// outside the directory.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "model/safetensors.h"

namespace radixlm::model {

struct TensorRef {
  const TensorInfo* info = nullptr;   // name, dtype, shape
  std::span<const uint8_t> data;      // inside the mapping
  const std::string* file = nullptr;  // the shard it lives in
};

class Checkpoint {
 public:
  static StatusOr<std::unique_ptr<Checkpoint>> Open(const std::string& dir);

  const std::string& dir() const { return dir_; }
  // nullptr when absent.
  const TensorRef* Find(std::string_view name) const;
  const std::vector<std::string>& names() const { return names_; }  // sorted
  uint64_t total_bytes() const { return total_bytes_; }

 private:
  Checkpoint() = default;
  Status Add(std::unique_ptr<SafetensorsFile> file);

  std::string dir_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::unordered_map<std::string, TensorRef> tensors_;
  std::vector<std::string> names_;
  uint64_t total_bytes_ = 0;
};

}  // namespace radixlm::model
