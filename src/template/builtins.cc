// Tests, methods and globals. Filters are in filters.cc.
#include "template/builtins.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <ctime>
#include <initializer_list>

#include "template/renderer.h"
#include "template/text.h"

namespace radixlm::tmpl {

const Value* Arg(const CallArgs& args, size_t i, const char* name) {
  if (i < args.args.size()) return &args.args[i];
  for (const auto& [k, v] : args.kwargs) {
    if (k == name) return &v;
  }
  return nullptr;
}

namespace {

bool OneOf(const std::string& s, std::initializer_list<const char*> names) {
  for (const char* n : names) {
    if (s == n) return true;
  }
  return false;
}

Status NeedArg(const Value* v, const char* what, const char* name) {
  if (v == nullptr)
    return InvalidArgumentError(std::string(what) + "() missing required argument '" + name + "'");
  return OkStatus();
}

StatusOr<std::string> StringArg(const Value* v, const char* what) {
  if (v == nullptr || !v->is_string()) {
    return InvalidArgumentError(std::string(what) + "() argument must be str, not " +
                                (v == nullptr ? "nothing" : v->TypeName()));
  }
  return v->str();
}

// Code-point index of a byte offset.
int64_t CodePointIndex(const std::string& s, size_t byte) {
  return static_cast<int64_t>(CodePointCount(std::string_view(s).substr(0, byte)));
}

// Byte range of the code-point range [start, end) with Python's clamping.
void ByteRange(const std::string& s, const Value* start, const Value* end, size_t* b, size_t* e) {
  const std::vector<char32_t> cps = DecodeUtf8(s);
  const int64_t n = static_cast<int64_t>(cps.size());
  auto idx = [&](const Value* v, int64_t def) {
    if (v == nullptr || v->is_none()) return def;
    int64_t i = v->int_value();
    if (i < 0) i += n;
    return std::clamp<int64_t>(i, 0, n);
  };
  const int64_t cb = idx(start, 0), ce = idx(end, n);
  *b = EncodeUtf8(cps, 0, static_cast<size_t>(cb)).size();
  *e = ce < cb ? *b : EncodeUtf8(cps, 0, static_cast<size_t>(ce)).size();
}

StatusOr<std::string> FormatString(const std::string& fmt, const CallArgs& a) {
  std::string out;
  size_t auto_index = 0;
  for (size_t i = 0; i < fmt.size(); ++i) {
    const char c = fmt[i];
    if (c == '}') {
      if (i + 1 < fmt.size() && fmt[i + 1] == '}')
        ++i;
      else
        return InvalidArgumentError("Single '}' encountered in format string");
      out.push_back('}');
      continue;
    }
    if (c != '{') {
      out.push_back(c);
      continue;
    }
    if (i + 1 < fmt.size() && fmt[i + 1] == '{') {
      out.push_back('{');
      ++i;
      continue;
    }
    const size_t close = fmt.find('}', i);
    if (close == std::string::npos)
      return InvalidArgumentError("Single '{' encountered in format string");
    const std::string field = fmt.substr(i + 1, close - i - 1);
    if (field.find_first_of(":!.[") != std::string::npos) {
      return InvalidArgumentError(
          "format(): conversions, format specs and attribute fields are not supported");
    }
    const Value* v = nullptr;
    if (field.empty()) {
      if (auto_index < a.args.size()) v = &a.args[auto_index];
      ++auto_index;
    } else if (field.find_first_not_of("0123456789") == std::string::npos) {
      const size_t k = static_cast<size_t>(std::stoul(field));
      if (k < a.args.size()) v = &a.args[k];
    } else {
      for (const auto& [k, val] : a.kwargs) {
        if (k == field) v = &val;
      }
    }
    if (v == nullptr)
      return InvalidArgumentError("format(): no argument for field '{" + field + "}'");
    out += v->ToString();
    i = close;
  }
  return out;
}

bool StartsOrEnds(const std::string& s, const Value& affix, bool start) {
  auto one = [&](const std::string& a) {
    if (a.size() > s.size()) return false;
    return start ? s.compare(0, a.size(), a) == 0
                 : s.compare(s.size() - a.size(), a.size(), a) == 0;
  };
  if (affix.is_string()) return one(affix.str());
  if (affix.is_list()) {
    for (const Value& v : affix.list().items) {
      if (v.is_string() && one(v.str())) return true;
    }
  }
  return false;
}

std::string PythonTitle(const std::string& s) {
  std::string out;
  bool prev_cased = false;
  for (char32_t c : DecodeUtf8(s)) {
    if (c == 0xDF && !prev_cased) {
      out += "Ss";
      prev_cased = true;
      continue;
    }
    AppendUtf8(prev_cased ? ToLowerCp(c) : ToTitleCp(c), &out);
    prev_cased = IsCased(c);
  }
  return out;
}

StatusOr<Value> StringMethod(const std::string& self, const std::string& name, CallArgs& a) {
  if (name == "startswith" || name == "endswith") {
    const Value* affix = Arg(a, 0, "prefix");
    RETURN_IF_ERROR(NeedArg(affix, name.c_str(), "prefix"));
    if (!affix->is_string() && !affix->is_list()) {
      return InvalidArgumentError(name + " first arg must be str or a tuple of str, not " +
                                  affix->TypeName());
    }
    size_t b = 0, e = 0;
    ByteRange(self, Arg(a, 1, "start"), Arg(a, 2, "end"), &b, &e);
    return Value::Bool(StartsOrEnds(self.substr(b, e - b), *affix, name == "startswith"));
  }
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    const bool left = name != "rstrip", right = name != "lstrip";
    const Value* chars = Arg(a, 0, "chars");
    if (chars == nullptr || chars->is_none()) return Value::String(StripSpace(self, left, right));
    ASSIGN_OR_RETURN(std::string set, StringArg(chars, name.c_str()));
    return Value::String(StripChars(self, set, left, right));
  }
  if (name == "split" || name == "rsplit") {
    const Value* sep = Arg(a, 0, "sep");
    const Value* maxsplit = Arg(a, 1, "maxsplit");
    const int64_t max = maxsplit == nullptr ? -1 : maxsplit->int_value();
    std::vector<std::string> parts;
    if (sep == nullptr || sep->is_none()) {
      parts = SplitSpace(self, max, name == "rsplit");
    } else {
      ASSIGN_OR_RETURN(std::string s, StringArg(sep, name.c_str()));
      if (s.empty()) return InvalidArgumentError("empty separator");
      parts = SplitSep(self, s, max, name == "rsplit");
    }
    std::vector<Value> items;
    for (std::string& p : parts) items.push_back(Value::String(std::move(p)));
    return Value::MakeList(std::move(items));
  }
  if (name == "splitlines") {
    std::vector<Value> items;
    for (std::string& p : SplitLines(self)) items.push_back(Value::String(std::move(p)));
    return Value::MakeList(std::move(items));
  }
  if (name == "upper") return Value::String(Upper(self));
  if (name == "lower") return Value::String(Lower(self));
  if (name == "title") return Value::String(PythonTitle(self));
  if (name == "capitalize") {
    std::vector<char32_t> cps = DecodeUtf8(self);
    std::string out;
    for (size_t i = 0; i < cps.size(); ++i)
      AppendUtf8(i == 0 ? ToTitleCp(cps[i]) : ToLowerCp(cps[i]), &out);
    return Value::String(std::move(out));
  }
  if (name == "replace") {
    ASSIGN_OR_RETURN(std::string old, StringArg(Arg(a, 0, "old"), "replace"));
    ASSIGN_OR_RETURN(std::string repl, StringArg(Arg(a, 1, "new"), "replace"));
    const Value* count = Arg(a, 2, "count");
    int64_t left = count == nullptr ? -1 : count->int_value();
    std::string out;
    if (old.empty()) {  // Python inserts `new` between every character
      const std::vector<char32_t> cps = DecodeUtf8(self);
      for (size_t i = 0; i <= cps.size(); ++i) {
        if (left != 0) {
          out += repl;
          if (left > 0) --left;
        }
        if (i < cps.size()) AppendUtf8(cps[i], &out);
      }
      return Value::String(std::move(out));
    }
    size_t pos = 0;
    while (left != 0) {
      const size_t hit = self.find(old, pos);
      if (hit == std::string::npos) break;
      out.append(self, pos, hit - pos);
      out += repl;
      pos = hit + old.size();
      if (left > 0) --left;
    }
    out.append(self, pos);
    return Value::String(std::move(out));
  }
  if (name == "find" || name == "rfind" || name == "index" || name == "rindex" || name == "count") {
    ASSIGN_OR_RETURN(std::string sub, StringArg(Arg(a, 0, "sub"), name.c_str()));
    size_t b = 0, e = 0;
    ByteRange(self, Arg(a, 1, "start"), Arg(a, 2, "end"), &b, &e);
    const std::string_view hay = std::string_view(self).substr(b, e - b);
    if (name == "count") {
      if (sub.empty()) return Value::Int(static_cast<int64_t>(CodePointCount(hay)) + 1);
      int64_t n = 0;
      for (size_t p = hay.find(sub); p != std::string_view::npos; p = hay.find(sub, p + sub.size()))
        ++n;
      return Value::Int(n);
    }
    const size_t hit = (name == "find" || name == "index") ? hay.find(sub) : hay.rfind(sub);
    if (hit == std::string_view::npos) {
      if (name == "index" || name == "rindex") return InvalidArgumentError("substring not found");
      return Value::Int(-1);
    }
    return Value::Int(CodePointIndex(self, b + hit));
  }
  if (name == "join") {
    const Value* items = Arg(a, 0, "iterable");
    RETURN_IF_ERROR(NeedArg(items, "join", "iterable"));
    if (!items->is_list()) return InvalidArgumentError("join() needs a list of strings");
    std::string out;
    for (size_t i = 0; i < items->list().items.size(); ++i) {
      const Value& v = items->list().items[i];
      if (!v.is_string()) {
        return InvalidArgumentError("sequence item " + std::to_string(i) +
                                    ": expected str instance, " + v.TypeName() + " found");
      }
      if (i > 0) out += self;
      out += v.str();
    }
    return Value::String(std::move(out));
  }
  if (name == "format") {
    ASSIGN_OR_RETURN(std::string out, FormatString(self, a));
    return Value::String(std::move(out));
  }
  if (name == "removeprefix" || name == "removesuffix") {
    ASSIGN_OR_RETURN(std::string affix, StringArg(Arg(a, 0, "affix"), name.c_str()));
    if (name == "removeprefix" && self.compare(0, affix.size(), affix) == 0) {
      return Value::String(self.substr(affix.size()));
    }
    if (name == "removesuffix" && !affix.empty() && self.size() >= affix.size() &&
        self.compare(self.size() - affix.size(), affix.size(), affix) == 0) {
      return Value::String(self.substr(0, self.size() - affix.size()));
    }
    return Value::String(self);
  }
  const std::vector<char32_t> cps = DecodeUtf8(self);
  auto all = [&](auto pred) {
    if (cps.empty()) return Value::Bool(false);
    for (char32_t c : cps) {
      if (!pred(c)) return Value::Bool(false);
    }
    return Value::Bool(true);
  };
  if (name == "isdigit") return all([](char32_t c) { return c >= '0' && c <= '9'; });
  if (name == "isspace") return all(IsPythonSpace);
  if (name == "isalpha")
    return all(
        [](char32_t c) { return (c < 0x80 && std::isalpha(static_cast<int>(c))) || IsCased(c); });
  if (name == "isalnum") {
    return all(
        [](char32_t c) { return (c < 0x80 && std::isalnum(static_cast<int>(c))) || IsCased(c); });
  }
  if (name == "islower" || name == "isupper") {
    bool cased = false;
    for (char32_t c : cps) {
      if (!IsCased(c)) continue;
      cased = true;
      if (name == "islower" ? ToLowerCp(c) != c : ToUpperCp(c) != c) return Value::Bool(false);
    }
    return Value::Bool(cased);
  }
  return InvalidArgumentError("'str' object has no attribute '" + name + "'");
}

bool IsStringMethod(const std::string& n) {
  return OneOf(
      n, {"startswith",   "endswith", "strip",   "lstrip",  "rstrip",     "split",   "rsplit",
          "splitlines",   "upper",    "lower",   "title",   "capitalize", "replace", "find",
          "rfind",        "index",    "rindex",  "count",   "join",       "format",  "removeprefix",
          "removesuffix", "isdigit",  "isspace", "isalpha", "isalnum",    "islower", "isupper"});
}

}  // namespace

std::optional<Value> BoundMethod(const Value& self, const std::string& name) {
  if (self.is_string() && IsStringMethod(name)) {
    return Value::MakeCallable("str." + name, [self, name](Renderer&, CallArgs& a) {
      return StringMethod(self.str(), name, a);
    });
  }
  if (self.is_dict() && !self.is_namespace()) {
    if (OneOf(name, {"items", "keys", "values"})) {
      return Value::MakeCallable("dict." + name,
                                 [self, name](Renderer&, CallArgs&) -> StatusOr<Value> {
                                   std::vector<Value> out;
                                   for (const auto& [k, v] : self.dict().items) {
                                     if (name == "items")
                                       out.push_back(Value::MakeList({Value::String(k), v}, true));
                                     if (name == "keys") out.push_back(Value::String(k));
                                     if (name == "values") out.push_back(v);
                                   }
                                   return Value::MakeList(std::move(out));
                                 });
    }
    if (name == "get") {
      return Value::MakeCallable("dict.get", [self](Renderer&, CallArgs& a) -> StatusOr<Value> {
        const Value* key = Arg(a, 0, "key");
        RETURN_IF_ERROR(NeedArg(key, "get", "key"));
        if (key->is_string()) {
          if (const Value* v = self.dict().Find(key->str())) return *v;
        }
        const Value* def = Arg(a, 1, "default");
        return def != nullptr ? *def : Value::None();
      });
    }
    if (name == "copy") {
      return Value::MakeCallable("dict.copy", [self](Renderer&, CallArgs&) -> StatusOr<Value> {
        return Value::MakeDict(Dict{self.dict().items, false});
      });
    }
    if (OneOf(name, {"pop", "popitem", "update", "setdefault", "clear"})) {
      return Value::MakeCallable("dict." + name, [name](Renderer&, CallArgs&) -> StatusOr<Value> {
        return InvalidArgumentError("access to attribute '" + name +
                                    "' of 'dict' object is unsafe.");
      });
    }
  }
  if (self.is_list()) {
    if (name == "index" || name == "count") {
      return Value::MakeCallable("list." + name,
                                 [self, name](Renderer&, CallArgs& a) -> StatusOr<Value> {
                                   const Value* x = Arg(a, 0, "value");
                                   RETURN_IF_ERROR(NeedArg(x, name.c_str(), "value"));
                                   int64_t n = 0;
                                   const auto& items = self.list().items;
                                   for (size_t i = 0; i < items.size(); ++i) {
                                     if (!Equal(items[i], *x)) continue;
                                     if (name == "index")
                                       return Value::Int(static_cast<int64_t>(i));
                                     ++n;
                                   }
                                   if (name == "index")
                                     return InvalidArgumentError(x->Repr() + " is not in list");
                                   return Value::Int(n);
                                 });
    }
    if (OneOf(name, {"append", "extend", "insert", "pop", "remove", "reverse", "sort", "clear"})) {
      return Value::MakeCallable("list." + name, [name](Renderer&, CallArgs&) -> StatusOr<Value> {
        return InvalidArgumentError("access to attribute '" + name +
                                    "' of 'list' object is unsafe.");
      });
    }
  }
  return std::nullopt;
}

// ---- tests

bool IsKnownTest(const std::string& n) {
  return OneOf(n, {"boolean", "callable",  "defined", "divisibleby", "eq",          "equalto",
                   "==",      "escaped",   "even",    "false",       "filter",      "float",
                   "ge",      ">=",        "gt",      ">",           "greaterthan", "in",
                   "integer", "iterable",  "le",      "<=",          "lower",       "lt",
                   "<",       "lessthan",  "mapping", "ne",          "!=",          "none",
                   "number",  "odd",       "sameas",  "sequence",    "string",      "test",
                   "true",    "undefined", "upper"});
}

StatusOr<bool> ApplyTest(Renderer& r, const std::string& n, const Value& v, CallArgs& a) {
  const Value* other = Arg(a, 0, "other");
  if (n == "defined") return !v.is_undefined();
  if (n == "undefined") return v.is_undefined();
  if (n == "none") return v.is_none();
  if (n == "boolean") return v.is_bool();
  if (n == "false") return v.is_bool() && !v.bool_value();
  if (n == "true") return v.is_bool() && v.bool_value();
  if (n == "integer") return v.is_int();
  if (n == "float") return v.is_float();
  if (n == "number") return v.is_number();
  if (n == "string") return v.is_string();
  if (n == "mapping") return v.is_dict() && !v.is_namespace();
  if (n == "iterable")
    return v.is_undefined() || v.is_list() || v.is_string() || (v.is_dict() && !v.is_namespace());
  if (n == "sequence") return v.is_list() || v.is_string() || (v.is_dict() && !v.is_namespace());
  if (n == "callable") return v.is_callable();
  if (n == "escaped") return false;
  if (n == "filter") return v.is_string() && IsKnownFilter(v.str());
  if (n == "test") return v.is_string() && IsKnownTest(v.str());
  if (n == "lower" || n == "upper") {
    if (!v.is_string())
      return InvalidArgumentError(std::string("'") + v.TypeName() + "' object has no attribute '" +
                                  "is" + n + "'");
    CallArgs none;
    ASSIGN_OR_RETURN(Value res, StringMethod(v.str(), "is" + n, none));
    return res.bool_value();
  }
  if (n == "even" || n == "odd" || n == "divisibleby") {
    if (!v.is_int() && !v.is_bool() && !v.is_float()) {
      return InvalidArgumentError(std::string("unsupported operand type(s) for %: '") +
                                  v.TypeName() + "' and 'int'");
    }
    if (n == "divisibleby") {
      const Value* num = Arg(a, 0, "num");
      RETURN_IF_ERROR(NeedArg(num, "divisibleby", "num"));
      if (!num->is_number() || num->number() == 0)
        return InvalidArgumentError("integer division or modulo by zero");
      if (v.is_float() || num->is_float()) return std::fmod(v.number(), num->number()) == 0;
      return v.int_value() % num->int_value() == 0;
    }
    const bool even = v.is_float() ? std::fmod(v.number(), 2) == 0 : v.int_value() % 2 == 0;
    return n == "even" ? even : !even;
  }
  if (n == "in") {
    const Value* seq = Arg(a, 0, "seq");
    RETURN_IF_ERROR(NeedArg(seq, "in", "seq"));
    if (seq->is_string()) {
      if (!v.is_string())
        return InvalidArgumentError("'in <string>' requires string as left operand");
      return seq->str().find(v.str()) != std::string::npos;
    }
    if (seq->is_list()) {
      for (const Value& x : seq->list().items) {
        if (Equal(x, v)) return true;
      }
      return false;
    }
    if (seq->is_dict()) return v.is_string() && seq->dict().Find(v.str()) != nullptr;
    if (seq->is_undefined()) return false;
    return InvalidArgumentError(std::string("argument of type '") + seq->TypeName() +
                                "' is not iterable");
  }
  if (n == "sameas") {
    RETURN_IF_ERROR(NeedArg(other, "sameas", "other"));
    if (v.kind() != other->kind()) return false;
    if (v.is_list()) return &v.list() == &other->list();
    if (v.is_dict()) return &v.dict() == &other->dict();
    if (v.is_string()) return v.str() == other->str() && v.str().empty();
    return Equal(v, *other);
  }
  RETURN_IF_ERROR(NeedArg(other, n.c_str(), "other"));
  if (n == "eq" || n == "equalto" || n == "==") return Equal(v, *other);
  if (n == "ne" || n == "!=") return !Equal(v, *other);
  if (v.is_undefined()) return InvalidArgumentError(v.str());
  if (other->is_undefined()) return InvalidArgumentError(other->str());
  if (n == "lt" || n == "<" || n == "lessthan") return Less(v, *other);
  if (n == "gt" || n == ">" || n == "greaterthan") return Less(*other, v);
  if (n == "le" || n == "<=") {
    ASSIGN_OR_RETURN(bool gt, Less(*other, v));
    return !gt;
  }
  if (n == "ge" || n == ">=") {
    ASSIGN_OR_RETURN(bool lt, Less(v, *other));
    return !lt;
  }
  (void)r;
  return InvalidArgumentError("no test named '" + n + "'");
}

// ---- globals

void AddGlobals(Dict* g) {
  g->Set("range", Value::MakeCallable("range", [](Renderer&, CallArgs& a) -> StatusOr<Value> {
           if (a.args.empty() || a.args.size() > 3)
             return InvalidArgumentError("range expected 1 to 3 arguments");
           for (const Value& v : a.args) {
             if (!v.is_int() && !v.is_bool()) {
               return InvalidArgumentError(std::string("'") + v.TypeName() +
                                           "' object cannot be interpreted as an integer");
             }
           }
           int64_t start = 0, stop = 0, step = 1;
           if (a.args.size() == 1) {
             stop = a.args[0].int_value();
           } else {
             start = a.args[0].int_value();
             stop = a.args[1].int_value();
             if (a.args.size() == 3) step = a.args[2].int_value();
           }
           if (step == 0) return InvalidArgumentError("range() arg 3 must not be zero");
           // Jinja2's sandbox refuses ranges over 100000 items (MAX_RANGE).
           const double count = std::ceil((static_cast<double>(stop) - static_cast<double>(start)) /
                                          static_cast<double>(step));
           if (count > 100000) {
             return InvalidArgumentError(
                 "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
           }
           std::vector<Value> out;
           for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step)
             out.push_back(Value::Int(i));
           return Value::MakeList(std::move(out));
         }));
  g->Set("namespace",
         Value::MakeCallable("namespace", [](Renderer& r, CallArgs& a) -> StatusOr<Value> {
           Dict d;
           for (const Value& v : a.args) {
             if (!v.is_dict() || v.is_namespace())
               return InvalidArgumentError("namespace() takes a mapping or keywords");
             for (const auto& [k, x] : v.dict().items) d.Set(k, x);
           }
           for (const auto& [k, v] : a.kwargs) d.Set(k, v);
           return r.NewNamespace(std::move(d));
         }));
  g->Set("dict", Value::MakeCallable("dict", [](Renderer&, CallArgs& a) -> StatusOr<Value> {
           Dict d;
           for (const Value& v : a.args) {
             if (!v.is_dict() || v.is_namespace())
               return InvalidArgumentError("dict() takes a mapping or keywords");
             for (const auto& [k, x] : v.dict().items) d.Set(k, x);
           }
           for (const auto& [k, v] : a.kwargs) d.Set(k, v);
           return Value::MakeDict(std::move(d));
         }));
  g->Set("raise_exception",
         Value::MakeCallable("raise_exception", [](Renderer&, CallArgs& a) -> StatusOr<Value> {
           const Value* m = Arg(a, 0, "message");
           return InvalidArgumentError(std::string(kRaisedPrefix) +
                                       (m == nullptr ? "" : m->ToString()));
         }));
  g->Set("strftime_now",
         Value::MakeCallable("strftime_now", [](Renderer& r, CallArgs& a) -> StatusOr<Value> {
           const Value* f = Arg(a, 0, "format");
           if (f == nullptr || !f->is_string())
             return InvalidArgumentError("strftime_now() needs a format string");
           std::tm tm{};
           if (r.options().fixed_time) {
             const std::time_t t = static_cast<std::time_t>(*r.options().fixed_time);
             gmtime_r(&t, &tm);
           } else {
             const std::time_t t = std::time(nullptr);
             localtime_r(&t, &tm);
           }
           char buf[512];
           const size_t n =
               f->str().empty() ? 0 : std::strftime(buf, sizeof(buf), f->str().c_str(), &tm);
           if (n == 0 && !f->str().empty())
             return InvalidArgumentError("strftime_now(): the formatted date is too long");
           return Value::String(std::string(buf, n));
         }));
}

}  // namespace radixlm::tmpl
