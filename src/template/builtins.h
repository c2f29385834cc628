// The builtins of the supported subset: Jinja2's filters and tests, the
// methods of str, dict and list that the immutable sandbox allows, and the
// globals (range, namespace, dict, raise_exception, strftime_now, cycler-free).
// Internal to the library.
#pragma once

#include <optional>
#include <string>

#include "core/status.h"
#include "template/value.h"

namespace radixlm::tmpl {

class Renderer;

bool IsKnownFilter(const std::string& name);
bool IsKnownTest(const std::string& name);

StatusOr<Value> ApplyFilter(Renderer& r, const std::string& name, const Value& input,
                            CallArgs& args);
StatusOr<bool> ApplyTest(Renderer& r, const std::string& name, const Value& input, CallArgs& args);

// `self.name` as a bound method of str, dict or list, or nothing.
std::optional<Value> BoundMethod(const Value& self, const std::string& name);

// range, namespace, dict, raise_exception, strftime_now.
void AddGlobals(Dict* globals);

// The message of raise_exception(msg): renders report it without a line.
inline constexpr const char* kRaisedPrefix = "\x02raised:";

// Argument binding for builtins: positional index `i` or keyword `name`.
const Value* Arg(const CallArgs& args, size_t i, const char* name);

}  // namespace radixlm::tmpl
