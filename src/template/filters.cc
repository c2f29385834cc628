// Jinja2's builtin filters as chat templates use them, plus transformers'
// tojson. Each follows the Python implementation's behaviour on the values a
// template sees (json.loads output and what templates build).
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <optional>

#include "template/builtins.h"
#include "template/json_value.h"
#include "template/renderer.h"
#include "template/text.h"

namespace radixlm::tmpl {
namespace {

bool OneOf(const std::string& s, std::initializer_list<const char*> names) {
  for (const char* n : names) {
    if (s == n) return true;
  }
  return false;
}

bool BoolArg(const Value* v, bool def) { return v == nullptr ? def : v->Truthy(); }

// Jinja2's attribute lookup for filters: "a.b.0" walks attributes and items.
StatusOr<Value> AttrPath(Renderer& r, const Value& item, const std::string& path, int line) {
  Value cur = item;
  size_t start = 0;
  while (start <= path.size()) {
    const size_t dot = path.find('.', start);
    const std::string part =
        path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!part.empty() && part.find_first_not_of("0123456789") == std::string::npos) {
      ASSIGN_OR_RETURN(cur, r.Item(cur, Value::Int(std::stoll(part)), line));
    } else {
      ASSIGN_OR_RETURN(cur, r.Item(cur, Value::String(part), line));
    }
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return cur;
}

StatusOr<std::string> NeedString(const Value* v, const char* what) {
  if (v == nullptr) return InvalidArgumentError(std::string(what) + ": missing argument");
  return v->ToString();
}

Value Lowered(const Value& v, bool case_sensitive) {
  if (!case_sensitive && v.is_string()) return Value::String(Lower(v.str()));
  return v;
}

StatusOr<std::vector<Value>> SortedBy(std::vector<Value> items, const std::vector<Value>& keys,
                                      bool reverse) {
  std::vector<size_t> order(items.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  Status error;
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) {
    auto lt = reverse ? Less(keys[y], keys[x]) : Less(keys[x], keys[y]);
    if (!lt.ok()) {
      if (error.ok()) error = lt.status();
      return false;
    }
    return *lt;
  });
  RETURN_IF_ERROR(error);
  std::vector<Value> out;
  out.reserve(items.size());
  for (size_t i : order) out.push_back(std::move(items[i]));
  return out;
}

std::string HtmlEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

// Python's int(str, base) for base 10 and float(str), with surrounding whitespace.
std::optional<int64_t> ParseInt(const std::string& text, int base) {
  std::string s = StripSpace(text, true, true);
  s.erase(std::remove(s.begin(), s.end(), '_'), s.end());
  if (s.empty()) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, base);
  if (*end != '\0' || errno == ERANGE) return std::nullopt;
  return v;
}
std::optional<double> ParseFloat(const std::string& text) {
  const std::string s = StripSpace(text, true, true);
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (*end != '\0') return std::nullopt;
  return v;
}

// Jinja2's round: "common" is Python's round() (half to even on the exact
// binary value, which glibc's printf also does); ceil and floor scale.
double Round(double v, int64_t digits, const std::string& method) {
  const double scale = std::pow(10.0, static_cast<double>(digits));
  if (method == "ceil") return std::ceil(v * scale) / scale;
  if (method == "floor") return std::floor(v * scale) / scale;
  if (!std::isfinite(v)) return v;
  if (digits <= 0) return std::nearbyint(v * scale) / scale;
  char buf[512];
  std::snprintf(buf, sizeof(buf), "%.*f", static_cast<int>(std::min<int64_t>(digits, 300)), v);
  return std::strtod(buf, nullptr);
}

StatusOr<Value> DoSelect(Renderer& r, const Value& input, CallArgs& a, bool by_attr, bool keep_if) {
  ASSIGN_OR_RETURN(std::vector<Value> items, r.Iterate(input, a.line));
  size_t next = 0;
  std::string attr;
  if (by_attr) {
    if (a.args.empty()) return InvalidArgumentError("Missing parameter for attribute name");
    attr = a.args[0].ToString();
    next = 1;
  }
  std::string test;
  CallArgs test_args;
  if (next < a.args.size()) {
    test = a.args[next].ToString();
    if (!IsKnownTest(test)) return InvalidArgumentError("No test named '" + test + "'.");
    test_args.args.assign(a.args.begin() + static_cast<std::ptrdiff_t>(next) + 1, a.args.end());
    test_args.kwargs = a.kwargs;
  }
  std::vector<Value> out;
  for (const Value& item : items) {
    RETURN_IF_ERROR(r.Step());
    Value v = item;
    if (by_attr) {
      ASSIGN_OR_RETURN(v, AttrPath(r, item, attr, a.line));
    }
    bool pass = false;
    if (test.empty()) {
      pass = v.Truthy();
    } else {
      ASSIGN_OR_RETURN(pass, ApplyTest(r, test, v, test_args));
    }
    if (pass == keep_if) out.push_back(item);
  }
  return Value::MakeList(std::move(out));
}

StatusOr<Value> DoMinMax(Renderer& r, const Value& input, CallArgs& a, bool max) {
  ASSIGN_OR_RETURN(std::vector<Value> items, r.Iterate(input, a.line));
  if (items.empty())
    return Value::Undefined(std::string("No aggregated item, sequence was empty."));
  const bool cs = BoolArg(Arg(a, 0, "case_sensitive"), false);
  const Value* attr = Arg(a, 1, "attribute");
  const Value* best = nullptr;
  Value best_key;
  for (const Value& item : items) {
    Value key = item;
    if (attr != nullptr && !attr->is_none()) {
      ASSIGN_OR_RETURN(key, AttrPath(r, item, attr->ToString(), a.line));
    }
    key = Lowered(key, cs);
    if (best == nullptr) {
      best = &item;
      best_key = key;
      continue;
    }
    ASSIGN_OR_RETURN(bool better, max ? Less(best_key, key) : Less(key, best_key));
    if (better) {
      best = &item;
      best_key = key;
    }
  }
  return *best;
}

StatusOr<Value> ToJson(const Value& input, CallArgs& a) {
  JsonDumpOptions o;
  o.ensure_ascii = BoolArg(Arg(a, 0, "ensure_ascii"), false);
  const Value* indent = Arg(a, 1, "indent");
  if (indent != nullptr && !indent->is_none()) {
    o.has_indent = true;
    if (indent->is_string()) {
      o.indent_text = indent->str();
      if (o.indent_text.empty()) o.indent = 0;
    } else if (indent->is_int() || indent->is_bool()) {
      o.indent = static_cast<int>(std::clamp<int64_t>(indent->int_value(), 0, 64));
    } else {
      return InvalidArgumentError("tojson: indent must be an int or a str");
    }
  }
  const Value* seps = Arg(a, 2, "separators");
  if (seps != nullptr && !seps->is_none()) {
    if (!seps->is_list() || seps->list().items.size() != 2 || !seps->list().items[0].is_string() ||
        !seps->list().items[1].is_string()) {
      return InvalidArgumentError("tojson: separators must be a pair of strings");
    }
    o.item_separator = seps->list().items[0].str();
    o.key_separator = seps->list().items[1].str();
    if (o.item_separator.empty()) o.item_separator = std::string();  // "" is a valid separator
  }
  o.sort_keys = BoolArg(Arg(a, 3, "sort_keys"), false);
  ASSIGN_OR_RETURN(std::string s, DumpJson(input, o));
  return Value::String(std::move(s));
}

}  // namespace

bool IsKnownFilter(const std::string& n) {
  return OneOf(
      n, {"abs",      "attr",   "batch",  "capitalize", "count",      "d",           "default",
          "dictsort", "e",      "escape", "first",      "float",      "forceescape", "indent",
          "int",      "items",  "join",   "last",       "length",     "list",        "lower",
          "map",      "max",    "min",    "reject",     "rejectattr", "replace",     "reverse",
          "round",    "safe",   "select", "selectattr", "sort",       "string",      "sum",
          "title",    "tojson", "trim",   "unique",     "upper",      "wordcount"});
}

StatusOr<Value> ApplyFilter(Renderer& r, const std::string& n, const Value& v, CallArgs& a) {
  if (n == "default" || n == "d") {
    const Value* def = Arg(a, 0, "default_value");
    const bool boolean = BoolArg(Arg(a, 1, "boolean"), false);
    if (v.is_undefined() || (boolean && !v.Truthy()))
      return def == nullptr ? Value::String("") : *def;
    return v;
  }
  if (n == "length" || n == "count") {
    switch (v.kind()) {
      case ValueKind::kUndefined:
        return Value::Int(0);
      case ValueKind::kString:
        return Value::Int(static_cast<int64_t>(CodePointCount(v.str())));
      case ValueKind::kList:
        return Value::Int(static_cast<int64_t>(v.list().items.size()));
      case ValueKind::kDict:
        if (!v.is_namespace()) return Value::Int(static_cast<int64_t>(v.dict().items.size()));
        break;
      case ValueKind::kNone:
      case ValueKind::kBool:
      case ValueKind::kInt:
      case ValueKind::kFloat:
      case ValueKind::kCallable:
        break;
    }
    return InvalidArgumentError(std::string("object of type '") + v.TypeName() + "' has no len()");
  }
  if (n == "tojson") return ToJson(v, a);
  if (n == "trim") {
    const Value* chars = Arg(a, 0, "chars");
    if (chars == nullptr || chars->is_none())
      return Value::String(StripSpace(v.ToString(), true, true));
    return Value::String(StripChars(v.ToString(), chars->ToString(), true, true));
  }
  if (n == "string") return Value::String(v.ToString());
  if (n == "safe") return v.is_string() ? v : Value::String(v.ToString());
  if (n == "e" || n == "escape" || n == "forceescape")
    return Value::String(HtmlEscape(v.ToString()));
  if (n == "upper") return Value::String(Upper(v.ToString()));
  if (n == "lower") return Value::String(Lower(v.ToString()));
  if (n == "capitalize") {
    const std::vector<char32_t> cps = DecodeUtf8(v.ToString());
    std::string out;
    for (size_t i = 0; i < cps.size(); ++i)
      AppendUtf8(i == 0 ? ToTitleCp(cps[i]) : ToLowerCp(cps[i]), &out);
    return Value::String(std::move(out));
  }
  if (n == "title") {
    // Jinja2's: words split at runs of -, whitespace, ( { [ <; each word's
    // first character upper-cased, the rest lower-cased.
    const std::vector<char32_t> cps = DecodeUtf8(v.ToString());
    std::string out;
    bool word_start = true;
    for (char32_t c : cps) {
      const bool sep = c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || IsPythonSpace(c);
      if (sep) {
        AppendUtf8(c, &out);
        word_start = true;
        continue;
      }
      AppendUtf8(word_start ? ToUpperCp(c) : ToLowerCp(c), &out);
      word_start = false;
    }
    return Value::String(std::move(out));
  }
  if (n == "replace") {
    ASSIGN_OR_RETURN(std::string old, NeedString(Arg(a, 0, "old"), "replace"));
    ASSIGN_OR_RETURN(std::string repl, NeedString(Arg(a, 1, "new"), "replace"));
    const Value* count = Arg(a, 2, "count");
    CallArgs m;
    m.args = {Value::String(old), Value::String(repl)};
    if (count != nullptr && !count->is_none()) m.args.push_back(*count);
    auto method = BoundMethod(Value::String(v.ToString()), "replace");
    return r.Call(*method, m, a.line);
  }
  if (n == "first" || n == "last") {
    ASSIGN_OR_RETURN(std::vector<Value> items, r.Iterate(v, a.line));
    if (items.empty()) {
      return Value::Undefined(std::string("No ") + n + " item, sequence was empty.");
    }
    return n == "first" ? items.front() : items.back();
  }
  if (n == "join") {
    ASSIGN_OR_RETURN(std::vector<Value> items, r.Iterate(v, a.line));
    const Value* sep = Arg(a, 0, "d");
    const Value* attr = Arg(a, 1, "attribute");
    const std::string d = sep == nullptr ? "" : sep->ToString();
    std::string out;
    for (size_t i = 0; i < items.size(); ++i) {
      Value item = items[i];
      if (attr != nullptr && !attr->is_none()) {
        ASSIGN_OR_RETURN(item, AttrPath(r, item, attr->ToString(), a.line));
      }
      if (i > 0) out += d;
      out += item.ToString();
      RETURN_IF_ERROR(r.CheckSize(out.size()));
    }
    return Value::String(std::move(out));
  }
  if (n == "list") {
    ASSIGN_OR_RETURN(std::vector<Value> items, r.Iterate(v, a.line));
    return Value::MakeList(std::move(items));
  }
  if (n == "items") {
    if (v.is_undefined()) return Value::MakeList({});
    if (!v.is_dict() || v.is_namespace())
      return InvalidArgumentError("Can only get item pairs from a mapping.");
    std::vector<Value> out;
    for (const auto& [k, x] : v.dict().items)
      out.push_back(Value::MakeList({Value::String(k), x}, true));
    return Value::MakeList(std::move(out));
  }
  if (n == "dictsort") {
    if (!v.is_dict() || v.is_namespace())
      return InvalidArgumentError("dictsort: a mapping is needed");
    const bool cs = BoolArg(Arg(a, 0, "case_sensitive"), false);
    const Value* by = Arg(a, 1, "by");
    const bool reverse = BoolArg(Arg(a, 2, "reverse"), false);
    int pos = 0;
    if (by != nullptr) {
      if (by->ToString() == "value") {
        pos = 1;
      } else if (by->ToString() != "key") {
        return InvalidArgumentError("You can only sort by either \"key\" or \"value\"");
      }
    }
    std::vector<Value> pairs, keys;
    for (const auto& [k, x] : v.dict().items) {
      pairs.push_back(Value::MakeList({Value::String(k), x}, true));
      keys.push_back(Lowered(pos == 0 ? Value::String(k) : x, cs));
    }
    ASSIGN_OR_RETURN(std::vector<Value> sorted, SortedBy(std::move(pairs), keys, reverse));
    return Value::MakeList(std::move(sorted));
  }
  if (n == "sort") {
    ASSIGN_OR_RETURN(std::vector<Value> items, r.Iterate(v, a.line));
    const bool reverse = BoolArg(Arg(a, 0, "reverse"), false);
    const bool cs = BoolArg(Arg(a, 1, "case_sensitive"), false);
    const Value* attr = Arg(a, 2, "attribute");
    std::vector<Value> keys;
    for (const Value& item : items) {
      Value key = item;
      if (attr != nullptr && !attr->is_none()) {
        ASSIGN_OR_RETURN(key, AttrPath(r, item, attr->ToString(), a.line));
      }
      keys.push_back(Lowered(key, cs));
    }
    ASSIGN_OR_RETURN(std::vector<Value> sorted, SortedBy(std::move(items), keys, reverse));
    return Value::MakeList(std::move(sorted));
  }
  if (n == "unique") {
    ASSIGN_OR_RETURN(std::vector<Value> items, r.Iterate(v, a.line));
    const bool cs = BoolArg(Arg(a, 0, "case_sensitive"), false);
    const Value* attr = Arg(a, 1, "attribute");
    std::vector<Value> out, seen;
    for (const Value& item : items) {
      RETURN_IF_ERROR(r.Step());
      Value key = item;
      if (attr != nullptr && !attr->is_none()) {
        ASSIGN_OR_RETURN(key, AttrPath(r, item, attr->ToString(), a.line));
      }
      key = Lowered(key, cs);
      bool dup = false;
      for (const Value& s : seen) dup = dup || Equal(s, key);
      if (dup) continue;
      seen.push_back(std::move(key));
      out.push_back(item);
    }
    return Value::MakeList(std::move(out));
  }
  if (n == "reverse") {
    if (v.is_string()) {
      std::vector<char32_t> cps = DecodeUtf8(v.str());
      std::reverse(cps.begin(), cps.end());
      return Value::String(EncodeUtf8(cps));
    }
    ASSIGN_OR_RETURN(std::vector<Value> items, r.Iterate(v, a.line));
    std::reverse(items.begin(), items.end());
    return Value::MakeList(std::move(items));
  }
  if (n == "map") {
    ASSIGN_OR_RETURN(std::vector<Value> items, r.Iterate(v, a.line));
    std::vector<Value> out;
    const Value* attr = nullptr;
    for (const auto& [k, x] : a.kwargs) {
      if (k == "attribute") attr = &x;
    }
    if (attr != nullptr) {
      const Value* def = nullptr;
      for (const auto& [k, x] : a.kwargs) {
        if (k == "default") def = &x;
      }
      for (const Value& item : items) {
        ASSIGN_OR_RETURN(Value x, AttrPath(r, item, attr->ToString(), a.line));
        if (x.is_undefined() && def != nullptr) x = *def;
        out.push_back(std::move(x));
      }
      return Value::MakeList(std::move(out));
    }
    if (a.args.empty()) return InvalidArgumentError("map requires a filter argument");
    const std::string filter = a.args[0].ToString();
    if (!IsKnownFilter(filter)) return InvalidArgumentError("No filter named '" + filter + "'.");
    CallArgs rest;
    rest.args.assign(a.args.begin() + 1, a.args.end());
    rest.kwargs = a.kwargs;
    rest.line = a.line;
    for (const Value& item : items) {
      RETURN_IF_ERROR(r.Step());
      CallArgs copy = rest;
      ASSIGN_OR_RETURN(Value x, ApplyFilter(r, filter, item, copy));
      out.push_back(std::move(x));
    }
    return Value::MakeList(std::move(out));
  }
  if (n == "select") return DoSelect(r, v, a, false, true);
  if (n == "reject") return DoSelect(r, v, a, false, false);
  if (n == "selectattr") return DoSelect(r, v, a, true, true);
  if (n == "rejectattr") return DoSelect(r, v, a, true, false);
  if (n == "max") return DoMinMax(r, v, a, true);
  if (n == "min") return DoMinMax(r, v, a, false);
  if (n == "sum") {
    ASSIGN_OR_RETURN(std::vector<Value> items, r.Iterate(v, a.line));
    const Value* attr = Arg(a, 0, "attribute");
    const Value* start = Arg(a, 1, "start");
    bool is_float = start != nullptr && start->is_float();
    int64_t total_i = start == nullptr ? 0 : start->int_value();
    double total_f = start == nullptr ? 0 : start->number();
    for (const Value& item : items) {
      Value x = item;
      if (attr != nullptr && !attr->is_none()) {
        ASSIGN_OR_RETURN(x, AttrPath(r, item, attr->ToString(), a.line));
      }
      if (!x.is_number())
        return InvalidArgumentError(std::string("unsupported operand type(s) for +: 'int' and '") +
                                    x.TypeName() + "'");
      if (x.is_float()) is_float = true;
      total_f += x.number();
      if (!is_float && __builtin_add_overflow(total_i, x.int_value(), &total_i)) {
        return InvalidArgumentError("integer overflow");
      }
    }
    return is_float ? Value::Float(total_f) : Value::Int(total_i);
  }
  if (n == "abs") {
    if (v.is_float()) return Value::Float(std::fabs(v.number()));
    if (v.is_int() || v.is_bool()) {
      if (v.int_value() == INT64_MIN) return InvalidArgumentError("integer overflow");
      return Value::Int(std::llabs(v.int_value()));
    }
    return InvalidArgumentError(std::string("bad operand type for abs(): '") + v.TypeName() + "'");
  }
  if (n == "int") {
    const Value* def = Arg(a, 0, "default");
    const Value* base = Arg(a, 1, "base");
    const Value fallback = def == nullptr ? Value::Int(0) : *def;
    if (v.is_int() || v.is_bool()) return Value::Int(v.int_value());
    if (v.is_float()) {
      if (!std::isfinite(v.number()) || std::fabs(v.number()) > 9.2e18) return fallback;
      return Value::Int(static_cast<int64_t>(v.number()));
    }
    if (v.is_string()) {
      const int b = base == nullptr ? 10 : static_cast<int>(base->int_value());
      if (auto i = ParseInt(v.str(), b)) return Value::Int(*i);
      if (auto f = ParseFloat(v.str()); f && std::isfinite(*f) && std::fabs(*f) < 9.2e18) {
        return Value::Int(static_cast<int64_t>(*f));
      }
    }
    return fallback;
  }
  if (n == "float") {
    const Value* def = Arg(a, 0, "default");
    const Value fallback = def == nullptr ? Value::Float(0) : *def;
    if (v.is_number()) return Value::Float(v.number());
    if (v.is_string()) {
      if (auto f = ParseFloat(v.str())) return Value::Float(*f);
    }
    return fallback;
  }
  if (n == "round") {
    const Value* precision = Arg(a, 0, "precision");
    const Value* method = Arg(a, 1, "method");
    const std::string m = method == nullptr ? "common" : method->ToString();
    if (m != "common" && m != "ceil" && m != "floor") {
      return InvalidArgumentError("method must be common, ceil or floor");
    }
    if (!v.is_number())
      return InvalidArgumentError(std::string("round: a number is needed, not ") + v.TypeName());
    if (!v.is_float() && m == "common")
      return Value::Int(v.int_value());  // round() of an int is that int
    return Value::Float(Round(v.number(), precision == nullptr ? 0 : precision->int_value(), m));
  }
  if (n == "indent") {
    const Value* width = Arg(a, 0, "width");
    const bool first = BoolArg(Arg(a, 1, "first"), false);
    const bool blank = BoolArg(Arg(a, 2, "blank"), false);
    std::string indention;
    if (width != nullptr && width->is_string()) {
      indention = width->str();
    } else {
      const int64_t w = width == nullptr ? 4 : std::clamp<int64_t>(width->int_value(), 0, 1 << 16);
      indention.assign(static_cast<size_t>(w), ' ');
    }
    const std::vector<std::string> lines = SplitLines(v.ToString() + "\n");
    std::string out;
    for (size_t i = 0; i < lines.size(); ++i) {
      if (i > 0) {
        out += "\n";
        if (blank || !lines[i].empty()) out += indention;
      }
      out += lines[i];
      RETURN_IF_ERROR(r.CheckSize(out.size()));
    }
    if (first) out = indention + out;
    return Value::String(std::move(out));
  }
  if (n == "wordcount") {
    int64_t words = 0;
    bool in_word = false;
    for (char32_t c : DecodeUtf8(v.ToString())) {
      const bool w =
          c == '_' || (c < 0x80 ? std::isalnum(static_cast<int>(c)) != 0 : !IsPythonSpace(c));
      if (w && !in_word) ++words;
      in_word = w;
    }
    return Value::Int(words);
  }
  if (n == "attr") {
    const Value* name = Arg(a, 0, "name");
    if (name == nullptr) return InvalidArgumentError("attr: missing attribute name");
    // Attributes only, never items: a dict's keys are not its attributes.
    if (v.is_namespace()) return r.Attribute(v, name->ToString(), a.line);
    if (auto m = BoundMethod(v, name->ToString())) return *m;
    return Value::Undefined("'" + std::string(v.TypeName()) + " object' has no attribute '" +
                            name->ToString() + "'");
  }
  if (n == "batch") {
    ASSIGN_OR_RETURN(std::vector<Value> items, r.Iterate(v, a.line));
    const Value* count = Arg(a, 0, "linecount");
    if (count == nullptr || count->int_value() <= 0)
      return InvalidArgumentError("batch: linecount must be positive");
    const Value* fill = Arg(a, 1, "fill_with");
    const size_t per = static_cast<size_t>(count->int_value());
    std::vector<Value> out, cur;
    for (const Value& item : items) {
      cur.push_back(item);
      if (cur.size() == per) {
        out.push_back(Value::MakeList(std::move(cur)));
        cur.clear();
      }
    }
    if (!cur.empty()) {
      while (fill != nullptr && !fill->is_none() && cur.size() < per) cur.push_back(*fill);
      out.push_back(Value::MakeList(std::move(cur)));
    }
    return Value::MakeList(std::move(out));
  }
  return InvalidArgumentError("no filter named '" + n + "'");
}

}  // namespace radixlm::tmpl
