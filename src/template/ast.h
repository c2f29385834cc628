// The parsed template: expressions and statements, as Jinja2's parser builds
// them (same precedence, same statement set for the supported subset). Nodes
// are owned by their parents; the whole tree by a Template, immutable once
// parsed.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "template/value.h"

namespace radixlm::tmpl {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

enum class ExprKind {
  kLiteral,    // literal
  kName,       // name
  kList,       // children
  kTuple,      // children
  kDict,       // children: key, value, key, value...
  kGetAttr,    // children[0].name
  kGetItem,    // children[0][children[1]]
  kSlice,      // children[0][children[1]:children[2]:children[3]] (null parts allowed)
  kCall,       // children[0](children[1..], kwargs)
  kFilter,     // children[0] | name(children[1..], kwargs)
  kTest,       // children[0] is name(children[1..], kwargs)
  kNeg,        // -children[0]
  kPos,        // +children[0]
  kNot,        // not children[0]
  kBinary,     // children[0] name children[1]: + - * / // % **
  kConcat,     // children joined with ~
  kCompare,    // children[0] ops[0] children[1] ops[1] children[2]...
  kAnd,        // children[0] and children[1]
  kOr,         // children[0] or children[1]
  kCondition,  // children[1] if children[0] else children[2] (children[2] may be null)
};

struct Expr {
  ExprKind kind = ExprKind::kLiteral;
  int line = 0;
  int column = 0;
  Value literal;
  std::string name;  // name, attribute, filter, test, operator
  std::vector<ExprPtr> children;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  std::vector<std::string> ops;  // kCompare: ==, !=, <, <=, >, >=, in, notin
};

struct Node;
using NodePtr = std::unique_ptr<Node>;
using Body = std::vector<NodePtr>;

enum class NodeKind {
  kText,         // text
  kOutput,       // {{ expr }}
  kIf,           // branches (condition, body), else_body
  kFor,          // targets in expr [if condition]: body, else_body
  kSet,          // targets = expr, or targets[0].attr = expr (attr not empty)
  kSetBlock,     // {% set targets[0] | filters %}body{% endset %}; expr: filter chain or null
  kMacro,        // {% macro name(params) %}body
  kCallBlock,    // {% call(params) expr %}body
  kFilterBlock,  // {% filter chain %}body; expr: the chain over the body
  kWith,         // {% with assignments %}body: params hold the assignments
  kBreak,
  kContinue,
  kScope,  // {% generation %}body: rendered as is
};

struct Node {
  NodeKind kind = NodeKind::kText;
  int line = 0;
  int column = 0;
  std::string text;  // kText
  ExprPtr expr;
  ExprPtr condition;                               // kFor's loop filter
  std::vector<std::pair<ExprPtr, Body>> branches;  // kIf
  Body body;
  Body else_body;
  std::vector<std::string> targets;  // kFor, kSet, kSetBlock
  bool unpack = false;               // targets came as a tuple (`for k, v in ...`)
  std::string attr;                  // kSet on a namespace attribute
  std::string name;                  // kMacro
  std::vector<std::pair<std::string, ExprPtr>>
      params;  // kMacro, kCallBlock, kWith (name, default or value)
};

// The name a filter chain of a set or filter block reads its body from.
inline constexpr const char* kBlockInputName = "\x01block";

}  // namespace radixlm::tmpl
