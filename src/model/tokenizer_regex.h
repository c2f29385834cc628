// A compiled pre-tokenizer pattern: PCRE2 in UTF mode with Unicode properties,
// JIT-compiled where the platform allows. The PCRE2 header stays in the .cc.
//
// Hugging Face tokenizers compiles these patterns with Oniguruma, whose \s is
// Unicode White_Space; PCRE2's \s (with UCP) also matches U+180E. Compile()
// therefore rewrites \s and \S into explicit White_Space classes, so the split
// points are Oniguruma's.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace radixlm::model {

class Regex {
 public:
  using Span = std::pair<size_t, size_t>;  // [begin, end) byte offsets

  // `pattern` in Oniguruma/PCRE syntax; errors name the offset.
  static StatusOr<std::unique_ptr<Regex>> Compile(std::string_view pattern);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Appends every non-overlapping match of `text` (valid UTF-8: the caller
  // guarantees it, the match skips the check), leftmost first. An empty match
  // advances one character. Thread-safe.
  void FindAll(std::string_view text, std::vector<Span>* matches) const;

 private:
  struct Impl;
  explicit Regex(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// \s and \S as Oniguruma reads them (exposed for tests).
std::string TranslateWhitespaceClasses(std::string_view pattern);

}  // namespace radixlm::model
