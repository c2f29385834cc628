#include "template/renderer.h"

#include <cmath>

#include "template/builtins.h"
#include "template/text.h"

namespace radixlm::tmpl {

const Value* Scope::Find(std::string_view name) const {
  for (const Scope* s = this; s != nullptr; s = s->parent.get()) {
    for (const auto& [k, v] : s->vars) {
      if (k == name) return &v;
    }
  }
  return nullptr;
}

void Scope::Set(const std::string& name, Value value) {
  for (auto& [k, v] : vars) {
    if (k == name) {
      v = std::move(value);
      return;
    }
  }
  vars.emplace_back(name, std::move(value));
}

Renderer::Renderer(const Dict& globals, const RenderOptions& options) : options_(options) {
  root_ = std::make_shared<Scope>();
  Dict builtins;
  AddGlobals(&builtins);
  for (auto& [k, v] : builtins.items) root_->Set(k, v);
  for (const auto& [k, v] : globals.items) root_->Set(k, v);
}

Renderer::~Renderer() {
  // Namespaces may hold themselves (set ns.me = ns); break such cycles.
  for (Value& ns : namespaces_) ns.mutable_dict().items.clear();
  root_->vars.clear();
}

Value Renderer::NewNamespace(Dict d) {
  d.is_namespace = true;
  Value v = Value::MakeDict(std::move(d));
  namespaces_.push_back(v);
  return v;
}

Status Renderer::ErrorAt(int line, const std::string& message) {
  if (message.rfind(kRaisedPrefix, 0) == 0) return InvalidArgumentError(message);
  return InvalidArgumentError("line " + std::to_string(line) + ": " + message);
}

Status Renderer::Step() {
  if (++steps_ > options_.limits.max_steps) {
    return ResourceExhaustedError("the chat template ran more than " +
                                  std::to_string(options_.limits.max_steps) +
                                  " steps (a runaway loop?)");
  }
  return OkStatus();
}

Status Renderer::CheckSize(size_t bytes) const {
  if (bytes > options_.limits.max_output_bytes) {
    return ResourceExhaustedError("the chat template's output passed " +
                                  std::to_string(options_.limits.max_output_bytes) + " bytes");
  }
  return OkStatus();
}

Status Renderer::Out(const std::string& s) {
  RETURN_IF_ERROR(CheckSize(out_->size() + s.size()));
  out_->append(s);
  return OkStatus();
}

StatusOr<std::string> Renderer::Run(const Body& body) {
  std::string out;
  out_ = &out;
  auto flow = RenderBody(body, root_);
  if (!flow.ok()) {
    const std::string m(flow.status().message());
    if (m.rfind(kRaisedPrefix, 0) == 0) {
      return InvalidArgumentError(m.substr(std::char_traits<char>::length(kRaisedPrefix)));
    }
    return flow.status();
  }
  return out;
}

StatusOr<Renderer::Flow> Renderer::RenderBody(const Body& body,
                                              const std::shared_ptr<Scope>& scope) {
  for (const NodePtr& n : body) {
    ASSIGN_OR_RETURN(Flow f, RenderNode(*n, scope));
    if (f != Flow::kNormal) return f;
  }
  return Flow::kNormal;
}

StatusOr<std::string> Renderer::Capture(const Body& body, const std::shared_ptr<Scope>& scope) {
  std::string buffer;
  std::string* saved = out_;
  out_ = &buffer;
  auto flow = RenderBody(body, scope);
  out_ = saved;
  RETURN_IF_ERROR(flow.status());
  return buffer;
}

Status Renderer::Assign(const Node& n, const Value& value, const std::shared_ptr<Scope>& scope) {
  if (!n.unpack) {
    scope->Set(n.targets[0], value);
    return OkStatus();
  }
  std::vector<Value> items;
  ASSIGN_OR_RETURN(items, Iterate(value, n.line));
  if (value.is_undefined())
    return ErrorAt(n.line, value.str().empty() ? "cannot unpack an undefined value" : value.str());
  if (items.size() != n.targets.size()) {
    return ErrorAt(
        n.line,
        items.size() > n.targets.size()
            ? "too many values to unpack (expected " + std::to_string(n.targets.size()) + ")"
            : "not enough values to unpack (expected " + std::to_string(n.targets.size()) +
                  ", got " + std::to_string(items.size()) + ")");
  }
  for (size_t i = 0; i < items.size(); ++i) scope->Set(n.targets[i], items[i]);
  return OkStatus();
}

StatusOr<Renderer::Flow> Renderer::RenderNode(const Node& n, const std::shared_ptr<Scope>& scope) {
  RETURN_IF_ERROR(Step());
  switch (n.kind) {
    case NodeKind::kText:
      RETURN_IF_ERROR(Out(n.text));
      return Flow::kNormal;
    case NodeKind::kOutput: {
      ASSIGN_OR_RETURN(Value v, Eval(*n.expr, scope));
      if (v.is_callable())
        return ErrorAt(n.line, "cannot print a function (missing call parentheses?)");
      RETURN_IF_ERROR(Out(v.ToString()));
      return Flow::kNormal;
    }
    case NodeKind::kIf:
      for (const auto& [cond, body] : n.branches) {
        ASSIGN_OR_RETURN(Value c, Eval(*cond, scope));
        if (c.Truthy()) return RenderBody(body, scope);
      }
      return RenderBody(n.else_body, scope);
    case NodeKind::kFor:
      return RenderFor(n, scope);
    case NodeKind::kSet: {
      ASSIGN_OR_RETURN(Value v, Eval(*n.expr, scope));
      if (n.attr.empty()) {
        RETURN_IF_ERROR(Assign(n, v, scope));
        return Flow::kNormal;
      }
      const Value* ns = scope->Find(n.targets[0]);
      if (ns == nullptr || !ns->is_namespace()) {
        return ErrorAt(n.line, "cannot assign attribute on non-namespace object");
      }
      ns->mutable_dict().Set(n.attr, std::move(v));
      return Flow::kNormal;
    }
    case NodeKind::kSetBlock: {
      ASSIGN_OR_RETURN(std::string text, Capture(n.body, scope));
      Value v = Value::String(std::move(text));
      if (n.expr) {
        auto inner = std::make_shared<Scope>();
        inner->parent = scope;
        inner->Set(kBlockInputName, v);
        ASSIGN_OR_RETURN(v, Eval(*n.expr, inner));
      }
      scope->Set(n.targets[0], std::move(v));
      return Flow::kNormal;
    }
    case NodeKind::kFilterBlock: {
      ASSIGN_OR_RETURN(std::string text, Capture(n.body, scope));
      auto inner = std::make_shared<Scope>();
      inner->parent = scope;
      inner->Set(kBlockInputName, Value::String(std::move(text)));
      ASSIGN_OR_RETURN(Value v, Eval(*n.expr, inner));
      RETURN_IF_ERROR(Out(v.ToString()));
      return Flow::kNormal;
    }
    case NodeKind::kMacro:
      scope->Set(n.name, MakeMacro(n, scope, n.name));
      return Flow::kNormal;
    case NodeKind::kCallBlock: {
      const Expr& call = *n.expr;
      ASSIGN_OR_RETURN(Value callee, Eval(*call.children[0], scope));
      CallArgs args;
      RETURN_IF_ERROR(EvalArgs(call, 1, scope, &args));
      args.kwargs.emplace_back("caller", MakeMacro(n, scope, "caller"));
      ASSIGN_OR_RETURN(Value v, Call(callee, args, n.line));
      RETURN_IF_ERROR(Out(v.ToString()));
      return Flow::kNormal;
    }
    case NodeKind::kWith: {
      auto inner = std::make_shared<Scope>();
      inner->parent = scope;
      for (const auto& [name, expr] : n.params) {
        ASSIGN_OR_RETURN(Value v,
                         Eval(*expr, scope));  // evaluated in the outer scope, as Jinja2 does
        inner->Set(name, std::move(v));
      }
      return RenderBody(n.body, inner);
    }
    case NodeKind::kBreak:
      return Flow::kBreak;
    case NodeKind::kContinue:
      return Flow::kContinue;
    case NodeKind::kScope:
      return RenderBody(n.body, scope);
  }
  return Flow::kNormal;
}

StatusOr<Renderer::Flow> Renderer::RenderFor(const Node& n, const std::shared_ptr<Scope>& scope) {
  ASSIGN_OR_RETURN(Value iterable, Eval(*n.expr, scope));
  std::vector<Value> items;
  ASSIGN_OR_RETURN(items, Iterate(iterable, n.line));
  if (n.condition) {  // the loop filter runs before the loop: loop.length counts what passes
    std::vector<Value> kept;
    for (Value& item : items) {
      RETURN_IF_ERROR(Step());
      auto inner = std::make_shared<Scope>();
      inner->parent = scope;
      RETURN_IF_ERROR(Assign(n, item, inner));
      ASSIGN_OR_RETURN(Value keep, Eval(*n.condition, inner));
      if (keep.Truthy()) kept.push_back(std::move(item));
    }
    items = std::move(kept);
  }
  if (items.empty()) return RenderBody(n.else_body, scope);
  const int64_t length = static_cast<int64_t>(items.size());
  for (int64_t i = 0; i < length; ++i) {
    RETURN_IF_ERROR(Step());
    auto inner = std::make_shared<Scope>();
    inner->parent = scope;
    Dict loop;
    loop.Set("index", Value::Int(i + 1));
    loop.Set("index0", Value::Int(i));
    loop.Set("revindex", Value::Int(length - i));
    loop.Set("revindex0", Value::Int(length - i - 1));
    loop.Set("first", Value::Bool(i == 0));
    loop.Set("last", Value::Bool(i == length - 1));
    loop.Set("length", Value::Int(length));
    loop.Set("depth", Value::Int(1));
    loop.Set("depth0", Value::Int(0));
    loop.Set("previtem", i > 0 ? items[static_cast<size_t>(i - 1)]
                               : Value::Undefined("there is no previous item"));
    loop.Set("nextitem", i + 1 < length ? items[static_cast<size_t>(i + 1)]
                                        : Value::Undefined("there is no next item"));
    loop.Set("cycle",
             Value::MakeCallable("loop.cycle", [i](Renderer&, CallArgs& a) -> StatusOr<Value> {
               if (a.args.empty()) return InvalidArgumentError("no items for cycling given");
               return a.args[static_cast<size_t>(i) % a.args.size()];
             }));
    inner->Set("loop", Value::MakeDict(std::move(loop)));
    RETURN_IF_ERROR(Assign(n, items[static_cast<size_t>(i)], inner));
    ASSIGN_OR_RETURN(Flow f, RenderBody(n.body, inner));
    if (f == Flow::kBreak) break;
  }
  return Flow::kNormal;
}

Value Renderer::MakeMacro(const Node& n, const std::shared_ptr<Scope>& scope,
                          const std::string& name) {
  // A weak reference: the macro usually lives in the very scope it captures.
  std::weak_ptr<Scope> defining = scope;
  const Node* node = &n;
  return Value::MakeCallable(
      name, [node, defining, name](Renderer& r, CallArgs& a) -> StatusOr<Value> {
        if (r.call_depth_ >= r.options_.limits.max_call_depth) {
          return ErrorAt(a.line, "macro calls nested deeper than " +
                                     std::to_string(r.options_.limits.max_call_depth));
        }
        auto inner = std::make_shared<Scope>();
        inner->parent = defining.lock();
        if (!inner->parent) inner->parent = r.root_;
        size_t next_positional = 0;
        for (const auto& [pname, def] : node->params) {
          const Value* given = nullptr;
          if (next_positional < a.args.size()) {
            given = &a.args[next_positional++];
          } else {
            for (const auto& [k, v] : a.kwargs) {
              if (k == pname) given = &v;
            }
          }
          if (given != nullptr) {
            inner->Set(pname, *given);
          } else if (def) {
            ASSIGN_OR_RETURN(Value v, r.Eval(*def, inner));
            inner->Set(pname, std::move(v));
          } else {
            inner->Set(pname, Value::Undefined("parameter '" + pname + "' was not provided"));
          }
        }
        std::vector<Value> varargs(a.args.begin() + static_cast<std::ptrdiff_t>(next_positional),
                                   a.args.end());
        inner->Set("varargs", Value::MakeList(std::move(varargs), true));
        Dict kwargs;
        for (const auto& [k, v] : a.kwargs) {
          bool is_param = false;
          for (const auto& p : node->params) is_param |= p.first == k;
          if (k == "caller") {
            inner->Set("caller", v);
          } else if (!is_param) {
            kwargs.Set(k, v);
          }
        }
        inner->Set("kwargs", Value::MakeDict(std::move(kwargs)));
        ++r.call_depth_;
        auto text = r.Capture(node->body, inner);
        --r.call_depth_;
        RETURN_IF_ERROR(text.status());
        return Value::String(std::move(*text));
      });
}

StatusOr<std::vector<Value>> Renderer::Iterate(const Value& v, int line) const {
  switch (v.kind()) {
    case ValueKind::kUndefined:
      return std::vector<Value>{};
    case ValueKind::kList:
      return v.list().items;
    case ValueKind::kDict: {
      if (v.is_namespace()) return ErrorAt(line, "'Namespace' object is not iterable");
      std::vector<Value> keys;
      for (const auto& [k, _] : v.dict().items) keys.push_back(Value::String(k));
      return keys;
    }
    case ValueKind::kString: {
      std::vector<Value> chars;
      for (char32_t c : DecodeUtf8(v.str())) {
        std::string s;
        AppendUtf8(c, &s);
        chars.push_back(Value::String(std::move(s)));
      }
      return chars;
    }
    case ValueKind::kNone:
    case ValueKind::kBool:
    case ValueKind::kInt:
    case ValueKind::kFloat:
    case ValueKind::kCallable:
      return ErrorAt(line, std::string("'") + v.TypeName() + "' object is not iterable");
  }
  return std::vector<Value>{};
}

namespace {

std::string ObjectRepr(const Value& v) {
  if (v.is_none()) return "None";
  return std::string(v.TypeName()) + " object";
}

}  // namespace

StatusOr<Value> Renderer::Attribute(const Value& obj, const std::string& name, int line) {
  if (obj.is_undefined())
    return ErrorAt(line, obj.str().empty() ? "undefined value has no attributes" : obj.str());
  if (obj.is_dict() && !obj.is_namespace()) {
    if (auto m = BoundMethod(obj, name)) return *m;
  }
  if (obj.is_dict()) {
    if (const Value* v = obj.dict().Find(name)) return *v;
  } else if (auto m = BoundMethod(obj, name)) {
    return *m;
  }
  return Value::Undefined("'" + ObjectRepr(obj) + "' has no attribute '" + name + "'");
}

namespace {

// Python's slice.indices() for a sequence of length n.
void SliceBounds(int64_t n, const std::optional<int64_t>& start, const std::optional<int64_t>& stop,
                 int64_t step, int64_t* b, int64_t* e) {
  auto clamp = [&](std::optional<int64_t> x, int64_t def) {
    if (!x) return def;
    int64_t v = *x;
    if (v < 0) v += n;
    if (step > 0) return std::clamp<int64_t>(v, 0, n);
    return std::clamp<int64_t>(v, -1, n - 1);
  };
  *b = clamp(start, step > 0 ? 0 : n - 1);
  *e = clamp(stop, step > 0 ? n : -1);
}

}  // namespace

StatusOr<Value> Renderer::Item(const Value& obj, const Value& key, int line) {
  if (obj.is_undefined())
    return ErrorAt(line, obj.str().empty() ? "undefined value has no items" : obj.str());
  if (obj.is_dict() && !obj.is_namespace()) {
    if (key.is_string()) {
      if (const Value* v = obj.dict().Find(key.str())) return *v;
      return Value::Undefined("'dict object' has no attribute '" + key.str() + "'");
    }
    return Value::Undefined("'dict object' has no element " + key.Repr());
  }
  if ((obj.is_list() || obj.is_string()) && (key.is_int() || key.is_bool())) {
    int64_t i = key.int_value();
    if (obj.is_list()) {
      const int64_t n = static_cast<int64_t>(obj.list().items.size());
      if (i < 0) i += n;
      if (i >= 0 && i < n) return obj.list().items[static_cast<size_t>(i)];
    } else {
      const std::vector<char32_t> cps = DecodeUtf8(obj.str());
      const int64_t n = static_cast<int64_t>(cps.size());
      if (i < 0) i += n;
      if (i >= 0 && i < n)
        return Value::String(EncodeUtf8(cps, static_cast<size_t>(i), static_cast<size_t>(i) + 1));
    }
    return Value::Undefined("'" + ObjectRepr(obj) + "' has no element " + key.Repr());
  }
  if (key.is_string()) return Attribute(obj, key.str(), line);
  return Value::Undefined("'" + ObjectRepr(obj) + "' has no element " + key.Repr());
}

StatusOr<Value> Renderer::Call(const Value& callee, CallArgs& args, int line) {
  RETURN_IF_ERROR(Step());
  if (callee.is_undefined())
    return ErrorAt(line, callee.str().empty() ? "undefined value is not callable" : callee.str());
  if (!callee.is_callable())
    return ErrorAt(line, std::string("'") + callee.TypeName() + "' object is not callable");
  args.line = line;
  auto v = callee.callable().call(*this, args);
  if (!v.ok()) {
    const std::string m(v.status().message());
    if (m.rfind("line ", 0) == 0 || m.rfind(kRaisedPrefix, 0) == 0 ||
        v.status().code() == StatusCode::kResourceExhausted) {
      return v.status();
    }
    return ErrorAt(line, m);
  }
  return v;
}

Status Renderer::EvalArgs(const Expr& e, size_t first, const std::shared_ptr<Scope>& scope,
                          CallArgs* args) {
  for (size_t i = first; i < e.children.size(); ++i) {
    ASSIGN_OR_RETURN(Value v, Eval(*e.children[i], scope));
    args->args.push_back(std::move(v));
  }
  for (const auto& [k, ex] : e.kwargs) {
    ASSIGN_OR_RETURN(Value v, Eval(*ex, scope));
    args->kwargs.emplace_back(k, std::move(v));
  }
  args->line = e.line;
  return OkStatus();
}

StatusOr<Value> Renderer::Eval(const Expr& e, const std::shared_ptr<Scope>& scope) {
  switch (e.kind) {
    case ExprKind::kLiteral:
      return e.literal;
    case ExprKind::kName: {
      if (const Value* v = scope->Find(e.name)) return *v;
      return Value::Undefined("'" + e.name + "' is undefined");
    }
    case ExprKind::kList:
    case ExprKind::kTuple: {
      std::vector<Value> items;
      for (const ExprPtr& c : e.children) {
        ASSIGN_OR_RETURN(Value v, Eval(*c, scope));
        items.push_back(std::move(v));
      }
      return Value::MakeList(std::move(items), e.kind == ExprKind::kTuple);
    }
    case ExprKind::kDict: {
      Dict d;
      for (size_t i = 0; i + 1 < e.children.size(); i += 2) {
        ASSIGN_OR_RETURN(Value k, Eval(*e.children[i], scope));
        ASSIGN_OR_RETURN(Value v, Eval(*e.children[i + 1], scope));
        if (!k.is_string())
          return ErrorAt(e.line, "dict keys other than strings are not supported");
        d.Set(k.str(), std::move(v));
      }
      return Value::MakeDict(std::move(d));
    }
    case ExprKind::kGetAttr: {
      ASSIGN_OR_RETURN(Value obj, Eval(*e.children[0], scope));
      return Attribute(obj, e.name, e.line);
    }
    case ExprKind::kGetItem: {
      ASSIGN_OR_RETURN(Value obj, Eval(*e.children[0], scope));
      ASSIGN_OR_RETURN(Value key, Eval(*e.children[1], scope));
      return Item(obj, key, e.line);
    }
    case ExprKind::kSlice: {
      ASSIGN_OR_RETURN(Value obj, Eval(*e.children[0], scope));
      std::optional<int64_t> bounds[3];
      for (int i = 0; i < 3; ++i) {
        const ExprPtr& p = e.children[static_cast<size_t>(i) + 1];
        if (!p) continue;
        ASSIGN_OR_RETURN(Value v, Eval(*p, scope));
        if (v.is_none()) continue;
        if (!v.is_int() && !v.is_bool()) {
          return ErrorAt(e.line, "slice indices must be integers or None");
        }
        bounds[i] = v.int_value();
      }
      const int64_t step = bounds[2].value_or(1);
      if (step == 0) return ErrorAt(e.line, "slice step cannot be zero");
      if (obj.is_undefined())
        return ErrorAt(e.line, obj.str().empty() ? "undefined value has no items" : obj.str());
      if (obj.is_list()) {
        const auto& items = obj.list().items;
        int64_t b = 0, end = 0;
        SliceBounds(static_cast<int64_t>(items.size()), bounds[0], bounds[1], step, &b, &end);
        std::vector<Value> out;
        for (int64_t i = b; step > 0 ? i < end : i > end; i += step)
          out.push_back(items[static_cast<size_t>(i)]);
        return Value::MakeList(std::move(out), obj.list().tuple);
      }
      if (obj.is_string()) {
        const std::vector<char32_t> cps = DecodeUtf8(obj.str());
        int64_t b = 0, end = 0;
        SliceBounds(static_cast<int64_t>(cps.size()), bounds[0], bounds[1], step, &b, &end);
        std::string out;
        for (int64_t i = b; step > 0 ? i < end : i > end; i += step)
          AppendUtf8(cps[static_cast<size_t>(i)], &out);
        return Value::String(std::move(out));
      }
      return Value::Undefined("'" + ObjectRepr(obj) + "' cannot be sliced");
    }
    case ExprKind::kCall:
      return EvalCall(e, scope);
    case ExprKind::kFilter: {
      ASSIGN_OR_RETURN(Value input, Eval(*e.children[0], scope));
      CallArgs args;
      RETURN_IF_ERROR(EvalArgs(e, 1, scope, &args));
      RETURN_IF_ERROR(Step());
      auto v = ApplyFilter(*this, e.name, input, args);
      if (!v.ok()) {
        const std::string m(v.status().message());
        if (m.rfind("line ", 0) == 0 || v.status().code() == StatusCode::kResourceExhausted)
          return v.status();
        return ErrorAt(e.line, m);
      }
      return v;
    }
    case ExprKind::kTest: {
      ASSIGN_OR_RETURN(Value input, Eval(*e.children[0], scope));
      CallArgs args;
      RETURN_IF_ERROR(EvalArgs(e, 1, scope, &args));
      auto v = ApplyTest(*this, e.name, input, args);
      if (!v.ok()) {
        const std::string m(v.status().message());
        if (m.rfind("line ", 0) == 0 || v.status().code() == StatusCode::kResourceExhausted)
          return v.status();
        return ErrorAt(e.line, m);
      }
      return Value::Bool(*v);
    }
    case ExprKind::kNeg:
    case ExprKind::kPos: {
      ASSIGN_OR_RETURN(Value v, Eval(*e.children[0], scope));
      if (v.is_undefined()) return ErrorAt(e.line, v.str());
      if (v.is_float()) return Value::Float(e.kind == ExprKind::kNeg ? -v.number() : v.number());
      if (v.is_int() || v.is_bool()) {
        if (e.kind == ExprKind::kPos) return Value::Int(v.int_value());
        if (v.int_value() == INT64_MIN) return ErrorAt(e.line, "integer overflow");
        return Value::Int(-v.int_value());
      }
      return ErrorAt(e.line, std::string("bad operand type for unary ") +
                                 (e.kind == ExprKind::kNeg ? "-" : "+") + ": '" + v.TypeName() +
                                 "'");
    }
    case ExprKind::kNot: {
      ASSIGN_OR_RETURN(Value v, Eval(*e.children[0], scope));
      return Value::Bool(!v.Truthy());
    }
    case ExprKind::kAnd: {
      ASSIGN_OR_RETURN(Value a, Eval(*e.children[0], scope));
      if (!a.Truthy()) return a;
      return Eval(*e.children[1], scope);
    }
    case ExprKind::kOr: {
      ASSIGN_OR_RETURN(Value a, Eval(*e.children[0], scope));
      if (a.Truthy()) return a;
      return Eval(*e.children[1], scope);
    }
    case ExprKind::kCondition: {
      ASSIGN_OR_RETURN(Value c, Eval(*e.children[0], scope));
      if (c.Truthy()) return Eval(*e.children[1], scope);
      if (e.children[2]) return Eval(*e.children[2], scope);
      return Value::Undefined("the inline if expression was false and had no else");
    }
    case ExprKind::kConcat: {
      std::string s;
      for (const ExprPtr& c : e.children) {
        ASSIGN_OR_RETURN(Value v, Eval(*c, scope));
        s += v.ToString();
        RETURN_IF_ERROR(CheckSize(s.size()));
      }
      return Value::String(std::move(s));
    }
    case ExprKind::kBinary: {
      ASSIGN_OR_RETURN(Value a, Eval(*e.children[0], scope));
      ASSIGN_OR_RETURN(Value b, Eval(*e.children[1], scope));
      return EvalBinary(e, a, b);
    }
    case ExprKind::kCompare: {
      ASSIGN_OR_RETURN(Value left, Eval(*e.children[0], scope));
      for (size_t i = 0; i < e.ops.size(); ++i) {
        ASSIGN_OR_RETURN(Value right, Eval(*e.children[i + 1], scope));
        ASSIGN_OR_RETURN(bool ok, EvalCompare(e.ops[i], left, right, e.line));
        if (!ok) return Value::Bool(false);
        left = std::move(right);
      }
      return Value::Bool(true);
    }
  }
  return Value();
}

StatusOr<Value> Renderer::EvalCall(const Expr& e, const std::shared_ptr<Scope>& scope) {
  const Expr& target = *e.children[0];
  Value callee;
  if (target.kind == ExprKind::kGetAttr) {
    ASSIGN_OR_RETURN(Value obj, Eval(*target.children[0], scope));
    ASSIGN_OR_RETURN(callee, Attribute(obj, target.name, target.line));
    if (callee.is_undefined() && !obj.is_undefined() && !obj.is_dict()) {
      return ErrorAt(e.line, "'" + std::string(obj.TypeName()) + "' object has no attribute '" +
                                 target.name + "'");
    }
  } else {
    ASSIGN_OR_RETURN(callee, Eval(target, scope));
  }
  CallArgs args;
  RETURN_IF_ERROR(EvalArgs(e, 1, scope, &args));
  return Call(callee, args, e.line);
}

namespace {

// Python ints do not overflow; past 64 bits radixlm refuses rather than wraps.
template <typename Op>
StatusOr<Value> CheckedInt(int64_t a, int64_t b, Op op) {
  int64_t r = 0;
  if (op(a, b, &r)) return InvalidArgumentError("integer overflow");
  return Value::Int(r);
}

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

}  // namespace

StatusOr<Value> Renderer::EvalBinary(const Expr& e, const Value& a, const Value& b) {
  const std::string& op = e.name;
  if (a.is_undefined()) return ErrorAt(e.line, a.str());
  if (b.is_undefined()) return ErrorAt(e.line, b.str());
  auto unsupported = [&]() {
    return ErrorAt(e.line, "unsupported operand type(s) for " + op + ": '" + a.TypeName() +
                               "' and '" + b.TypeName() + "'");
  };
  const bool ints = (a.is_int() || a.is_bool()) && (b.is_int() || b.is_bool());
  const bool nums = a.is_number() && b.is_number();
  if (op == "+") {
    if (ints) {
      return CheckedInt(a.int_value(), b.int_value(), [](int64_t x, int64_t y, int64_t* r) {
        return __builtin_add_overflow(x, y, r);
      });
    }
    if (nums) return Value::Float(a.number() + b.number());
    if (a.is_string() && b.is_string()) {
      RETURN_IF_ERROR(CheckSize(a.str().size() + b.str().size()));
      return Value::String(a.str() + b.str());
    }
    if (a.is_list() && b.is_list() && a.list().tuple == b.list().tuple) {
      std::vector<Value> items = a.list().items;
      items.insert(items.end(), b.list().items.begin(), b.list().items.end());
      return Value::MakeList(std::move(items), a.list().tuple);
    }
    if (a.is_string() || b.is_string()) {
      return ErrorAt(e.line, std::string("can only concatenate str (not \"") +
                                 (a.is_string() ? b.TypeName() : a.TypeName()) + "\") to str");
    }
    return unsupported();
  }
  if (op == "-") {
    if (ints) {
      return CheckedInt(a.int_value(), b.int_value(), [](int64_t x, int64_t y, int64_t* r) {
        return __builtin_sub_overflow(x, y, r);
      });
    }
    if (nums) return Value::Float(a.number() - b.number());
    return unsupported();
  }
  if (op == "*") {
    if (ints) {
      return CheckedInt(a.int_value(), b.int_value(), [](int64_t x, int64_t y, int64_t* r) {
        return __builtin_mul_overflow(x, y, r);
      });
    }
    if (nums) return Value::Float(a.number() * b.number());
    const Value* seq = (a.is_string() || a.is_list())   ? &a
                       : (b.is_string() || b.is_list()) ? &b
                                                        : nullptr;
    const Value* count = seq == &a ? &b : &a;
    if (seq != nullptr && (count->is_int() || count->is_bool())) {
      const int64_t n = std::max<int64_t>(count->int_value(), 0);
      if (seq->is_string()) {
        if (n > 0 &&
            seq->str().size() > options_.limits.max_output_bytes / static_cast<uint64_t>(n)) {
          return CheckSize(options_.limits.max_output_bytes + 1);
        }
        std::string s;
        for (int64_t i = 0; i < n; ++i) s += seq->str();
        return Value::String(std::move(s));
      }
      const size_t per = seq->list().items.size();
      if (n > 0 && per > (size_t{1} << 20) / static_cast<uint64_t>(n)) {
        return ErrorAt(e.line, "list repetition past 1048576 items");
      }
      std::vector<Value> items;
      for (int64_t i = 0; i < n; ++i)
        items.insert(items.end(), seq->list().items.begin(), seq->list().items.end());
      return Value::MakeList(std::move(items), seq->list().tuple);
    }
    return unsupported();
  }
  if (op == "/") {
    if (!nums) return unsupported();
    if (b.number() == 0) return ErrorAt(e.line, "division by zero");
    return Value::Float(a.number() / b.number());
  }
  if (op == "//") {
    if (!nums) return unsupported();
    if (b.number() == 0) return ErrorAt(e.line, "integer division or modulo by zero");
    if (ints) {
      if (a.int_value() == INT64_MIN && b.int_value() == -1)
        return ErrorAt(e.line, "integer overflow");
      return Value::Int(FloorDiv(a.int_value(), b.int_value()));
    }
    return Value::Float(std::floor(a.number() / b.number()));
  }
  if (op == "%") {
    if (a.is_string())
      return ErrorAt(e.line, "unsupported: printf-style string formatting with '%'");
    if (!nums) return unsupported();
    if (b.number() == 0) return ErrorAt(e.line, "integer division or modulo by zero");
    if (ints) {
      if (b.int_value() == -1) return Value::Int(0);
      const int64_t m = a.int_value() % b.int_value();
      return Value::Int(m != 0 && ((m < 0) != (b.int_value() < 0)) ? m + b.int_value() : m);
    }
    double m = std::fmod(a.number(), b.number());
    if (m != 0 && ((m < 0) != (b.number() < 0))) m += b.number();
    return Value::Float(m);
  }
  if (op == "**") {
    if (!nums) return unsupported();
    if (ints && b.int_value() >= 0) {
      int64_t result = 1, base = a.int_value(), exp = b.int_value();
      while (exp > 0) {
        if (exp & 1) {
          if (__builtin_mul_overflow(result, base, &result))
            return ErrorAt(e.line, "integer overflow");
        }
        exp >>= 1;
        if (exp > 0 && __builtin_mul_overflow(base, base, &base))
          return ErrorAt(e.line, "integer overflow");
      }
      return Value::Int(result);
    }
    return Value::Float(std::pow(a.number(), b.number()));
  }
  return ErrorAt(e.line, "unknown operator " + op);
}

StatusOr<bool> Renderer::EvalCompare(const std::string& op, const Value& a, const Value& b,
                                     int line) {
  if (op == "==") return Equal(a, b);
  if (op == "!=") return !Equal(a, b);
  if (op == "in" || op == "notin") {
    bool found = false;
    if (b.is_string()) {
      if (!a.is_string()) {
        return ErrorAt(line, std::string("'in <string>' requires string as left operand, not ") +
                                 a.TypeName());
      }
      found = b.str().find(a.str()) != std::string::npos;
    } else if (b.is_list()) {
      for (const Value& item : b.list().items) {
        if (Equal(item, a)) {
          found = true;
          break;
        }
      }
    } else if (b.is_dict() && !b.is_namespace()) {
      found = a.is_string() && b.dict().Find(a.str()) != nullptr;
    } else if (!b.is_undefined()) {
      return ErrorAt(line, std::string("argument of type '") + b.TypeName() + "' is not iterable");
    }
    return op == "in" ? found : !found;
  }
  if (a.is_undefined()) return ErrorAt(line, a.str());
  if (b.is_undefined()) return ErrorAt(line, b.str());
  auto fail = [&](const Status& s) { return ErrorAt(line, std::string(s.message())); };
  if (op == "<") {
    auto r = Less(a, b);
    if (!r.ok()) return fail(r.status());
    return *r;
  }
  if (op == ">") {
    auto r = Less(b, a);
    if (!r.ok()) return fail(r.status());
    return *r;
  }
  if (op == "<=") {
    auto r = Less(b, a);
    if (!r.ok()) return fail(r.status());
    return !*r;
  }
  if (op == ">=") {
    auto r = Less(a, b);
    if (!r.ok()) return fail(r.status());
    return !*r;
  }
  return ErrorAt(line, "unknown comparison " + op);
}

}  // namespace radixlm::tmpl
