// The template source to tokens, as Jinja2's lexer does with the settings
// transformers uses: trim_blocks (the first newline after a block or comment
// tag is dropped), lstrip_blocks (spaces and tabs before a block or comment tag
// that starts its line are dropped), `-` and `+` whitespace control on every
// tag, `{% raw %}`, newlines normalized to "\n" and one trailing newline of the
// source dropped (keep_trailing_newline false).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace radixlm::tmpl {

enum class TokenType {
  kText,        // literal output
  kVarBegin,    // {{
  kVarEnd,      // }}
  kBlockBegin,  // {%
  kBlockEnd,    // %}
  kName,
  kString,  // text: the decoded value
  kInt,
  kFloat,
  kOperator,  // text: the operator
  kEof,
};

struct Token {
  TokenType type = TokenType::kEof;
  std::string text;
  int64_t int_value = 0;
  double float_value = 0;
  int line = 1;
  int column = 1;
};

struct LexOptions {
  bool trim_blocks = true;
  bool lstrip_blocks = true;
};

// Errors (an unclosed tag, an unknown character, a bad literal) name the line
// and column.
StatusOr<std::vector<Token>> Tokenize(std::string_view source, const LexOptions& options);

}  // namespace radixlm::tmpl
