// ToolCallParser: tool calls read out of a model's generated text as it
// streams, in one family's format (tool_call_format.h), as OpenAI's
// `tool_calls` and the content around them.
//
// Text is fed as it is generated; each Add hands back what is decided: content
// (text outside calls), the start of a call (its name) and fragments of its
// arguments (the JSON text exactly as generated). Only text that may still turn
// out to open a call is held back:
//   - tagged families (qwen's <tool_call>, deepseek_v3's <｜tool▁calls▁begin｜>
//     or <｜tool▁call▁begin｜>): calls may appear anywhere; the held text is a
//     trailing proper prefix of an opening marker and the whitespace before it
//     (plus trailing whitespace, dropped if a call follows);
//   - llama3_json and generic: calls only where the output starts (after
//     whitespace, <|python_tag|> or "[" for a JSON array); the held text is the
//     output so far until it is known to be a call or not.
// A call is committed (its name handed out) once its head is complete: the
// opening marker, `{"name": "NAME", "arguments": ` (or "parameters"; any JSON
// whitespace) and the `{` of the arguments; deepseek_v3: `<｜tool▁call▁begin｜>TYPE
// <｜tool▁sep｜>NAME\n```json\n{`. For llama3_json and generic NAME must be one of
// the request's tools (this is what tells a call from an answer that happens to
// be JSON); tagged families take any name. A head that does not match is
// content, verbatim. After the arguments' closing brace the family's closing
// text (`}`, `</tool_call>`, "```" and <｜tool▁call▁end｜>, <｜tool▁calls▁end｜>) is
// dropped where present; whitespace between and around calls is dropped; other
// text after a call is content.
//
// Output without any call is the input unchanged (content only, the same bytes),
// and the result does not depend on how the text was split: feeding it whole or
// one byte at a time gives the same content, names and arguments once
// concatenated (tests check every split).
//
// Not thread-safe: one parser per choice.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "server/tool_call_format.h"

namespace radixlm::server {

// What one Add or Finish decided. Content is listed before calls (within one
// delta their relative order is not kept).
struct ToolCallDelta {
  std::string content;
  struct Call {
    int32_t index = 0;      // the call's position in the choice's tool_calls
    bool begins = false;    // the call's first delta: `name` is set
    std::string name;       // when begins
    std::string arguments;  // a fragment of the arguments' JSON text
  };
  std::vector<Call> calls;  // consecutive fragments of one call are merged
  bool empty() const { return content.empty() && calls.empty(); }
};

class ToolCallParser {
 public:
  // `format` must outlive the parser (GetToolCallFormat's are static).
  ToolCallParser(const ToolCallFormat& format, std::vector<std::string> tool_names);

  // Feeds generated text; appends what is decided to *out.
  void Add(std::string_view text, ToolCallDelta* out);
  // The end of the output: everything held is decided and appended.
  void Finish(ToolCallDelta* out);

  // Calls begun so far.
  int32_t calls() const { return calls_; }
  // After Finish: the last call's arguments never closed (the output was cut).
  bool call_open() const { return state_ == State::kArgs; }

 private:
  enum class State { kContent, kStart, kHead, kArgs, kTail, kAfterCall, kPassThrough };
  enum class Match { kMore, kFail, kOk };

  bool Step(bool at_end, ToolCallDelta* out);
  bool StepContent(bool at_end, ToolCallDelta* out);
  bool StepStart(bool at_end, ToolCallDelta* out);
  bool StepHead(bool at_end, ToolCallDelta* out);
  bool StepArgs(ToolCallDelta* out);
  bool StepTail(bool at_end);
  bool StepAfterCall(bool at_end, ToolCallDelta* out);
  // Matches the head at buf_[head_start_]: *consumed (from head_start_) ends
  // at the arguments' `{`.
  Match MatchHead(bool at_end, size_t* consumed, std::string* name) const;
  bool Tagged() const;
  bool KnownName(const std::string& name) const;
  void Emit(std::string_view content, ToolCallDelta* out);
  void EndCall();

  const ToolCallFormat& format_;
  std::vector<std::string> tool_names_;
  std::vector<std::string> openers_;  // tagged: the texts that open a call
  std::vector<std::string> closers_;  // dropped where they follow a call
  std::vector<std::string> tail_;     // the literals after the arguments
  State state_;
  std::string buf_;          // undecided text
  size_t head_start_ = 0;    // kHead: where the head starts in buf_ (before: held whitespace)
  size_t opener_len_ = 0;    // kHead, tagged: the opening marker's length
  bool after_call_ = false;  // whitespace is dropped until other text follows
  bool array_ = false;       // untagged: calls inside [ ... ]
  int32_t calls_ = 0;
  // kArgs: the JSON scanner.
  int32_t depth_ = 0;
  bool in_string_ = false;
  bool escape_ = false;
  size_t tail_step_ = 0;
};

// The whole output at once (non-streamed responses).
struct ParsedToolCalls {
  std::string content;  // text outside calls
  std::vector<ToolCallFormat::Call> calls;
  bool call_open = false;  // the last call's arguments never closed
};
ParsedToolCalls ParseToolCalls(const ToolCallFormat& format, std::vector<std::string> tool_names,
                               std::string_view text);

}  // namespace radixlm::server
