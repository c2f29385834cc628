#include "grammar/matcher.h"

#include <algorithm>
#include <limits>
#include <string>

namespace radixlm::grammar {

std::shared_ptr<const TokenMask> Matcher::Allowed(int64_t remaining) const {
  const int64_t d = distance();
  // After this token: at most remaining - 1 bytes to go; at least one nearer
  // when that is out of reach already.
  int64_t budget = std::max<int64_t>(remaining, 1) - 1;
  if (d > remaining) budget = d - 1;
  budget = std::min<int64_t>(budget, std::numeric_limits<int32_t>::max() - 1);
  return grammar_->Mask(state_, static_cast<int32_t>(budget));
}

Status Matcher::Advance(int32_t token) {
  const int32_t next = grammar_->Next(state_, token);
  if (next == Dfa::kDead) {
    return InvalidArgumentError("token " + std::to_string(token) +
                                " does not continue the grammar here");
  }
  state_ = next;
  return OkStatus();
}

}  // namespace radixlm::grammar
