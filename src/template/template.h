// Template: a Jinja2 template parsed once and rendered many times, with the
// semantics of Jinja2's ImmutableSandboxedEnvironment as transformers
// configures it for chat templates (trim_blocks, lstrip_blocks, loopcontrols,
// default Undefined, no autoescape). The supported subset is what Hugging Face
// chat templates use; docs/ARCHITECTURE.md lists it. Unsupported syntax fails
// Parse, naming the construct and its line and column.
//
// Rendering is bounded: output size, work (loop iterations, nodes and calls)
// and macro call depth are capped by RenderLimits, so a template from a model
// directory cannot run away.
//
// Thread safety: a Template is immutable after Parse; Render may run
// concurrently from many threads.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"
#include "template/value.h"

namespace radixlm::tmpl {

struct Node;

struct RenderLimits {
  size_t max_output_bytes = size_t{32} << 20;  // the rendered text and any string built on the way
  int64_t max_steps = 20'000'000;  // loop iterations + rendered nodes + calls (~1 s of work)
  int max_call_depth = 40;         // nested macro calls
};

struct RenderOptions {
  RenderLimits limits;
  // strftime_now() renders this time (seconds since the epoch, UTC) when set;
  // otherwise the local time now, as transformers' datetime.now().
  std::optional<int64_t> fixed_time;
};

class Template {
 public:
  // INVALID_ARGUMENT "line L, column C: ..." on a syntax error or an
  // unsupported construct.
  static StatusOr<std::unique_ptr<Template>> Parse(std::string_view source);
  ~Template();

  // Renders with `globals` as the template's variables (besides the builtins:
  // range, namespace, dict, raise_exception, strftime_now). Errors are
  // INVALID_ARGUMENT: raise_exception(msg) gives msg as is; anything else
  // "line L: ..." as Jinja2 words it.
  StatusOr<std::string> Render(const Dict& globals, const RenderOptions& options = {}) const;

  // Whether the template reads the variable `name` anywhere (e.g. "tools").
  bool ReadsName(std::string_view name) const;
  // Whether it loops over a `content` attribute or item (`for part in
  // message['content']`): it expects content as a list of parts. vLLM's test.
  bool IteratesContent() const;

 private:
  Template() = default;
  std::unique_ptr<std::vector<std::unique_ptr<Node>>> body_;
};

}  // namespace radixlm::tmpl
