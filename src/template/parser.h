// Tokens to the tree of ast.h, following Jinja2's grammar and precedence.
// Anything outside the supported subset (extends, include, import, block,
// recursive loops, unknown filters and tests, ...) is an INVALID_ARGUMENT error
// naming the construct, its line and column, so a model's template fails at
// load rather than rendering wrong text.
#pragma once

#include <vector>

#include "core/status.h"
#include "template/ast.h"
#include "template/lexer.h"

namespace radixlm::tmpl {

// Expressions and blocks nested deeper than this are refused (the parser and
// the renderer recurse once per level).
inline constexpr int kMaxNesting = 64;

StatusOr<Body> Parse(const std::vector<Token>& tokens);

}  // namespace radixlm::tmpl
