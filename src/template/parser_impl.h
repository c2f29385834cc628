// The parser's class, shared by parser.cc (statements) and parser_expr.cc
// (expressions). Internal to the library.
#pragma once

#include <algorithm>
#include <initializer_list>
#include <string>
#include <vector>

#include "core/status.h"
#include "template/ast.h"
#include "template/lexer.h"
#include "template/parser.h"

namespace radixlm::tmpl {

class Parser {
 public:
  explicit Parser(const std::vector<Token>& tokens) : t_(tokens) {}

  StatusOr<Body> Template();

 private:
  // ---- token helpers
  const Token& Cur() const { return t_[pos_]; }
  const Token& Peek(size_t ahead = 1) const { return t_[std::min(pos_ + ahead, t_.size() - 1)]; }
  void Next() {
    if (pos_ + 1 < t_.size()) ++pos_;
  }
  bool IsOp(const char* op) const { return Cur().type == TokenType::kOperator && Cur().text == op; }
  bool IsName(const char* name) const {
    return Cur().type == TokenType::kName && Cur().text == name;
  }
  bool SkipOp(const char* op) {
    if (!IsOp(op)) return false;
    Next();
    return true;
  }
  bool SkipName(const char* name) {
    if (!IsName(name)) return false;
    Next();
    return true;
  }

  static std::string Describe(const Token& t) {
    switch (t.type) {
      case TokenType::kText:
        return "text";
      case TokenType::kVarBegin:
        return "'{{'";
      case TokenType::kVarEnd:
        return "'}}'";
      case TokenType::kBlockBegin:
        return "'{%'";
      case TokenType::kBlockEnd:
        return "'%}'";
      case TokenType::kName:
        return "'" + t.text + "'";
      case TokenType::kString:
        return "a string";
      case TokenType::kInt:
        return "an integer";
      case TokenType::kFloat:
        return "a number";
      case TokenType::kOperator:
        return "'" + t.text + "'";
      case TokenType::kEof:
        return "the end of the template";
    }
    return "a token";
  }

  Status Error(const Token& at, const std::string& message) const {
    return InvalidArgumentError("line " + std::to_string(at.line) + ", column " +
                                std::to_string(at.column) + ": " + message);
  }
  Status Unexpected(const std::string& expected) const {
    return Error(Cur(), "expected " + expected + ", got " + Describe(Cur()));
  }
  Status ExpectOp(const char* op) {
    if (!SkipOp(op)) return Unexpected(std::string("'") + op + "'");
    return OkStatus();
  }
  StatusOr<std::string> ExpectName() {
    if (Cur().type != TokenType::kName) return Unexpected("a name");
    std::string n = Cur().text;
    Next();
    return n;
  }
  Status ExpectBlockEnd() {
    if (Cur().type != TokenType::kBlockEnd) return Unexpected("'%}'");
    Next();
    return OkStatus();
  }

  ExprPtr Make(ExprKind kind, const Token& at) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->line = at.line;
    e->column = at.column;
    return e;
  }
  NodePtr MakeNode(NodeKind kind, const Token& at) {
    auto n = std::make_unique<Node>();
    n->kind = kind;
    n->line = at.line;
    n->column = at.column;
    return n;
  }

  struct Depth {
    explicit Depth(int* d) : d_(d) { ++*d_; }
    ~Depth() { --*d_; }
    int* d_;
  };
  Status CheckDepth() const {
    if (depth_ > kMaxNesting) {
      return Error(Cur(), "expressions or blocks nested deeper than " +
                              std::to_string(kMaxNesting) + " levels");
    }
    return OkStatus();
  }

  // ---- statements (parser.cc)
  // Parses until a block tag named in `ends` (left unconsumed after its name;
  // *end says which), or the end of the template when `ends` is empty.
  Status Statements(std::initializer_list<const char*> ends, Body* body, std::string* end);
  StatusOr<NodePtr> Statement();
  StatusOr<NodePtr> If();
  // `name` or `a, b` or `(a, b)`.
  Status AssignTargets(std::vector<std::string>* targets, bool* unpack);
  StatusOr<NodePtr> For();
  StatusOr<NodePtr> Set();
  // (a, b=default, ...)
  Status Signature(std::vector<std::pair<std::string, ExprPtr>>* params);
  StatusOr<NodePtr> Macro();
  StatusOr<NodePtr> CallBlock();
  StatusOr<NodePtr> FilterBlock();
  StatusOr<NodePtr> With();

  // ---- expressions (parser_expr.cc)
  // Expressions separated by commas; one without a comma is itself, otherwise
  // a tuple. `stop_name` ends the list early (for's `recursive`).
  StatusOr<ExprPtr> Tuple(bool with_condexpr, bool explicit_parens,
                          const char* stop_name = nullptr);
  bool TupleEnds(const char* stop_name) const;
  StatusOr<ExprPtr> Expression(bool with_condexpr);
  StatusOr<ExprPtr> Or();
  StatusOr<ExprPtr> And();
  StatusOr<ExprPtr> Not();
  StatusOr<ExprPtr> Compare();
  StatusOr<ExprPtr> Binary(ExprPtr left, const std::string& op, ExprPtr right, const Token& at);
  StatusOr<ExprPtr> Math1();
  StatusOr<ExprPtr> Concat();
  StatusOr<ExprPtr> Math2();
  StatusOr<ExprPtr> Pow();
  StatusOr<ExprPtr> Unary(bool with_filter);
  StatusOr<ExprPtr> Primary();
  StatusOr<ExprPtr> Postfix(ExprPtr node);
  StatusOr<ExprPtr> Subscript(ExprPtr target, const Token& at);
  // (args, name=value, ...) into e->children[1..] and e->kwargs.
  Status CallArguments(Expr* e);
  StatusOr<ExprPtr> Call(ExprPtr callee);
  StatusOr<ExprPtr> FilterExpr(ExprPtr node);
  // | name(args) | name ... ; with start_inline the first name has no '|'.
  StatusOr<ExprPtr> Filters(ExprPtr node, bool start_inline = false);
  StatusOr<ExprPtr> Test(ExprPtr node);

  const std::vector<Token>& t_;
  size_t pos_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
};

// Whether s is one of names.
bool IsOneOf(const std::string& s, std::initializer_list<const char*> names);

}  // namespace radixlm::tmpl
