// Renderer: one render of a parsed template (internal to the library). Holds
// the output buffer, the scopes, and the counters that RenderLimits bound;
// filters, tests and callables reach back into it for attribute access,
// calls and the limits.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "template/ast.h"
#include "template/template.h"
#include "template/value.h"

namespace radixlm::tmpl {

struct Scope {
  std::shared_ptr<Scope> parent;
  std::vector<std::pair<std::string, Value>> vars;

  const Value* Find(std::string_view name) const;
  void Set(const std::string& name, Value value);
};

class Renderer {
 public:
  Renderer(const Dict& globals, const RenderOptions& options);
  ~Renderer();

  StatusOr<std::string> Run(const Body& body);

  // One unit of work; fails past RenderLimits::max_steps.
  Status Step();
  // Fails when a string of `bytes` would pass the output limit.
  Status CheckSize(size_t bytes) const;
  const RenderOptions& options() const { return options_; }

  // Jinja2's getattr / getitem: a missing attribute or item is an undefined
  // carrying the message it raises when used; reading from an undefined fails.
  StatusOr<Value> Attribute(const Value& obj, const std::string& name, int line);
  StatusOr<Value> Item(const Value& obj, const Value& key, int line);
  StatusOr<Value> Call(const Value& callee, CallArgs& args, int line);
  // The elements `for` walks: list items, dict keys, string characters;
  // undefined is empty.
  StatusOr<std::vector<Value>> Iterate(const Value& v, int line) const;

  // A namespace() made in this render (cleared at the end, so cycles through
  // its attributes cannot leak).
  Value NewNamespace(Dict d);

  // Errors at a line, as "line L: message".
  static Status ErrorAt(int line, const std::string& message);

 private:
  enum class Flow { kNormal, kBreak, kContinue };

  StatusOr<Flow> RenderBody(const Body& body, const std::shared_ptr<Scope>& scope);
  StatusOr<Flow> RenderNode(const Node& n, const std::shared_ptr<Scope>& scope);
  StatusOr<Flow> RenderFor(const Node& n, const std::shared_ptr<Scope>& scope);
  Status Assign(const Node& n, const Value& value, const std::shared_ptr<Scope>& scope);
  StatusOr<std::string> Capture(const Body& body, const std::shared_ptr<Scope>& scope);
  Value MakeMacro(const Node& n, const std::shared_ptr<Scope>& scope, const std::string& name);

  StatusOr<Value> Eval(const Expr& e, const std::shared_ptr<Scope>& scope);
  StatusOr<Value> EvalCall(const Expr& e, const std::shared_ptr<Scope>& scope);
  StatusOr<Value> EvalBinary(const Expr& e, const Value& a, const Value& b);
  StatusOr<bool> EvalCompare(const std::string& op, const Value& a, const Value& b, int line);
  Status EvalArgs(const Expr& e, size_t first, const std::shared_ptr<Scope>& scope, CallArgs* args);
  Status Out(const std::string& s);

  RenderOptions options_;
  std::shared_ptr<Scope> root_;
  std::string* out_ = nullptr;
  int64_t steps_ = 0;
  int call_depth_ = 0;
  std::vector<Value> namespaces_;
};

}  // namespace radixlm::tmpl
