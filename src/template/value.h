// Value: the data a chat template computes with, modelled on the Python objects
// Jinja2 sees when transformers renders a template (json.loads output plus what
// the template builds): undefined, None, bool, int, float, str, list/tuple,
// dict, a namespace() object and callables (macros, builtins, bound methods).
//
// Lists and dicts are shared by reference, as in Python; templates run in
// Jinja2's immutable sandbox, so nothing mutates them after they are built
// except a namespace's attributes (`{% set ns.x = ... %}`), which every holder
// of the namespace sees, as Jinja2 does.
//
// Strings are UTF-8. Where Python counts code points (len, indexing, slicing)
// the helpers in text.h do too.
//
// Thread safety: a Value is immutable once built and may be read from many
// threads, except namespaces during the render that owns them.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace radixlm::tmpl {

class Value;
struct CallArgs;
class Renderer;

enum class ValueKind { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kDict, kCallable };

struct List {
  std::vector<Value> items;
  bool tuple = false;  // printed as (a, b)
};

// Insertion-ordered, string keys (JSON objects, dict literals, keyword args).
struct Dict {
  std::vector<std::pair<std::string, Value>> items;
  bool is_namespace = false;  // namespace(): attributes may be set

  const Value* Find(std::string_view key) const;
  // Replaces the value in place (keeping its position, as Python does) or appends.
  void Set(std::string key, Value value);
};

// A builtin, a macro or a bound method. The renderer passes itself so callables
// can render (macros) and count work against the render's limits.
struct Callable {
  std::string name;
  std::function<StatusOr<Value>(Renderer&, CallArgs&)> call;
};

class Value {
 public:
  Value() = default;  // undefined
  static Value Undefined(std::string hint = {});
  static Value None();
  static Value Bool(bool b);
  static Value Int(int64_t i);
  static Value Float(double f);
  static Value String(std::string s);
  static Value MakeList(std::vector<Value> items, bool tuple = false);
  static Value MakeDict(Dict dict = {});
  static Value MakeCallable(std::string name,
                            std::function<StatusOr<Value>(Renderer&, CallArgs&)> call);

  ValueKind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == ValueKind::kUndefined; }
  bool is_none() const { return kind_ == ValueKind::kNone; }
  bool is_bool() const { return kind_ == ValueKind::kBool; }
  bool is_int() const { return kind_ == ValueKind::kInt; }
  bool is_float() const { return kind_ == ValueKind::kFloat; }
  // bool counts as a number, as in Python.
  bool is_number() const {
    return kind_ == ValueKind::kBool || kind_ == ValueKind::kInt || kind_ == ValueKind::kFloat;
  }
  bool is_string() const { return kind_ == ValueKind::kString; }
  bool is_list() const { return kind_ == ValueKind::kList; }
  bool is_dict() const { return kind_ == ValueKind::kDict; }
  bool is_namespace() const { return kind_ == ValueKind::kDict && dict_->is_namespace; }
  bool is_callable() const { return kind_ == ValueKind::kCallable; }

  bool bool_value() const { return b_; }
  int64_t int_value() const {
    return kind_ == ValueKind::kBool ? (b_ ? 1 : 0) : i_;
  }                                               // bool or int
  double number() const;                          // bool, int or float as double
  const std::string& str() const { return *s_; }  // string, or an undefined's hint
  const List& list() const { return *list_; }
  const Dict& dict() const { return *dict_; }
  Dict& mutable_dict() const { return *dict_; }  // namespaces only
  const Callable& callable() const { return *callable_; }

  // Python's bool(x); undefined is false.
  bool Truthy() const;
  // Python's str(x): what {{ x }} prints. Undefined prints as "".
  std::string ToString() const;
  // Python's repr(x), used inside printed lists and dicts.
  std::string Repr() const;
  // The Python type name in messages: 'str', 'int', 'dict object' style is the caller's.
  const char* TypeName() const;

 private:
  ValueKind kind_ = ValueKind::kUndefined;
  bool b_ = false;
  int64_t i_ = 0;
  double f_ = 0;
  std::shared_ptr<const std::string> s_;
  std::shared_ptr<const List> list_;
  std::shared_ptr<Dict> dict_;
  std::shared_ptr<const Callable> callable_;
};

// Python ==. Never fails: values of different kinds are unequal (1 == 1.0 == True).
bool Equal(const Value& a, const Value& b);
// Python <: numbers with numbers, strings with strings, lists element-wise;
// anything else is a TypeError, reported as INVALID_ARGUMENT.
StatusOr<bool> Less(const Value& a, const Value& b);

// Python's repr() of a float: the shortest text that reads back to the same
// double, "1.0", "1e+16", "1e-05", "inf", "nan".
std::string FloatRepr(double f);

// Arguments of a call: positional, then keyword in call order.
struct CallArgs {
  std::vector<Value> args;
  std::vector<std::pair<std::string, Value>> kwargs;
  int line = 0;  // of the call, for messages
};

}  // namespace radixlm::tmpl
