// Statements: the template's block structure. Expressions are in parser_expr.cc.
#include "template/parser.h"

#include <string_view>

#include "template/parser_impl.h"

namespace radixlm::tmpl {

bool IsOneOf(const std::string& s, std::initializer_list<const char*> names) {
  for (const char* n : names) {
    if (s == n) return true;
  }
  return false;
}

StatusOr<Body> Parse(const std::vector<Token>& tokens) {
  Parser p(tokens);
  return p.Template();
}

StatusOr<Body> Parser::Template() {
  Body body;
  std::string end;
  RETURN_IF_ERROR(Statements({}, &body, &end));
  return body;
}

// Parses until a block tag named in `ends` (left unconsumed after its name;
// *end says which), or the end of the template when `ends` is empty.
Status Parser::Statements(std::initializer_list<const char*> ends, Body* body, std::string* end) {
  Depth d(&depth_);
  RETURN_IF_ERROR(CheckDepth());
  while (true) {
    const Token& tok = Cur();
    switch (tok.type) {
      case TokenType::kEof:
        if (ends.size() == 0) return OkStatus();
        for (const char* e : ends) {
          if (std::string_view(e).substr(0, 3) == "end") {
            return Error(tok, std::string("unexpected end of template: missing {% ") + e + " %}");
          }
        }
        return Error(tok, "unexpected end of template");
      case TokenType::kText: {
        auto n = MakeNode(NodeKind::kText, tok);
        n->text = tok.text;
        body->push_back(std::move(n));
        Next();
        break;
      }
      case TokenType::kVarBegin: {
        auto n = MakeNode(NodeKind::kOutput, tok);
        Next();
        ASSIGN_OR_RETURN(n->expr, Tuple(true, false));
        if (Cur().type != TokenType::kVarEnd) return Unexpected("'}}'");
        Next();
        body->push_back(std::move(n));
        break;
      }
      case TokenType::kBlockBegin: {
        Next();
        if (Cur().type != TokenType::kName) return Unexpected("a tag name");
        const std::string name = Cur().text;
        for (const char* e : ends) {
          if (name == e) {
            *end = name;
            Next();
            return OkStatus();
          }
        }
        NodePtr n;
        ASSIGN_OR_RETURN(n, Statement());
        if (n) body->push_back(std::move(n));
        break;
      }
      case TokenType::kVarEnd:
      case TokenType::kBlockEnd:
      case TokenType::kName:
      case TokenType::kString:
      case TokenType::kInt:
      case TokenType::kFloat:
      case TokenType::kOperator:
        return Error(tok, "unexpected " + Describe(tok));
    }
  }
}

StatusOr<NodePtr> Parser::Statement() {
  const Token& tok = Cur();
  const std::string name = tok.text;
  if (name == "if") return If();
  if (name == "for") return For();
  if (name == "set") return Set();
  if (name == "macro") return Macro();
  if (name == "call") return CallBlock();
  if (name == "filter") return FilterBlock();
  if (name == "with") return With();
  if (name == "generation") {
    auto n = MakeNode(NodeKind::kScope, tok);
    Next();
    RETURN_IF_ERROR(ExpectBlockEnd());
    std::string end;
    RETURN_IF_ERROR(Statements({"endgeneration"}, &n->body, &end));
    RETURN_IF_ERROR(ExpectBlockEnd());
    return n;
  }
  if (name == "break" || name == "continue") {
    if (loop_depth_ == 0) return Error(tok, "'" + name + "' outside a for loop");
    auto n = MakeNode(name == "break" ? NodeKind::kBreak : NodeKind::kContinue, tok);
    Next();
    RETURN_IF_ERROR(ExpectBlockEnd());
    return n;
  }
  if (IsOneOf(name, {"extends", "include", "import", "from", "block", "autoescape", "do", "trans",
                     "pluralize", "debug"})) {
    return Error(tok, "unsupported tag '" + name + "' (chat templates are rendered without it)");
  }
  if (IsOneOf(name, {"endif", "endfor", "endset", "endmacro", "endcall", "endfilter", "endwith",
                     "endgeneration", "else", "elif", "endblock", "endraw"})) {
    return Error(tok, "unexpected '" + name + "' (no open block takes it here)");
  }
  return Error(tok, "unknown tag '" + name + "'");
}

StatusOr<NodePtr> Parser::If() {
  auto n = MakeNode(NodeKind::kIf, Cur());
  Next();
  while (true) {
    ExprPtr cond;
    ASSIGN_OR_RETURN(cond, Tuple(false, false));
    RETURN_IF_ERROR(ExpectBlockEnd());
    Body body;
    std::string end;
    RETURN_IF_ERROR(Statements({"elif", "else", "endif"}, &body, &end));
    n->branches.emplace_back(std::move(cond), std::move(body));
    if (end == "elif") continue;
    if (end == "else") {
      RETURN_IF_ERROR(ExpectBlockEnd());
      RETURN_IF_ERROR(Statements({"endif"}, &n->else_body, &end));
    }
    RETURN_IF_ERROR(ExpectBlockEnd());
    return n;
  }
}

// `name` or `a, b` or `(a, b)`.
Status Parser::AssignTargets(std::vector<std::string>* targets, bool* unpack) {
  const bool paren = SkipOp("(");
  while (true) {
    ASSIGN_OR_RETURN(std::string t, ExpectName());
    targets->push_back(std::move(t));
    if (!SkipOp(",")) break;
    *unpack = true;
    if (Cur().type != TokenType::kName) break;  // trailing comma
  }
  if (paren) {
    *unpack = true;
    RETURN_IF_ERROR(ExpectOp(")"));
  }
  for (const std::string& t : *targets) {
    if (IsOneOf(t, {"true", "false", "none", "True", "False", "None"})) {
      return Error(Cur(), "cannot assign to '" + t + "'");
    }
  }
  return OkStatus();
}

StatusOr<NodePtr> Parser::For() {
  auto n = MakeNode(NodeKind::kFor, Cur());
  Next();
  RETURN_IF_ERROR(AssignTargets(&n->targets, &n->unpack));
  if (!SkipName("in")) return Unexpected("'in'");
  ASSIGN_OR_RETURN(n->expr, Tuple(false, false, "recursive"));
  if (SkipName("if")) {
    ASSIGN_OR_RETURN(n->condition, Expression(true));
  }
  if (IsName("recursive")) return Error(Cur(), "unsupported: recursive for loops");
  RETURN_IF_ERROR(ExpectBlockEnd());
  ++loop_depth_;
  std::string end;
  Status s = Statements({"endfor", "else"}, &n->body, &end);
  --loop_depth_;
  RETURN_IF_ERROR(s);
  if (end == "else") {
    RETURN_IF_ERROR(ExpectBlockEnd());
    // break/continue in a for's else belong to an outer loop, if any.
    RETURN_IF_ERROR(Statements({"endfor"}, &n->else_body, &end));
  }
  RETURN_IF_ERROR(ExpectBlockEnd());
  return n;
}

StatusOr<NodePtr> Parser::Set() {
  const Token& at = Cur();
  Next();
  if (Cur().type == TokenType::kName && Peek().type == TokenType::kOperator && Peek().text == ".") {
    auto n = MakeNode(NodeKind::kSet, at);
    n->targets.push_back(Cur().text);
    Next();
    Next();
    ASSIGN_OR_RETURN(n->attr, ExpectName());
    RETURN_IF_ERROR(ExpectOp("="));
    ASSIGN_OR_RETURN(n->expr, Tuple(true, false));
    RETURN_IF_ERROR(ExpectBlockEnd());
    return n;
  }
  auto n = MakeNode(NodeKind::kSet, at);
  RETURN_IF_ERROR(AssignTargets(&n->targets, &n->unpack));
  if (SkipOp("=")) {
    ASSIGN_OR_RETURN(n->expr, Tuple(true, false));
    RETURN_IF_ERROR(ExpectBlockEnd());
    return n;
  }
  if (n->unpack) return Unexpected("'='");
  n->kind = NodeKind::kSetBlock;
  if (IsOp("|")) {
    auto input = Make(ExprKind::kName, Cur());
    input->name = kBlockInputName;
    ASSIGN_OR_RETURN(n->expr, Filters(std::move(input)));
  }
  RETURN_IF_ERROR(ExpectBlockEnd());
  std::string end;
  RETURN_IF_ERROR(Statements({"endset"}, &n->body, &end));
  RETURN_IF_ERROR(ExpectBlockEnd());
  return n;
}

// (a, b=default, ...)
Status Parser::Signature(std::vector<std::pair<std::string, ExprPtr>>* params) {
  RETURN_IF_ERROR(ExpectOp("("));
  while (!IsOp(")")) {
    if (!params->empty()) RETURN_IF_ERROR(ExpectOp(","));
    if (IsOp(")")) break;
    ASSIGN_OR_RETURN(std::string name, ExpectName());
    ExprPtr def;
    if (SkipOp("=")) {
      ASSIGN_OR_RETURN(def, Expression(true));
    }
    params->emplace_back(std::move(name), std::move(def));
  }
  Next();
  return OkStatus();
}

StatusOr<NodePtr> Parser::Macro() {
  auto n = MakeNode(NodeKind::kMacro, Cur());
  Next();
  ASSIGN_OR_RETURN(n->name, ExpectName());
  RETURN_IF_ERROR(Signature(&n->params));
  RETURN_IF_ERROR(ExpectBlockEnd());
  const int saved = loop_depth_;
  loop_depth_ = 0;  // break/continue cannot leave a macro
  std::string end;
  Status s = Statements({"endmacro"}, &n->body, &end);
  loop_depth_ = saved;
  RETURN_IF_ERROR(s);
  if (Cur().type == TokenType::kName) Next();  // {% endmacro name %}
  RETURN_IF_ERROR(ExpectBlockEnd());
  return n;
}

StatusOr<NodePtr> Parser::CallBlock() {
  auto n = MakeNode(NodeKind::kCallBlock, Cur());
  Next();
  if (IsOp("(")) RETURN_IF_ERROR(Signature(&n->params));
  ASSIGN_OR_RETURN(n->expr, Expression(true));
  if (n->expr->kind != ExprKind::kCall) return Error(Cur(), "{% call %} needs a macro call");
  RETURN_IF_ERROR(ExpectBlockEnd());
  const int saved = loop_depth_;
  loop_depth_ = 0;
  std::string end;
  Status s = Statements({"endcall"}, &n->body, &end);
  loop_depth_ = saved;
  RETURN_IF_ERROR(s);
  RETURN_IF_ERROR(ExpectBlockEnd());
  return n;
}

StatusOr<NodePtr> Parser::FilterBlock() {
  auto n = MakeNode(NodeKind::kFilterBlock, Cur());
  Next();
  auto input = Make(ExprKind::kName, Cur());
  input->name = kBlockInputName;
  ASSIGN_OR_RETURN(n->expr, Filters(std::move(input), /*start_inline=*/true));
  RETURN_IF_ERROR(ExpectBlockEnd());
  std::string end;
  RETURN_IF_ERROR(Statements({"endfilter"}, &n->body, &end));
  RETURN_IF_ERROR(ExpectBlockEnd());
  return n;
}

StatusOr<NodePtr> Parser::With() {
  auto n = MakeNode(NodeKind::kWith, Cur());
  Next();
  while (Cur().type != TokenType::kBlockEnd) {
    if (!n->params.empty()) RETURN_IF_ERROR(ExpectOp(","));
    ASSIGN_OR_RETURN(std::string name, ExpectName());
    RETURN_IF_ERROR(ExpectOp("="));
    ExprPtr value;
    ASSIGN_OR_RETURN(value, Expression(true));
    n->params.emplace_back(std::move(name), std::move(value));
  }
  RETURN_IF_ERROR(ExpectBlockEnd());
  std::string end;
  RETURN_IF_ERROR(Statements({"endwith"}, &n->body, &end));
  RETURN_IF_ERROR(ExpectBlockEnd());
  return n;
}
}  // namespace radixlm::tmpl
