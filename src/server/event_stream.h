// Server-sent events for stream: true. A GenerationStream turns a Generation's
// updates into OpenAI's chunks, each framed as "data: {json}\n\n":
//   chat         a first chunk per choice with delta {"role":"assistant","content":""},
//                content deltas, then per choice a chunk with an empty delta and
//                its finish_reason; with tool-call parsing (the formatter's
//                tool_calls), ChatChoiceStream below;
//   completions  (echo: the prompt text first; with prompt logprobs that
//                chunk waits for them and carries them) text deltas, the
//                last one of a choice carrying its finish_reason;
// then, with stream_options.include_usage, a chunk with "choices": [] and the
// usage, and finally "data: [DONE]\n\n". A request the engine fails is reported
// as `data: {"error": {...}}` before [DONE]; one the server's shutdown cancels
// ends with finish_reason "abort". After 5 s without news an SSE comment
// (": keep-alive") is sent, so a client that went away is noticed even while
// its request waits.
//
// Thread safety: one consumer (the HTTP thread writing the response).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "server/generation.h"
#include "server/openai_format.h"

namespace radixlm::server {

class ToolCallParser;

class EventStream {
 public:
  virtual ~EventStream() = default;
  // Appends what is ready within `wait` to *out (possibly nothing). Returns
  // false when this was the end of the stream.
  virtual bool Next(std::string* out, std::chrono::milliseconds wait) = 0;
  // The client went away: stop the engine's work.
  virtual void Cancel() = 0;
  // `wake` is called, from the engine's thread, when Next may have more (null:
  // no more calls); a stream that has everything ready never calls it.
  virtual void SetWake(std::function<void()> wake) { (void)wake; }
  // Token counts so far (for the request's log line).
  virtual Usage usage() const = 0;
};

// Appends one server-sent event: "data: {json}\n\n".
void AppendEvent(std::string* out, const std::string& json);

// Called once with every choice whole and the usage when a stream ends with all
// its choices finished by a stop or their length (never after an error or a
// cancellation): the response cache stores it.
using CompletedCallback =
    std::function<void(std::vector<ChoiceOutput> choices, const Usage& usage)>;

struct StreamSetup {
  bool chat = false;
  ResponseMeta meta;
  bool include_usage = false;
  std::vector<std::string> echo;  // completions: per prompt, the text to send first ("" for none)
  // Completions with echo and logprobs: the echo chunk carries the prompt's
  // logprobs, sent once the engine reports them, led by the prompt's first
  // token (first_tokens, per prompt).
  bool prompt_logprobs = false;
  std::vector<int32_t> first_tokens;
  CompletedCallback on_completed;  // optional
  std::string response_cache;      // usage.response_cache for the usage chunk ("" for none)
  std::function<void(const Usage&)> on_end;  // optional: the usage, when the stream is destroyed
};

// One chat choice's chunks after its role chunk. Content deltas as text comes;
// with tool-call parsing (the formatter's tool_calls) the text goes through a
// ToolCallParser: content it decides as content deltas, calls as
// {"tool_calls": [{"index", "id", "type": "function", "function": {"name",
// "arguments": ""}}]} when a call begins and {"arguments": fragment} pieces
// after, OpenAI's incremental form. An update's log probabilities go out with
// it (on a content chunk with "" while the parser holds the tokens' text, so
// clients see every token arrive). The last chunk has
// an empty delta and the finish reason: "tool_calls" when calls were made
// (FinishesWithToolCalls).
class ChatChoiceStream {
 public:
  ChatChoiceStream(int32_t index, const ResponseFormatter& formatter);
  ~ChatChoiceStream();
  ChatChoiceStream(ChatChoiceStream&&) noexcept;
  // Appends the chunks for new text (and the last chunk once `finish` is set).
  void Add(const ResponseFormatter& formatter, const ResponseMeta& meta, bool include_usage,
           std::string text, std::vector<engine::LogprobEntry> logprobs,
           engine::FinishReason finish, std::string* out);

 private:
  int32_t index_;
  std::unique_ptr<ToolCallParser> parser_;  // null: no tool-call parsing
};

class GenerationStream final : public EventStream {
 public:
  // `active` (may be null) counts open streams; it must outlive the stream.
  GenerationStream(std::unique_ptr<Generation> generation, ResponseFormatter formatter,
                   StreamSetup setup, std::atomic<int64_t>* active);
  ~GenerationStream() override;

  bool Next(std::string* out, std::chrono::milliseconds wait) override;
  void Cancel() override { generation_->Cancel(); }
  void SetWake(std::function<void()> wake) override { generation_->SetWake(std::move(wake)); }
  Usage usage() const override { return generation_->usage(); }

 private:
  void Start(std::string* out);
  // The echo chunk of each of `prompt`'s choices (with `update`'s prompt logprobs when asked).
  void Echo(size_t prompt, const engine::RequestUpdate* update, std::string* out);
  void Finish(std::string* out);

  std::unique_ptr<Generation> generation_;
  ResponseFormatter formatter_;
  StreamSetup setup_;
  std::atomic<int64_t>* active_;
  bool started_ = false;
  bool done_ = false;
  std::vector<Generation::Event> events_;
  std::vector<int64_t> offsets_;  // per choice: text sent so far (completion logprobs' text_offset)
  std::vector<ChoiceOutput> whole_;             // per choice, accumulated (only with on_completed)
  std::vector<ChatChoiceStream> chat_choices_;  // chat: per choice
  std::chrono::steady_clock::time_point last_write_;
};

// A response from the response cache as a stream: the same chunks a generation
// produces (role chunk, echo, the text as one delta per choice with its logprobs,
// finish reasons, the usage chunk when asked, [DONE]), all in the first Next.
class ReplayStream final : public EventStream {
 public:
  ReplayStream(std::vector<ChoiceOutput> choices, Usage usage, ResponseFormatter formatter,
               StreamSetup setup)
      : choices_(std::move(choices)),
        usage_(usage),
        formatter_(formatter),
        setup_(std::move(setup)) {}
  bool Next(std::string* out, std::chrono::milliseconds wait) override;
  void Cancel() override {}
  Usage usage() const override { return usage_; }

 private:
  std::vector<ChoiceOutput> choices_;
  Usage usage_;
  ResponseFormatter formatter_;
  StreamSetup setup_;
  bool done_ = false;
};

}  // namespace radixlm::server
