// libFuzzer target: the fuzzer's bytes choose a cache configuration and then a
// stream of operations (match, insert, extend, lock, unlock, evict, flush) run
// through CacheModel, which checks every result against the reference model,
// the shadow of page contents and page conservation (aborting on a mismatch).
#include <cstddef>
#include <cstdint>

#include "kvcache/cache_model.h"
#include "kvcache/eviction_policy.h"

using radixlm::kvcache::testing::ByteSource;
using radixlm::kvcache::testing::CacheModel;
using radixlm::kvcache::testing::ModelOptions;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ByteSource source(data, size);
  ModelOptions options;
  static const int32_t kPageSizes[] = {1, 2, 4, 16};
  options.kind = source.Next(4) == 0 ? "hash" : "radix";
  options.page_size = kPageSizes[source.Next(4)];
  options.num_pages = 24 + source.Next(64) * (options.page_size == 1 ? 4 : 1);
  const auto& policies = radixlm::kvcache::EvictionPolicyNames();
  options.eviction = policies[source.Next(static_cast<uint32_t>(policies.size()))];
  switch (source.Next(4)) {
    case 0:
      options.admission.policy = "second-hit";
      options.admission.second_hit_capacity = 1 + source.Next(64);
      break;
    case 1:
      options.admission.policy = "min-length";
      options.admission.min_tokens = source.Next(32);
      break;
    default:
      break;
  }
  options.alphabet = 2 + static_cast<int>(source.Next(3));
  CacheModel model(options);
  for (int ops = 0; source.more() && ops < 4000; ++ops) model.Step(source);
  return 0;
}
