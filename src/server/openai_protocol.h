// The request bodies of the OpenAI-compatible API, parsed and checked field by
// field. Parsing is pure (no model, no engine): what needs the tokenizer or the
// context length (prompt text, the context check) is request_builder.h's.
//
// Accepted: OpenAI's fields and vLLM's extensions that the engine implements
// (top_k, min_p, stop_token_ids, ignore_eos, include_stop_str_in_output,
// skip_special_tokens, cache_salt, truncate_prompt_tokens, return_tokens_as_token_ids,
// add_generation_prompt, continue_final_message, chat_template_kwargs; tools and
// assistant tool_calls, which need a model with a chat template;
// response_format text / json_object / json_schema and tool_choice none / auto
// / required / a named function, the constrained ones enforced by a grammar), radixlm's
// `cache` and `retention_priority`, and Anthropic's `cache_control` (pins: on chat
// messages and their content parts, and at the top level of a completion).
// Fields OpenAI has but that change nothing here (user,
// metadata, store, service_tier, ...) are accepted and ignored. Anything else at
// the top level is refused, as OpenAI does: "Unrecognized request argument
// supplied: X". A null value means the field is absent.
//
// Every error is INVALID_ARGUMENT (HTTP 400) and `*param` names the field at
// fault (e.g. "max_tokens", "messages[2].content").
//
// Thread safety: the functions may run concurrently (one JSON parser per thread).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "engine/request.h"

namespace radixlm::server {

// The model-dependent bounds that parsing checks.
struct ProtocolLimits {
  int32_t max_n = 16;         // n at most
  int32_t max_logprobs = 20;  // logprobs / top_logprobs at most
  int64_t vocab_size = 0;     // token ids must be below it (0: not checked)
};

struct Prompt {
  bool is_text = true;
  std::string text;          // is_text
  std::vector<int32_t> ids;  // !is_text
};

struct ChatMessage {
  std::string role;     // system, developer, user, assistant, tool
  std::string content;  // text parts joined
  // Content given as parts: content.size() after each part (a breakpoint's cut).
  std::vector<size_t> part_ends = {};
  bool has_tool_calls = false;  // an assistant message with a non-empty tool_calls
};

// A pin asked for with Anthropic's `cache_control` (kvcache/pin_table.h):
//   {"type": "ephemeral", "ttl": "5m" | "1h" | "<n>s" | "<n>m" | "<n>h" | seconds}
// type and ttl optional (ttl "5m" when absent; the server bounds it). On
// /v1/completions also "prefix_tokens": N (>= 1; absent: the whole prompt).
struct CacheControl {
  int64_t ttl_seconds = 300;
  int64_t prefix_tokens = 0;  // completions; 0: the whole prompt
  std::string field;          // where it was given ("messages[0].content[1].cache_control")
};

// A chat `cache_control`: on content part `part` of message `message`, or on
// the message itself (part -1: its whole content). The pin covers the rendered
// prompt up to and including that block.
struct CacheBreakpoint {
  size_t message = 0;
  int64_t part = -1;
  CacheControl control;
};
// At most this many per request, as Anthropic allows.
constexpr size_t kMaxCacheBreakpoints = 4;

// radixlm's `retention_priority`: an integer in [-kMaxRetentionPriority,
// kMaxRetentionPriority], default 0; the prompt's cache entries keep the highest
// priority any request gave them, and `serve --eviction priority` evicts lower
// priorities first.
constexpr int64_t kMaxRetentionPriority = 100;

// response_format (chat, and completions as vLLM accepts it): free text, any
// JSON object, or a value of a JSON Schema (its text as sent; the request
// builder compiles it, grammar/schema_compiler.h says which subset).
struct ResponseFormat {
  enum class Type { kText, kJsonObject, kJsonSchema };
  Type type = Type::kText;
  std::string name;    // json_schema.name
  std::string schema;  // json_schema.schema, as JSON text
  bool strict = false;
};

// A tool of a chat request: its function's name and parameters (a JSON
// Schema as JSON text; empty when the tool declares none).
struct ToolDefinition {
  std::string name;
  std::string parameters;
};

// tool_choice: "none", "auto" (the default), "required" (some tool must be
// called), or {"type": "function", "function": {"name": N}} (that one). The
// last two are enforced by a grammar (request_builder.h).
struct ToolChoice {
  enum class Kind { kNone, kAuto, kRequired, kNamed };
  Kind kind = Kind::kAuto;
  std::string name;  // kNamed
  // Whether a call is forced (required or named): a grammar enforces it.
  bool forces() const { return kind == Kind::kRequired || kind == Kind::kNamed; }
};

// The per-request response-cache override (radixlm's `cache` field):
// {"mode": "off"|"read"|"write"|"readwrite", "ttl": seconds}, both optional.
enum class ResponseCacheMode { kOff, kRead, kWrite, kReadWrite };
struct ResponseCacheRequest {
  std::optional<ResponseCacheMode> mode;
  std::optional<int64_t> ttl_seconds;  // >= 1
};

// What /v1/completions and /v1/chat/completions share.
struct GenerationRequest {
  std::string model;  // "" when absent (the served model)
  engine::SamplingParams sampling;
  bool seed_set = false;  // without a seed each request draws its own
  engine::StopConditions stop;
  bool max_tokens_set = false;  // chat without one: up to the end of the context
  int32_t n = 1;
  // Completions: samples generated per prompt, of which the n with the highest
  // mean log probability per token are returned ([n, max_n]; 0: absent, n).
  int32_t best_of = 0;
  int32_t logprobs = -1;  // engine meaning: -1 none, k >= 0 top k
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  bool skip_special_tokens = true;
  std::optional<std::string> cache_salt;
  int64_t truncate_prompt_tokens = 0;  // keep the last k prompt tokens; 0: off
  // vLLM's: logprobs name tokens "token_id:ID" instead of their text.
  bool return_tokens_as_token_ids = false;
  ResponseCacheRequest cache;
  int32_t retention_priority = 0;
  ResponseFormat response_format;
};

// echo with logprobs: the prompt's tokens lead each choice's logprobs (prompt
// logprobs: every prompt token computed, engine/request.h). max_tokens 0 is
// accepted with echo (the prompt scored and echoed, nothing generated: what
// evaluation harnesses send), with n and best_of 1. best_of > n is refused
// with stream, as OpenAI does.
struct CompletionRequest {
  GenerationRequest gen;
  std::vector<Prompt> prompts;  // at least one; each becomes its own engine request
  bool echo = false;
  std::optional<CacheControl> cache_control;  // pins each prompt's prefix
};

struct ChatRequest {
  GenerationRequest gen;
  std::vector<ChatMessage> messages;  // at least one
  bool add_generation_prompt = true;
  bool continue_final_message = false;  // the last (assistant) message is continued
  bool has_tools = false;               // a non-empty `tools` array
  std::vector<ToolDefinition> tools;    // in order
  std::vector<std::string> tool_names;  // the functions `tools` names, in order
  ToolChoice tool_choice;
  std::vector<CacheBreakpoint> breakpoints;  // in message order
  // The request body as sent: chat templates read messages (tool calls, content
  // parts, extra fields), tools and chat_template_kwargs from it as they are.
  std::string body;
};

// POST /v1/embeddings: OpenAI's fields (input, model, encoding_format,
// dimensions, user) and cache_salt (the embedding's prompt pages are cached
// under the caller's namespace like a completion's).
constexpr size_t kMaxEmbeddingInputs = 2048;
struct EmbeddingRequest {
  std::string model;
  std::vector<Prompt> inputs;  // at least one, at most kMaxEmbeddingInputs
  bool base64 = false;         // encoding_format "base64": little-endian F32 bytes
  std::optional<int64_t> dimensions;
  std::optional<std::string> cache_salt;
};

struct FlushRequest {
  std::optional<std::string> cache_salt;
};

StatusOr<CompletionRequest> ParseCompletionRequest(std::string_view body,
                                                   const ProtocolLimits& limits,
                                                   std::string* param);
StatusOr<ChatRequest> ParseChatRequest(std::string_view body, const ProtocolLimits& limits,
                                       std::string* param);
StatusOr<EmbeddingRequest> ParseEmbeddingRequest(std::string_view body,
                                                 const ProtocolLimits& limits, std::string* param);

// The body of POST /v1/cache/flush: empty, {} or {"cache_salt": S}.
StatusOr<FlushRequest> ParseFlushRequest(std::string_view body, std::string* param);

// The body of POST /v1/cache/responses/flush: empty, {} or any of
// {"cache_salt": S} and {"prefix": P} (a key prefix, see response_key.h).
struct ResponseFlushRequest {
  std::optional<std::string> cache_salt;
  std::optional<std::string> prefix;
};
StatusOr<ResponseFlushRequest> ParseResponseFlushRequest(std::string_view body, std::string* param);

}  // namespace radixlm::server
