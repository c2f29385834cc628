// The lexical pieces of JSON (RFC 8259) as NFA builders: whitespace, strings,
// numbers, literals, and free-form values of bounded nesting. Each builder
// grows `nfa` from a state and returns the state after what it built.
//
// What is allowed, a subset of JSON that every JSON parser reads:
//   whitespace  at most `max_whitespace` bytes of [ \t\n\r] at each place JSON
//               allows whitespace (bounded, so a constrained sample cannot
//               spend its tokens on blanks)
//   string      "..." with JSON's escapes and valid UTF-8 (no overlong forms,
//               no surrogates, at most U+10FFFF); no raw control characters;
//               \uXXXX surrogates only as a high-low pair (strict parsers,
//               simdjson's among them, refuse a lone one)
//   integer     -?(0|[1-9][0-9]{0,14}): at most 15 digits, exact in a double
//   number      an integer, then optionally .[0-9]{1,15} and [eE][+-]?[0-9]{1,2}:
//               always finite in a double
//   any value   string, number, true, false, null, and objects and arrays
//               nested at most `depth` levels (0: scalars only)
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "grammar/nfa.h"

namespace radixlm::grammar {

class JsonNfaBuilder {
 public:
  static constexpr int kMaxIntegerDigits = 15;
  static constexpr int kMaxFractionDigits = 15;
  static constexpr int kMaxExponentDigits = 2;

  JsonNfaBuilder(Nfa* nfa, int32_t max_whitespace) : nfa_(nfa), max_whitespace_(max_whitespace) {}

  int32_t Whitespace(int32_t from);
  int32_t String(int32_t from);
  int32_t Integer(int32_t from);
  int32_t Number(int32_t from);
  int32_t Boolean(int32_t from);
  // `text` alternatives (literals), joined; kNone when `texts` is empty.
  int32_t AnyOfLiterals(int32_t from, const std::vector<std::string>& texts);
  int32_t AnyValue(int32_t from, int32_t depth);
  // {"key": value, ...} with any keys and values of nesting `value_depth`.
  int32_t AnyObject(int32_t from, int32_t value_depth);
  int32_t AnyArray(int32_t from, int32_t item_depth);

  // `"{" ws (member (ws "," ws member)*)? ws "}"`-shaped containers whose
  // member is built by `member(start)` once (returns its end or kNone).
  template <typename Member>
  int32_t Repeated(int32_t from, char open, char close, Member member);

  Nfa* nfa() { return nfa_; }

 private:
  // At least `min`, at most `max` digits.
  int32_t Digits(int32_t from, int min, int max);

  Nfa* nfa_;
  int32_t max_whitespace_;
};

template <typename Member>
int32_t JsonNfaBuilder::Repeated(int32_t from, char open, char close, Member member) {
  const int32_t opened = Whitespace(nfa_->Literal(from, std::string_view(&open, 1)));
  const int32_t end = nfa_->AddState();
  nfa_->AddEpsilon(nfa_->Literal(opened, std::string_view(&close, 1)), end);
  const int32_t item = nfa_->AddState();
  nfa_->AddEpsilon(opened, item);
  const int32_t done = member(item);
  if (done == Nfa::kNone) return end;
  const int32_t after = Whitespace(done);
  nfa_->AddEpsilon(nfa_->Literal(after, std::string_view(&close, 1)), end);
  nfa_->AddEpsilon(Whitespace(nfa_->Literal(after, ",")), item);
  return end;
}

}  // namespace radixlm::grammar
