// PromptBuilder: turns a trace's segments into token ids, deterministically.
//
// Named content c yields the stream  c, f(c, 1), f(c, 2), ...: its first token is
// its own index, so two different contents never share even one token (a hit is
// a hit on equal content, as in the trace), and every later token lies in
// [2^30, 2^31). Unique segments draw all their tokens from [2^30, 2^31) too, keyed
// by request and segment. A use of n tokens of content c is the first n of its
// stream, so a shorter use is a prefix of a longer one.
#pragma once

#include <cstdint>
#include <vector>

#include "sim/trace.h"

namespace radixlm::sim {

class PromptBuilder {
 public:
  // `trace` must outlive the builder.
  explicit PromptBuilder(const Trace& trace, uint64_t seed = 0);

  // Replaces *out with request `index`'s prompt.
  void Build(size_t index, std::vector<Token>* out) const;
  // Appends request `index`'s output tokens.
  void AppendOutput(size_t index, std::vector<Token>* out) const;

 private:
  void AppendContent(uint32_t content, int64_t n, std::vector<Token>* out) const;
  void AppendUnique(uint64_t key, int64_t n, std::vector<Token>* out) const;

  const Trace& trace_;
  uint64_t seed_;
  std::vector<uint64_t> content_keys_;  // per content: hash of its name and the seed
};

}  // namespace radixlm::sim
