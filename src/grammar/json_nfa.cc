#include "grammar/json_nfa.h"

#include <string>
#include <vector>

namespace radixlm::grammar {

int32_t JsonNfaBuilder::Whitespace(int32_t from) {
  if (max_whitespace_ <= 0) return from;
  const int32_t end = nfa_->AddState();
  nfa_->AddEpsilon(from, end);
  int32_t at = from;
  for (int32_t i = 0; i < max_whitespace_; ++i) {
    const int32_t next = nfa_->AddState();
    nfa_->AddEdge(at, ' ', ' ', next);
    nfa_->AddEdge(at, '\t', '\n', next);
    nfa_->AddEdge(at, '\r', '\r', next);
    nfa_->AddEpsilon(next, end);
    at = next;
  }
  return end;
}

int32_t JsonNfaBuilder::String(int32_t from) {
  Nfa& n = *nfa_;
  const int32_t in = n.Range(from, '"', '"');
  const int32_t end = n.Range(in, '"', '"');
  // Unescaped characters: U+0020..U+007F but the quote and the backslash.
  n.AddEdge(in, 0x20, 0x21, in);
  n.AddEdge(in, 0x23, 0x5B, in);
  n.AddEdge(in, 0x5D, 0x7F, in);
  // UTF-8 (RFC 3629): the continuation bytes still to come, and the first
  // continuation's narrower ranges that rule out overlong forms and surrogates.
  const int32_t one = n.AddState(), two = n.AddState(), three = n.AddState();
  n.AddEdge(one, 0x80, 0xBF, in);
  n.AddEdge(two, 0x80, 0xBF, one);
  n.AddEdge(three, 0x80, 0xBF, two);
  n.AddEdge(in, 0xC2, 0xDF, one);
  n.AddEdge(n.Range(in, 0xE0, 0xE0), 0xA0, 0xBF, one);
  n.AddEdge(in, 0xE1, 0xEC, two);
  n.AddEdge(n.Range(in, 0xED, 0xED), 0x80, 0x9F, one);
  n.AddEdge(in, 0xEE, 0xEF, two);
  n.AddEdge(n.Range(in, 0xF0, 0xF0), 0x90, 0xBF, two);
  n.AddEdge(in, 0xF1, 0xF3, three);
  n.AddEdge(n.Range(in, 0xF4, 0xF4), 0x80, 0x8F, two);
  // Escapes.
  const int32_t escape = n.Range(in, '\\', '\\');
  for (char c : std::string_view("\"\\/bfnrt")) {
    n.AddEdge(escape, static_cast<uint8_t>(c), static_cast<uint8_t>(c), in);
  }
  // \uXXXX: UTF-16 surrogates only as a pair (high \uD800-\uDBFF, then low
  // \uDC00-\uDFFF), which every JSON parser reads back.
  auto hex = [&](int32_t from, int32_t to) {
    n.AddEdge(from, '0', '9', to);
    n.AddEdge(from, 'a', 'f', to);
    n.AddEdge(from, 'A', 'F', to);
  };
  auto hex_digits = [&](int32_t from, int count, int32_t to) {
    for (int i = 0; i < count; ++i) {
      const int32_t next = i == count - 1 ? to : n.AddState();
      hex(from, next);
      from = next;
    }
  };
  const int32_t u = n.Range(escape, 'u', 'u');
  const int32_t plain = n.AddState();  // three more digits of a non-surrogate
  n.AddEdge(u, '0', '9', plain);
  n.AddEdge(u, 'a', 'c', plain);
  n.AddEdge(u, 'A', 'C', plain);
  n.AddEdge(u, 'e', 'f', plain);
  n.AddEdge(u, 'E', 'F', plain);
  hex_digits(plain, 3, in);
  const int32_t d = n.AddState();
  n.AddEdge(u, 'd', 'd', d);
  n.AddEdge(u, 'D', 'D', d);
  hex_digits(n.Range(d, '0', '7'), 2, in);
  const int32_t high = n.AddState();
  n.AddEdge(d, '8', '9', high);
  n.AddEdge(d, 'a', 'b', high);
  n.AddEdge(d, 'A', 'B', high);
  const int32_t pair = n.AddState();
  hex_digits(high, 2, pair);
  const int32_t low = n.AddState();
  const int32_t low_u = n.Literal(pair, "\\u");
  n.AddEdge(low_u, 'd', 'd', low);
  n.AddEdge(low_u, 'D', 'D', low);
  const int32_t low_digit = n.AddState();
  n.AddEdge(low, 'c', 'f', low_digit);
  n.AddEdge(low, 'C', 'F', low_digit);
  hex_digits(low_digit, 2, in);
  return end;
}

int32_t JsonNfaBuilder::Digits(int32_t from, int min, int max) {
  Nfa& n = *nfa_;
  const int32_t end = n.AddState();
  if (min == 0) n.AddEpsilon(from, end);
  int32_t at = from;
  for (int i = 1; i <= max; ++i) {
    at = n.Range(at, '0', '9');
    if (i >= min) n.AddEpsilon(at, end);
  }
  return end;
}

int32_t JsonNfaBuilder::Integer(int32_t from) {
  Nfa& n = *nfa_;
  const int32_t sign = n.AddState();
  n.AddEpsilon(from, sign);
  n.AddEpsilon(n.Range(from, '-', '-'), sign);
  const int32_t end = n.AddState();
  n.AddEpsilon(n.Range(sign, '0', '0'), end);
  n.AddEpsilon(Digits(n.Range(sign, '1', '9'), 0, kMaxIntegerDigits - 1), end);
  return end;
}

int32_t JsonNfaBuilder::Number(int32_t from) {
  Nfa& n = *nfa_;
  const int32_t integer = Integer(from);
  const int32_t fraction = n.AddState();
  n.AddEpsilon(integer, fraction);
  n.AddEpsilon(Digits(n.Range(integer, '.', '.'), 1, kMaxFractionDigits), fraction);
  const int32_t end = n.AddState();
  n.AddEpsilon(fraction, end);
  const int32_t e = n.AddState();
  n.AddEdge(fraction, 'e', 'e', e);
  n.AddEdge(fraction, 'E', 'E', e);
  const int32_t sign = n.AddState();
  n.AddEpsilon(e, sign);
  n.AddEdge(e, '+', '+', sign);
  n.AddEdge(e, '-', '-', sign);
  n.AddEpsilon(Digits(sign, 1, kMaxExponentDigits), end);
  return end;
}

int32_t JsonNfaBuilder::Boolean(int32_t from) { return AnyOfLiterals(from, {"true", "false"}); }

int32_t JsonNfaBuilder::AnyOfLiterals(int32_t from, const std::vector<std::string>& texts) {
  if (texts.empty()) return Nfa::kNone;
  const int32_t end = nfa_->AddState();
  for (const std::string& t : texts) nfa_->AddEpsilon(nfa_->Literal(from, t), end);
  return end;
}

int32_t JsonNfaBuilder::AnyValue(int32_t from, int32_t depth) {
  Nfa& n = *nfa_;
  const int32_t end = n.AddState();
  n.AddEpsilon(String(from), end);
  n.AddEpsilon(Number(from), end);
  n.AddEpsilon(AnyOfLiterals(from, {"true", "false", "null"}), end);
  if (depth > 0) {
    n.AddEpsilon(AnyObject(from, depth - 1), end);
    n.AddEpsilon(AnyArray(from, depth - 1), end);
  }
  return end;
}

int32_t JsonNfaBuilder::AnyObject(int32_t from, int32_t value_depth) {
  return Repeated(from, '{', '}', [&](int32_t at) {
    at = Whitespace(String(at));
    at = Whitespace(nfa_->Literal(at, ":"));
    return AnyValue(at, value_depth);
  });
}

int32_t JsonNfaBuilder::AnyArray(int32_t from, int32_t item_depth) {
  return Repeated(from, '[', ']', [&](int32_t at) { return AnyValue(at, item_depth); });
}

}  // namespace radixlm::grammar
