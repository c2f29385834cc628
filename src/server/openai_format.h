// Response bodies in OpenAI's shapes: completions and chat completions, their
// stream chunks, usage, and the model list. Pure functions of their inputs
// (JSON through core/json_writer.h).
//
//   completion   {"id":"cmpl-…","object":"text_completion","created","model",
//                 "choices":[{"index","text","logprobs","finish_reason"}],"usage"}
//   chat         {"id":"chatcmpl-…","object":"chat.completion",…,"choices":[{"index",
//                 "message":{"role":"assistant","content","refusal":null},"logprobs",
//                 "finish_reason"}],"usage"}
//                with tool-call parsing (set_tool_calls): the text is read with
//                tool_call_parser.h; calls found go to "message.tool_calls"
//                [{"id":"call_…","type":"function","function":{"name","arguments"}}]
//                (arguments: the JSON text as generated), "content" is the text
//                outside them (null when there is none), and "finish_reason" is
//                "tool_calls" when the output ended (stop or length) with every
//                call closed.
//   usage        {"prompt_tokens","completion_tokens","total_tokens",
//                 "prompt_tokens_details":{"cached_tokens"},
//                 "response_cache":{"hit","layer"} (only when the response cache was asked)}
// Completion logprobs: {"tokens","token_logprobs","top_logprobs":[{token: logprob}],
// "text_offset"} (with echo and logprobs the prompt's tokens first, the very
// first with null in token_logprobs and top_logprobs, as OpenAI writes it); chat logprobs:
// {"content":[{"token","logprob","bytes",
// "top_logprobs":[{"token","logprob","bytes"}]}],"refusal":null}. A token's text
// is its bytes decoded (invalid UTF-8 as U+FFFD); -inf log probabilities are
// written as -9999.0, as OpenAI does.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/request.h"

namespace radixlm::model {
class Tokenizer;
}

namespace radixlm::server {

struct ToolCallFormat;

struct ResponseMeta {
  std::string id;
  int64_t created = 0;  // Unix seconds
  std::string model;
};
// "cmpl-" or "chatcmpl-" and 32 random hex digits.
std::string NewResponseId(bool chat);

struct Usage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t cached_tokens = 0;
  // With the response cache on and the call cacheable: "miss", or the layer that
  // answered ("l1", "l2", "semantic"); written as "response_cache": {"hit",
  // "layer"}, and "similarity" for a semantic hit.
  std::string response_cache;
  double similarity = -1;  // a semantic hit's cosine similarity
  // With KV tiers below the device (serve --host-cache): of cached_tokens, those
  // loaded from the host tier; written as "cached_tokens_by_tier": {"device",
  // "host"} beside prompt_tokens_details.
  bool tiered = false;
  int64_t host_cached_tokens = 0;
  // Of those, brought to the host from the tier under it ("disk" or "redis",
  // written as a third entry of cached_tokens_by_tier).
  std::string store;
  int64_t store_cached_tokens = 0;
};

// Tool-call parsing of chat answers (tool_call_parser.h).
struct ToolCallOptions {
  const ToolCallFormat* format = nullptr;  // not owned (GetToolCallFormat's statics)
  std::vector<std::string> tool_names;     // the request's tools
};

// "call_" and 24 random hex digits.
std::string NewToolCallId();

// finish_reason "tool_calls": the output ended by a stop or its length with
// `calls` calls, none left open.
bool FinishesWithToolCalls(engine::FinishReason reason, size_t calls, bool call_open);

// A piece of a streamed tool call: the call's first piece carries its id and
// name; the others only a fragment of its arguments.
struct ToolCallChunkPart {
  int32_t index = 0;
  std::string id;    // first piece
  std::string name;  // first piece
  std::string arguments;
};

// One choice as it stands (whole, or one stream delta).
struct ChoiceOutput {
  int32_t index = 0;
  std::string prefix;  // echo: the prompt text before the generated text
  std::string text;
  std::vector<engine::LogprobEntry> logprobs;
  // echo with logprobs: the prompt's tokens lead the completion logprobs:
  // prompt_first (its figures null: nothing precedes it), then an entry per
  // later prompt token. The generated tokens' text_offsets start at
  // text_offset + prefix.size() (the prompt's text), the prompt tokens' are
  // laid back from there (no lower than text_offset: text the prompt lacks,
  // such as an added BOS, sits at its start). -1: none.
  int32_t prompt_first = -1;
  std::vector<engine::LogprobEntry> prompt_logprobs;
  engine::FinishReason finish = engine::FinishReason::kNone;
  int64_t text_offset =
      0;  // completion logprobs: where `prefix + text` starts in the choice's text
  bool tool_calls_finish = false;  // a chat stream's last chunk says "tool_calls"
};

// "stop", "length", "abort" (cancelled), "error"; kNone is null.
const char* FinishReasonText(engine::FinishReason reason);

class ResponseFormatter {
 public:
  // `tokenizer` (not owned) names tokens in logprobs.
  // tokens_as_ids: tokens in logprobs are "token_id:ID" (vLLM's return_tokens_as_token_ids).
  ResponseFormatter(const model::Tokenizer* tokenizer, bool logprobs, bool tokens_as_ids = false)
      : tokenizer_(tokenizer), logprobs_(logprobs), tokens_as_ids_(tokens_as_ids) {}

  std::string Completion(const ResponseMeta& meta, std::span<const ChoiceOutput> choices,
                         const Usage& usage) const;
  std::string Chat(const ResponseMeta& meta, std::span<const ChoiceOutput> choices,
                   const Usage& usage) const;

  // Stream chunks (the JSON only; sse.h frames it). With include_usage every
  // chunk carries "usage": null and UsageChunk ends the stream with choices [].
  std::string CompletionChunk(const ResponseMeta& meta, const ChoiceOutput& choice,
                              bool include_usage) const;
  // First chunk of a chat choice: delta {"role":"assistant","content":""}.
  std::string ChatRoleChunk(const ResponseMeta& meta, int32_t index, bool include_usage) const;
  // Content delta (finish ignored), or with content_delta == false the final
  // chunk: empty delta and the finish reason.
  std::string ChatChunk(const ResponseMeta& meta, const ChoiceOutput& choice, bool content_delta,
                        bool include_usage) const;
  // A chat chunk whose delta is tool-call pieces, with `logprobs` (when asked).
  std::string ChatToolCallChunk(const ResponseMeta& meta, int32_t index,
                                std::span<const ToolCallChunkPart> parts,
                                std::span<const engine::LogprobEntry> logprobs,
                                bool include_usage) const;
  std::string UsageChunk(const ResponseMeta& meta, bool chat, const Usage& usage) const;

  // Chat answers are parsed for tool calls (null: never).
  void set_tool_calls(std::shared_ptr<const ToolCallOptions> options) {
    tool_calls_ = std::move(options);
  }
  const ToolCallOptions* tool_calls() const { return tool_calls_.get(); }

 private:
  const model::Tokenizer* tokenizer_;
  bool logprobs_;
  bool tokens_as_ids_;
  std::shared_ptr<const ToolCallOptions> tool_calls_;
};

std::string FormatModelList(std::string_view model, int64_t created, int64_t max_model_len);

// The body of a /v1/embeddings answer: one vector per input, as numbers or (base64)
// as the base64 of their little-endian F32 bytes.
std::string FormatEmbeddings(std::string_view model, std::span<const std::vector<float>> embeddings,
                             bool base64, int64_t prompt_tokens);

}  // namespace radixlm::server
