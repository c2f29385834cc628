// libFuzzer target: arbitrary bytes as a safetensors file. The parser must return
// a header or an error, never crash, hang or read outside the input; a header it
// accepts must tile the data section exactly.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "model/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto header =
      radixlm::model::ParseSafetensorsHeader(std::span<const uint8_t>(data, size), "fuzz");
  if (!header.ok()) return 0;
  uint64_t covered = 0;
  for (const radixlm::model::TensorInfo& t : header->tensors) {
    if (t.begin != covered || t.end < t.begin) std::abort();
    covered = t.end;
  }
  if (header->data_offset + covered != size) std::abort();
  return 0;
}
