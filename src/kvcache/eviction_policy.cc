#include "kvcache/eviction_policy.h"

#include <string>

#include "kvcache/eviction_policies.h"

namespace radixlm::kvcache {

const std::vector<std::string>& EvictionPolicyNames() {
  static const std::vector<std::string> names = {"lru",    "lfu",      "fifo", "size-aware",
                                                 "hybrid", "priority", "gdsf", "clock",
                                                 "s3fifo", "learned",  "reuse"};
  return names;
}

StatusOr<std::unique_ptr<EvictionPolicy>> CreateEvictionPolicy(std::string_view name) {
  if (name == "lru") return std::unique_ptr<EvictionPolicy>(new LruPolicy());
  if (name == "lfu") return std::unique_ptr<EvictionPolicy>(new LfuPolicy());
  if (name == "fifo") return std::unique_ptr<EvictionPolicy>(new FifoPolicy());
  if (name == "size-aware") return std::unique_ptr<EvictionPolicy>(new SizeAwarePolicy());
  if (name == "hybrid") return std::unique_ptr<EvictionPolicy>(new HybridPolicy());
  if (name == "priority") return std::unique_ptr<EvictionPolicy>(new PriorityPolicy());
  if (name == "gdsf") return std::unique_ptr<EvictionPolicy>(new GdsfPolicy());
  if (name == "clock") return std::unique_ptr<EvictionPolicy>(new ClockPolicy());
  if (name == "s3fifo") return std::unique_ptr<EvictionPolicy>(new S3FifoPolicy());
  if (name == "learned") return std::unique_ptr<EvictionPolicy>(new LearnedPolicy());
  if (name == "reuse") return std::unique_ptr<EvictionPolicy>(new ReusePolicy());
  std::string known;
  for (const std::string& n : EvictionPolicyNames()) known += (known.empty() ? "" : ", ") + n;
  return InvalidArgumentError("unknown eviction policy '" + std::string(name) +
                              "' (known: " + known + ")");
}

}  // namespace radixlm::kvcache
