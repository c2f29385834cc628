#include "kvcache/admission_policies.h"

namespace radixlm::kvcache {

size_t MinLengthPolicy::Admit(const AdmissionRequest& request) {
  return static_cast<int64_t>(request.tokens.size()) >= min_tokens_ ? request.tokens.size() : 0;
}

}  // namespace radixlm::kvcache
