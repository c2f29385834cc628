// The requests of a `bench serve` run, built from a simulator trace (a generated
// workload, or a trace file), so that a simulated and a measured run send the
// same prompts.
//
// Prompt formats:
//   tokens  token-id arrays on /v1/completions. The simulator's token t becomes
//           WireToken(t, vocab): a fixed hash of t into [0, vocab). Equal tokens
//           stay equal, so the trace's sharing survives exactly; unequal ones
//           collide with probability 1/vocab, which can only add a token of
//           sharing where a prompt parts from another (the ideal ratio is
//           measured on the ids actually sent, so it counts that too).
//   text    for servers that take only text, and for /v1/chat/completions. The
//           token t becomes one word of a fixed list of 512 common lowercase
//           English words, written with a leading space (" river"). Byte-level
//           BPE tokenizers (GPT-2, Llama 3, Qwen) and SentencePiece split text
//           into pre-tokens at exactly those spaces before merging, so a prompt
//           that shares its first k words with another shares the tokens of
//           those k words too: the sharing survives tokenization. The ideal is
//           then measured in words (one unit per whitespace-separated word, the
//           server's answers included): the share of cached tokens equals it
//           when words are about equally long in tokens, and the report says
//           which unit it used.
//
// Chat (text only): a prompt's first segment, when it is shared content and
// more follows, is the system message; answers of earlier requests are assistant
// messages; the rest are user messages (consecutive segments of one role are
// one message).
//
// Multi-turn history (segments that are an earlier request's output, e.g. the
// previous answer of a conversation, or a parent thought in tree-of-thought):
//   server     (default) the answer the server actually returned, as a chat
//              client does: its token ids when the server names them
//              (return_tokens_as_token_ids), else its text. The server then
//              hits the previous turn's prompt and its own answer.
//   generated  the generator's answer tokens: every prompt is fixed in advance
//              whatever the server says, so two servers get identical requests;
//              a server can then hit only the previous turn's prompt, and the
//              ideal (computed on the prompts sent, answers not inserted) says so.
// Either way a request whose prompt contains an earlier request's answer is sent
// only after that answer arrived (BenchRequest::after).
//
// Agent (BenchWorkloadOptions::agent, the `agent` workload on chat): every
// request carries the same `tools` (AgentToolsJson); an earlier request's
// answer in a prompt is an assistant message with a tool call (its arguments
// the generator's words for that output; its content the server's answer in
// server history, null in generated history), and the segment after it the
// tool's result (a `tool` message answering that call).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "sim/trace.h"

namespace radixlm::sim {
class PromptBuilder;
}

namespace radixlm::loadgen {

enum class PromptFormat { kTokens, kText };
enum class Endpoint { kCompletions, kChat };
enum class HistoryMode { kServer, kGenerated };

struct BenchWorkloadOptions {
  int64_t vocab = 256;     // token prompts: ids in [0, vocab)
  int64_t max_tokens = 0;  // 0: each request's output length in the trace
  HistoryMode history = HistoryMode::kServer;
  uint64_t seed = 1;   // the PromptBuilder's seed (the workload's seed)
  bool agent = false;  // tool calls and results in chat prompts (see above)
  Status Validate() const;
};

struct ChatMessage {
  std::string role;
  std::string content;
  bool content_null = false;  // "content": null
  // An assistant's tool call (agent), or the call a tool message answers.
  std::string tool_call_id = {};
  std::string tool_name = {};       // assistant: the call's function
  std::string tool_arguments = {};  // assistant: JSON text
};

// The agent workload's tools: a JSON array of OpenAI function tools.
const std::string& AgentToolsJson();

// One prompt as it goes out, and as units for the ideal cached ratio.
struct BuiltPrompt {
  std::vector<int32_t> tokens;        // kTokens
  std::string text;                   // kText on /v1/completions
  std::vector<ChatMessage> messages;  // kText on /v1/chat/completions
  // Token ids (kTokens), or one unit per word (kText; chat adds one per message
  // for its role), never negative.
  std::vector<int32_t> units;
  // Earlier answers the history wanted but did not have (failed requests, or a
  // server that does not name token ids): the generator's answer stood in.
  int64_t history_fallbacks = 0;
};

// An earlier request's answer, as the history of later prompts.
struct Answer {
  bool known = false;  // the request succeeded
  std::string text;
  std::vector<int32_t> ids;
  bool ids_known = false;
};

struct BenchRequest {
  size_t trace_index = 0;
  double arrival_s = 0;  // the trace's arrival time
  int64_t max_tokens = 1;
  int64_t after = -1;  // the last earlier request whose answer this prompt contains
  std::string session;
};

class BenchWorkload {
 public:
  // Keeps the first `limit` requests of `trace` (0: all).
  static StatusOr<std::unique_ptr<BenchWorkload>> Create(sim::Trace trace, size_t limit,
                                                         const BenchWorkloadOptions& options);
  ~BenchWorkload();

  const std::vector<BenchRequest>& requests() const { return requests_; }
  const sim::Trace& trace() const { return trace_; }

  // Builds request i. `answers` holds one entry per request (those of requests
  // not yet answered are unknown); only requests before i are read.
  BuiltPrompt Build(size_t i, PromptFormat format, Endpoint endpoint,
                    const std::vector<Answer>& answers) const;

 private:
  BenchWorkload() = default;

  sim::Trace trace_;
  BenchWorkloadOptions options_;
  std::unique_ptr<sim::PromptBuilder> builder_;
  std::vector<BenchRequest> requests_;
  std::vector<int64_t> output_of_;  // per content: the request whose output it is, or -1
};

// The simulator's token as a token id in [0, vocab).
int32_t WireToken(sim::Token token, int64_t vocab);
// The word (without the space) standing for a simulator token in text prompts.
std::string_view WordFor(sim::Token token);
inline constexpr size_t kNumWords = 512;
// A word's unit for the ideal ratio (a hash in [0, 2^31)).
int32_t WordUnit(std::string_view word);
// Appends one unit per whitespace-separated word of `text`.
void AppendWordUnits(std::string_view text, std::vector<int32_t>* units);
// Text of simulator tokens: " w1 w2 ..." (each word with its leading space).
void AppendWords(std::span<const sim::Token> tokens, std::string* text);

// The sequence a server holds in its cache after answering prompt `p` with
// `answer`, in the prompt's units: the prompt, then the answer less its last
// token (no server computes the KV of the token it samples last; in words,
// less the last word, which that token ends). The prompt alone when the answer
// is unknown (or, for token prompts, its ids are).
std::vector<int32_t> HeldAfter(const BuiltPrompt& p, const Answer& answer, PromptFormat format,
                               Endpoint endpoint);

// A prompt of `n` tokens sharing nothing with any workload (the format probe and
// the warm-up requests), in either format.
BuiltPrompt UniquePrompt(uint64_t key, int64_t n, PromptFormat format, Endpoint endpoint,
                         int64_t vocab);

}  // namespace radixlm::loadgen
