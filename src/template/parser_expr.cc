// Expressions, with Jinja2's precedence: conditional, or, and, not,
// comparisons, + and -, ~, * / // %, **, unary, then primaries with their
// attribute, item, call, filter and test suffixes.
#include "template/builtins.h"
#include "template/parser_impl.h"

namespace radixlm::tmpl {

// Expressions separated by commas; one without a comma is itself, otherwise
// a tuple. `stop_name` ends the list early (for's `recursive`).
StatusOr<ExprPtr> Parser::Tuple(bool with_condexpr, bool explicit_parens, const char* stop_name) {
  const Token& at = Cur();
  std::vector<ExprPtr> items;
  bool comma = false;
  while (true) {
    if (!items.empty()) {
      if (!SkipOp(",")) break;
      comma = true;
    }
    if (TupleEnds(stop_name)) break;
    ExprPtr e;
    ASSIGN_OR_RETURN(e, Expression(with_condexpr));
    items.push_back(std::move(e));
  }
  if (!comma && items.size() == 1) return std::move(items[0]);
  if (items.empty() && !explicit_parens) return Unexpected("an expression");
  auto t = Make(ExprKind::kTuple, at);
  t->children = std::move(items);
  return t;
}

bool Parser::TupleEnds(const char* stop_name) const {
  const Token& c = Cur();
  if (c.type == TokenType::kVarEnd || c.type == TokenType::kBlockEnd || c.type == TokenType::kEof)
    return true;
  if (c.type == TokenType::kOperator && c.text == ")") return true;
  if (c.type == TokenType::kName && (c.text == "in" || (stop_name && c.text == stop_name)))
    return true;
  return false;
}

StatusOr<ExprPtr> Parser::Expression(bool with_condexpr) {
  Depth d(&depth_);
  RETURN_IF_ERROR(CheckDepth());
  if (!with_condexpr) return Or();
  ExprPtr e;
  ASSIGN_OR_RETURN(e, Or());
  while (IsName("if")) {
    const Token& at = Cur();
    Next();
    auto c = Make(ExprKind::kCondition, at);
    ExprPtr cond;
    ASSIGN_OR_RETURN(cond, Or());
    ExprPtr otherwise;
    if (SkipName("else")) {
      ASSIGN_OR_RETURN(otherwise, Expression(true));
    }
    c->children.push_back(std::move(cond));
    c->children.push_back(std::move(e));
    c->children.push_back(std::move(otherwise));
    e = std::move(c);
  }
  return e;
}

StatusOr<ExprPtr> Parser::Or() {
  ExprPtr left;
  ASSIGN_OR_RETURN(left, And());
  while (IsName("or")) {
    auto e = Make(ExprKind::kOr, Cur());
    Next();
    ExprPtr right;
    ASSIGN_OR_RETURN(right, And());
    e->children.push_back(std::move(left));
    e->children.push_back(std::move(right));
    left = std::move(e);
  }
  return left;
}

StatusOr<ExprPtr> Parser::And() {
  ExprPtr left;
  ASSIGN_OR_RETURN(left, Not());
  while (IsName("and")) {
    auto e = Make(ExprKind::kAnd, Cur());
    Next();
    ExprPtr right;
    ASSIGN_OR_RETURN(right, Not());
    e->children.push_back(std::move(left));
    e->children.push_back(std::move(right));
    left = std::move(e);
  }
  return left;
}

StatusOr<ExprPtr> Parser::Not() {
  if (IsName("not")) {
    Depth d(&depth_);
    RETURN_IF_ERROR(CheckDepth());
    auto e = Make(ExprKind::kNot, Cur());
    Next();
    ExprPtr inner;
    ASSIGN_OR_RETURN(inner, Not());
    e->children.push_back(std::move(inner));
    return e;
  }
  return Compare();
}

StatusOr<ExprPtr> Parser::Compare() {
  const Token& at = Cur();
  ExprPtr first;
  ASSIGN_OR_RETURN(first, Math1());
  std::vector<std::string> ops;
  std::vector<ExprPtr> operands;
  while (true) {
    std::string op;
    if (Cur().type == TokenType::kOperator &&
        IsOneOf(Cur().text, {"==", "!=", "<", "<=", ">", ">="})) {
      op = Cur().text;
      Next();
    } else if (IsName("in")) {
      op = "in";
      Next();
    } else if (IsName("not") && Peek().type == TokenType::kName && Peek().text == "in") {
      op = "notin";
      Next();
      Next();
    } else {
      break;
    }
    ExprPtr operand;
    ASSIGN_OR_RETURN(operand, Math1());
    ops.push_back(std::move(op));
    operands.push_back(std::move(operand));
  }
  if (ops.empty()) return first;
  auto e = Make(ExprKind::kCompare, at);
  e->children.push_back(std::move(first));
  for (auto& o : operands) e->children.push_back(std::move(o));
  e->ops = std::move(ops);
  return e;
}

StatusOr<ExprPtr> Parser::Binary(ExprPtr left, const std::string& op, ExprPtr right,
                                 const Token& at) {
  auto e = Make(ExprKind::kBinary, at);
  e->name = op;
  e->children.push_back(std::move(left));
  e->children.push_back(std::move(right));
  return e;
}

StatusOr<ExprPtr> Parser::Math1() {
  ExprPtr left;
  ASSIGN_OR_RETURN(left, Concat());
  while (IsOp("+") || IsOp("-")) {
    const Token at = Cur();
    Next();
    ExprPtr right;
    ASSIGN_OR_RETURN(right, Concat());
    ASSIGN_OR_RETURN(left, Binary(std::move(left), at.text, std::move(right), at));
  }
  return left;
}

StatusOr<ExprPtr> Parser::Concat() {
  const Token& at = Cur();
  ExprPtr first;
  ASSIGN_OR_RETURN(first, Math2());
  if (!IsOp("~")) return first;
  auto e = Make(ExprKind::kConcat, at);
  e->children.push_back(std::move(first));
  while (SkipOp("~")) {
    ExprPtr next;
    ASSIGN_OR_RETURN(next, Math2());
    e->children.push_back(std::move(next));
  }
  return e;
}

StatusOr<ExprPtr> Parser::Math2() {
  ExprPtr left;
  ASSIGN_OR_RETURN(left, Pow());
  while (IsOp("*") || IsOp("/") || IsOp("//") || IsOp("%")) {
    const Token at = Cur();
    Next();
    ExprPtr right;
    ASSIGN_OR_RETURN(right, Pow());
    ASSIGN_OR_RETURN(left, Binary(std::move(left), at.text, std::move(right), at));
  }
  return left;
}

StatusOr<ExprPtr> Parser::Pow() {
  ExprPtr left;
  ASSIGN_OR_RETURN(left, Unary(true));
  while (IsOp("**")) {
    const Token at = Cur();
    Next();
    ExprPtr right;
    ASSIGN_OR_RETURN(right, Unary(true));
    ASSIGN_OR_RETURN(left, Binary(std::move(left), "**", std::move(right), at));
  }
  return left;
}

StatusOr<ExprPtr> Parser::Unary(bool with_filter) {
  Depth d(&depth_);
  RETURN_IF_ERROR(CheckDepth());
  ExprPtr node;
  if (IsOp("-") || IsOp("+")) {
    node = Make(IsOp("-") ? ExprKind::kNeg : ExprKind::kPos, Cur());
    Next();
    ExprPtr inner;
    ASSIGN_OR_RETURN(inner, Unary(false));
    node->children.push_back(std::move(inner));
  } else {
    ASSIGN_OR_RETURN(node, Primary());
  }
  ASSIGN_OR_RETURN(node, Postfix(std::move(node)));
  if (with_filter) {
    ASSIGN_OR_RETURN(node, FilterExpr(std::move(node)));
  }
  return node;
}

StatusOr<ExprPtr> Parser::Primary() {
  const Token& tok = Cur();
  switch (tok.type) {
    case TokenType::kName: {
      Next();
      auto e = Make(ExprKind::kLiteral, tok);
      if (tok.text == "true" || tok.text == "True") {
        e->literal = Value::Bool(true);
      } else if (tok.text == "false" || tok.text == "False") {
        e->literal = Value::Bool(false);
      } else if (tok.text == "none" || tok.text == "None") {
        e->literal = Value::None();
      } else {
        e->kind = ExprKind::kName;
        e->name = tok.text;
      }
      return e;
    }
    case TokenType::kString: {
      auto e = Make(ExprKind::kLiteral, tok);
      std::string s = tok.text;
      Next();
      while (Cur().type == TokenType::kString) {  // adjacent literals join, as in Python
        s += Cur().text;
        Next();
      }
      e->literal = Value::String(std::move(s));
      return e;
    }
    case TokenType::kInt: {
      auto e = Make(ExprKind::kLiteral, tok);
      e->literal = Value::Int(tok.int_value);
      Next();
      return e;
    }
    case TokenType::kFloat: {
      auto e = Make(ExprKind::kLiteral, tok);
      e->literal = Value::Float(tok.float_value);
      Next();
      return e;
    }
    case TokenType::kOperator:
      if (tok.text == "(") {
        Next();
        ExprPtr e;
        ASSIGN_OR_RETURN(e, Tuple(true, true));
        RETURN_IF_ERROR(ExpectOp(")"));
        return e;
      }
      if (tok.text == "[") {
        auto e = Make(ExprKind::kList, tok);
        Next();
        while (!IsOp("]")) {
          if (!e->children.empty()) RETURN_IF_ERROR(ExpectOp(","));
          if (IsOp("]")) break;
          ExprPtr item;
          ASSIGN_OR_RETURN(item, Expression(true));
          e->children.push_back(std::move(item));
        }
        Next();
        return e;
      }
      if (tok.text == "{") {
        auto e = Make(ExprKind::kDict, tok);
        Next();
        while (!IsOp("}")) {
          if (!e->children.empty()) RETURN_IF_ERROR(ExpectOp(","));
          if (IsOp("}")) break;
          ExprPtr key, value;
          ASSIGN_OR_RETURN(key, Expression(true));
          RETURN_IF_ERROR(ExpectOp(":"));
          ASSIGN_OR_RETURN(value, Expression(true));
          e->children.push_back(std::move(key));
          e->children.push_back(std::move(value));
        }
        Next();
        return e;
      }
      break;
    case TokenType::kText:
    case TokenType::kVarBegin:
    case TokenType::kVarEnd:
    case TokenType::kBlockBegin:
    case TokenType::kBlockEnd:
    case TokenType::kEof:
      break;
  }
  return Unexpected("an expression");
}

StatusOr<ExprPtr> Parser::Postfix(ExprPtr node) {
  while (true) {
    const Token& at = Cur();
    if (IsOp(".")) {
      Next();
      if (Cur().type == TokenType::kName) {
        auto e = Make(ExprKind::kGetAttr, at);
        e->name = Cur().text;
        Next();
        e->children.push_back(std::move(node));
        node = std::move(e);
      } else if (Cur().type == TokenType::kInt) {
        auto e = Make(ExprKind::kGetItem, at);
        auto idx = Make(ExprKind::kLiteral, Cur());
        idx->literal = Value::Int(Cur().int_value);
        Next();
        e->children.push_back(std::move(node));
        e->children.push_back(std::move(idx));
        node = std::move(e);
      } else {
        return Unexpected("an attribute name");
      }
    } else if (IsOp("[")) {
      Next();
      ASSIGN_OR_RETURN(node, Subscript(std::move(node), at));
    } else if (IsOp("(")) {
      ASSIGN_OR_RETURN(node, Call(std::move(node)));
    } else {
      return node;
    }
  }
}

StatusOr<ExprPtr> Parser::Subscript(ExprPtr target, const Token& at) {
  std::vector<ExprPtr> parts;  // start, stop, step when a slice
  bool slice = false;
  ExprPtr key;
  auto part = [&]() -> StatusOr<ExprPtr> {
    if (IsOp(":") || IsOp("]")) return ExprPtr();
    return Expression(true);
  };
  ExprPtr start;
  ASSIGN_OR_RETURN(start, part());
  if (SkipOp(":")) {
    slice = true;
    ExprPtr stop, step;
    ASSIGN_OR_RETURN(stop, part());
    if (SkipOp(":")) {
      ASSIGN_OR_RETURN(step, part());
    }
    parts.push_back(std::move(start));
    parts.push_back(std::move(stop));
    parts.push_back(std::move(step));
  } else {
    if (!start) return Unexpected("a subscript");
    key = std::move(start);
    if (IsOp(",")) {  // a[1, 2]: a tuple key
      auto t = Make(ExprKind::kTuple, Cur());
      t->children.push_back(std::move(key));
      while (SkipOp(",")) {
        if (IsOp("]")) break;
        ExprPtr item;
        ASSIGN_OR_RETURN(item, Expression(true));
        t->children.push_back(std::move(item));
      }
      key = std::move(t);
    }
  }
  RETURN_IF_ERROR(ExpectOp("]"));
  auto e = Make(slice ? ExprKind::kSlice : ExprKind::kGetItem, at);
  e->children.push_back(std::move(target));
  if (slice) {
    for (auto& p : parts) e->children.push_back(std::move(p));
  } else {
    e->children.push_back(std::move(key));
  }
  return e;
}

// (args, name=value, ...) into e->children[1..] and e->kwargs.
Status Parser::CallArguments(Expr* e) {
  RETURN_IF_ERROR(ExpectOp("("));
  bool first = true;
  while (!IsOp(")")) {
    if (!first) RETURN_IF_ERROR(ExpectOp(","));
    first = false;
    if (IsOp(")")) break;
    if (IsOp("*") || IsOp("**")) return Error(Cur(), "unsupported: *args and **kwargs in calls");
    if (Cur().type == TokenType::kName && Peek().type == TokenType::kOperator &&
        Peek().text == "=") {
      std::string name = Cur().text;
      Next();
      Next();
      ExprPtr value;
      ASSIGN_OR_RETURN(value, Expression(true));
      e->kwargs.emplace_back(std::move(name), std::move(value));
    } else {
      if (!e->kwargs.empty()) return Error(Cur(), "positional argument after keyword argument");
      ExprPtr value;
      ASSIGN_OR_RETURN(value, Expression(true));
      e->children.push_back(std::move(value));
    }
  }
  Next();
  return OkStatus();
}

StatusOr<ExprPtr> Parser::Call(ExprPtr callee) {
  auto e = Make(ExprKind::kCall, Cur());
  e->children.push_back(std::move(callee));
  RETURN_IF_ERROR(CallArguments(e.get()));
  return e;
}

StatusOr<ExprPtr> Parser::FilterExpr(ExprPtr node) {
  while (true) {
    if (IsOp("|")) {
      ASSIGN_OR_RETURN(node, Filters(std::move(node)));
    } else if (IsName("is")) {
      ASSIGN_OR_RETURN(node, Test(std::move(node)));
    } else if (IsOp("(")) {
      ASSIGN_OR_RETURN(node, Call(std::move(node)));
    } else {
      return node;
    }
  }
}

// | name(args) | name ... ; with start_inline the first name has no '|'.
StatusOr<ExprPtr> Parser::Filters(ExprPtr node, bool start_inline) {
  while (IsOp("|") || start_inline) {
    if (!start_inline) Next();
    start_inline = false;
    const Token at = Cur();
    ASSIGN_OR_RETURN(std::string name, ExpectName());
    while (IsOp(".")) {
      Next();
      ASSIGN_OR_RETURN(std::string part, ExpectName());
      name += "." + part;
    }
    if (!IsKnownFilter(name)) return Error(at, "unknown filter '" + name + "'");
    auto e = Make(ExprKind::kFilter, at);
    e->name = name;
    e->children.push_back(std::move(node));
    if (IsOp("(")) RETURN_IF_ERROR(CallArguments(e.get()));
    node = std::move(e);
  }
  return node;
}

StatusOr<ExprPtr> Parser::Test(ExprPtr node) {
  const Token& is_tok = Cur();
  Next();
  const bool negated = SkipName("not");
  const Token at = Cur();
  ASSIGN_OR_RETURN(std::string name, ExpectName());
  while (IsOp(".")) {
    Next();
    ASSIGN_OR_RETURN(std::string part, ExpectName());
    name += "." + part;
  }
  if (!IsKnownTest(name)) return Error(at, "unknown test '" + name + "'");
  auto e = Make(ExprKind::kTest, is_tok);
  e->name = name;
  e->children.push_back(std::move(node));
  const Token& c = Cur();
  if (IsOp("(")) {
    RETURN_IF_ERROR(CallArguments(e.get()));
  } else if ((c.type == TokenType::kName || c.type == TokenType::kString ||
              c.type == TokenType::kInt || c.type == TokenType::kFloat || IsOp("[") || IsOp("{")) &&
             !(c.type == TokenType::kName && IsOneOf(c.text, {"else", "or", "and"}))) {
    if (IsName("is")) return Error(c, "you cannot chain multiple tests with 'is'");
    ExprPtr arg;
    ASSIGN_OR_RETURN(arg, Primary());
    ASSIGN_OR_RETURN(arg, Postfix(std::move(arg)));
    e->children.push_back(std::move(arg));
  }
  if (!negated) return e;
  auto n = Make(ExprKind::kNot, is_tok);
  n->children.push_back(std::move(e));
  return n;
}
}  // namespace radixlm::tmpl
