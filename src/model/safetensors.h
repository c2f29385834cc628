// Safetensors files: the weight format of Hugging Face model directories.
//
//   [u64 little-endian N][N bytes of JSON header][data]
//   header: {"TENSOR": {"dtype": "BF16", "shape": [d0, d1], "data_offsets": [b, e]},
//            ..., "__metadata__": {"k": "v"}}
//
// Offsets are relative to the data, and tensors must tile the data exactly (no
// holes, no overlap). Files are memory-mapped; tensors point into the mapping, so
// loading copies nothing. Every malformed or hostile header (a size past the file,
// offsets out of range, a shape that disagrees with the byte count, arithmetic
// that would overflow, duplicate names, unknown dtypes) is an INVALID_ARGUMENT
// naming the file and the tensor, never a crash.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace radixlm::model {

enum class DType { kF64, kF32, kF16, kBF16, kI64, kI32, kI16, kI8, kU8, kBool, kF8E4M3, kF8E5M2 };

std::string_view DTypeName(DType dtype);  // as safetensors spells it: "BF16"
size_t DTypeSize(DType dtype);
StatusOr<DType> ParseDType(std::string_view name);

struct TensorInfo {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets into the data section
  uint64_t end = 0;
  int64_t elements() const;
};

struct SafetensorsHeader {
  std::vector<TensorInfo> tensors;  // sorted by begin offset
  std::map<std::string, std::string> metadata;
  uint64_t data_offset = 0;  // where the data section starts in the file
};

// Parses and validates the header of a whole safetensors file held in `bytes`
// (the data section included, to check offsets against it). `name` labels errors.
StatusOr<SafetensorsHeader> ParseSafetensorsHeader(std::span<const uint8_t> bytes,
                                                   std::string_view name);

// A memory-mapped safetensors file. Thread-safe for reading.
class SafetensorsFile {
 public:
  static StatusOr<std::unique_ptr<SafetensorsFile>> Open(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const std::vector<TensorInfo>& tensors() const { return header_.tensors; }
  const std::map<std::string, std::string>& metadata() const { return header_.metadata; }
  // nullptr when absent.
  const TensorInfo* Find(std::string_view name) const;
  // The tensor's bytes inside the mapping (valid while this object lives).
  std::span<const uint8_t> Data(const TensorInfo& tensor) const;

 private:
  SafetensorsFile(std::string path, const uint8_t* base, size_t size, SafetensorsHeader header);

  std::string path_;
  const uint8_t* base_;
  size_t size_;
  SafetensorsHeader header_;
  std::map<std::string, size_t, std::less<>> index_;  // name -> position in tensors
};

// One tensor to write: its bytes must hold exactly elements * DTypeSize(dtype).
struct TensorToWrite {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  std::span<const uint8_t> data;
};

// Writes a safetensors file (tensors in the order given, header padded to 8 bytes).
Status WriteSafetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                        const std::map<std::string, std::string>& metadata = {});

// The same, with each tensor's bytes produced on demand: fill(i, buffer) writes
// tensor i into a buffer of exactly its size. Only one tensor is in memory at a
// time, so multi-gigabyte files are written in bounded memory. `data` is ignored.
Status WriteSafetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                        const std::map<std::string, std::string>& metadata,
                        const std::function<void(size_t, std::span<uint8_t>)>& fill);

}  // namespace radixlm::model
