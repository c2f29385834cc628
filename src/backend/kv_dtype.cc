#include "backend/kv_dtype.h"

#include <string>

namespace radixlm::backend {

StatusOr<KvDtype> ParseKvDtype(std::string_view name) {
  if (name.empty() || name == "auto") return KvDtype::kAuto;
  if (name == "fp8" || name == kKvFormatFp8) return KvDtype::kFp8;
  return InvalidArgumentError("--kv-dtype: '" + std::string(name) + "' (use auto or fp8)");
}

std::string_view KvDtypeName(KvDtype dtype) {
  switch (dtype) {
    case KvDtype::kAuto:
      return "auto";
    case KvDtype::kFp8:
      return "fp8";
  }
  return "?";
}

}  // namespace radixlm::backend
