// AdmitAllPolicy is header-only; this file holds the factory.
#include "kvcache/admission_policies.h"

#include <string>

namespace radixlm::kvcache {

Status AdmissionOptions::Validate() const {
  bool known = false;
  for (const std::string& n : AdmissionPolicyNames()) known |= n == policy;
  if (!known) {
    std::string names;
    for (const std::string& n : AdmissionPolicyNames()) names += (names.empty() ? "" : ", ") + n;
    return InvalidArgumentError("unknown admission policy '" + policy + "' (known: " + names + ")");
  }
  if (min_tokens < 0) return InvalidArgumentError("admission min_tokens must be >= 0");
  if (second_hit_capacity < 1) {
    return InvalidArgumentError("admission second_hit_capacity must be >= 1");
  }
  return OkStatus();
}

const std::vector<std::string>& AdmissionPolicyNames() {
  static const std::vector<std::string> names = {"all", "second-hit", "min-length"};
  return names;
}

StatusOr<std::unique_ptr<AdmissionPolicy>> CreateAdmissionPolicy(const AdmissionOptions& options) {
  RETURN_IF_ERROR(options.Validate());
  if (options.policy == "second-hit") {
    return std::unique_ptr<AdmissionPolicy>(new SecondHitPolicy(options.second_hit_capacity));
  }
  if (options.policy == "min-length") {
    return std::unique_ptr<AdmissionPolicy>(new MinLengthPolicy(options.min_tokens));
  }
  return std::unique_ptr<AdmissionPolicy>(new AdmitAllPolicy());
}

}  // namespace radixlm::kvcache
