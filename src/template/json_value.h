// JSON to Value and back. Parsing keeps object key order (Python's json.loads
// does) and gives ints for integers, floats for numbers with a fraction or an
// exponent. Output is Python's json.dumps as transformers' `tojson` filter
// calls it: ensure_ascii false by default, separators (", ", ": ") or
// (",", ": ") with an indent, sort_keys, floats as repr() (NaN, Infinity).
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"
#include "template/value.h"

namespace radixlm::tmpl {

// Errors name `what` (a file or a request field).
StatusOr<Value> ParseJson(std::string_view json, std::string_view what);

struct JsonDumpOptions {
  bool ensure_ascii = false;
  int indent = -1;          // < 0: on one line; a string indent is given as indent_text
  std::string indent_text;  // used when not empty
  bool has_indent = false;
  std::string item_separator;  // empty: the default for the indent mode
  std::string key_separator;
  bool sort_keys = false;
};

// Undefined, callables and namespaces are not JSON: INVALID_ARGUMENT, as
// Python's TypeError ("Object of type X is not JSON serializable").
StatusOr<std::string> DumpJson(const Value& value, const JsonDumpOptions& options);

}  // namespace radixlm::tmpl
