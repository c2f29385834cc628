// RequestBuilder: parsed API requests to engine requests. Tokenizes prompts
// (text prompts with the tokenizer's post-processor, and BOS for Llama as
// `radixlm generate` does; chat through chat_format.h), applies
// truncate_prompt_tokens, checks the context length with OpenAI's message, and
// fills engine::RequestOptions with the namespace the caller picked and the
// grammar the output must follow (output_grammar.h). A completion with echo
// and logprobs asks for prompt logprobs; one with best_of > n runs best_of
// samples, each with its log probabilities (best_of.h ranks them). Pins asked
// for with cache_control become PinAsks at token positions of the prompt: a
// completion's prefix_tokens (the whole prompt when absent; longer than the
// prompt is an error), or for chat the tokens the whole prompt shares with the
// conversation rendered up to the marked block (RenderChatPrefix).
//
// Thread safety: immutable after construction; Build* may run concurrently.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "engine/request.h"
#include "grammar/tool_call.h"
#include "server/chat_format.h"
#include "server/openai_protocol.h"

namespace radixlm::model {
class Tokenizer;
}
namespace radixlm::grammar {
class GrammarCache;
}

namespace radixlm::server {

struct ModelInfo {
  const model::Tokenizer* tokenizer = nullptr;  // not owned
  int64_t max_context = 0;                      // prompt + completion tokens at most
  int64_t vocab_size = 0;
  int32_t bos_token_id = -1;  // prepended to text prompts when not there (Llama); -1: none
  ChatFormat chat_format;
  // Constrained decoding (output_grammar.h): the grammars compiled for this
  // model's vocabulary (null: response_format json_* and forced tool calls
  // are refused). A forced tool call is written in chat_format.tool_calls'
  // family (ForcedCallForm), so the parser reads it back as a call.
  std::shared_ptr<grammar::GrammarCache> grammars;
};

// The grammar's form of a forced tool call in `format`'s family (null: the
// generic JSON form): the family's markers around the JSON call object, and
// its arguments key. INVALID_ARGUMENT for a family whose function name is not
// JSON (DeepSeek V3): such calls cannot be forced.
StatusOr<grammar::ToolCallForm> ForcedCallForm(const ToolCallFormat* format);

// A pin to take on the first `tokens` tokens of a built prompt (cache_control).
struct PinAsk {
  size_t tokens = 0;
  int64_t ttl_seconds = 0;
  std::string field;  // the cache_control it came from, for errors
};

struct BuiltPrompt {
  engine::RequestOptions options;
  std::string echo_text;  // the prompt as text (for echo)
  std::vector<PinAsk> pins;
};

class RequestBuilder {
 public:
  explicit RequestBuilder(ModelInfo info) : info_(std::move(info)) {}

  // One engine request per prompt. On error *param names the field.
  StatusOr<std::vector<BuiltPrompt>> BuildCompletion(const CompletionRequest& request,
                                                     const std::string& ns,
                                                     std::string* param) const;
  StatusOr<BuiltPrompt> BuildChat(const ChatRequest& request, const std::string& ns,
                                  std::string* param) const;
  // One engine embedding request per input.
  StatusOr<std::vector<engine::RequestOptions>> BuildEmbedding(const EmbeddingRequest& request,
                                                               const std::string& ns,
                                                               std::string* param) const;
  // Whether the answers to `request` are parsed for tool calls: it has tools,
  // its tool_choice is not "none", and the chat format names a tool-call
  // format. Such a request decodes the format's marker tokens into its text.
  bool ParsesToolCalls(const ChatRequest& request) const;
  // A text prompt's tokens: the tokenizer's special tokens, and BOS where the
  // model wants it.
  std::vector<int32_t> EncodeText(const std::string& text) const;

  const ModelInfo& info() const { return info_; }

 private:
  // Truncation, the context check, and everything but the prompt.
  StatusOr<BuiltPrompt> Finish(const GenerationRequest& gen, std::vector<int32_t> prompt,
                               const std::string& ns, bool chat, std::string* param) const;

  ModelInfo info_;
};

// A fresh random seed for requests that give none (each gets its own draws).
uint64_t RandomSeed();

}  // namespace radixlm::server
