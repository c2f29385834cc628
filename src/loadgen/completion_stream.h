// A streamed OpenAI completion timed at the client: PostStreaming sends one
// (net/http_client.h, the deadline real) and reads its server-sent events
// (net/sse.h); CompletionStreamReader gives each event its meaning without any
// I/O, so it can be tested on hostile bytes.
//
// What a streamed answer yields (StreamResult): when each content chunk arrived,
// how many tokens it carried, the text, the token ids when the server writes them
// as "token_id:N" (vLLM's and radixlm's return_tokens_as_token_ids), the usage
// (prompt, completion and cached prompt tokens: OpenAI's
// usage.prompt_tokens_details.cached_tokens, or llama.cpp's timings.cache_n),
// and, when it went wrong, a FailureKind and a message.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "net/http_client.h"

namespace radixlm::loadgen {

// Why a request failed, for the report's counts. Switches over it have no default.
enum class FailureKind {
  kNone,
  kConnect,          // no connection, or the connection broke (reset, closed early)
  kTimeout,          // no answer, or no end of the answer, within --timeout
  kHttpStatus,       // a status other than 200
  kMalformedStream,  // not a well-formed event stream of completion chunks
  kStreamError,      // the server reported an error inside the stream
  kCancelled,        // still running when the run's --max-duration ran out
};
const char* FailureKindName(FailureKind kind);  // "connect", "timeout", ...
inline constexpr FailureKind kAllFailureKinds[] = {
    FailureKind::kConnect,         FailureKind::kTimeout,     FailureKind::kHttpStatus,
    FailureKind::kMalformedStream, FailureKind::kStreamError, FailureKind::kCancelled};

struct StreamResult {
  bool ok = false;
  FailureKind failure = FailureKind::kNone;
  std::string error;  // why not ok, for people
  int http_status = 0;
  double ttft_s = 0;                  // from sending to the first chunk with content
  double e2e_s = 0;                   // from sending to the end of the stream
  std::vector<double> token_times_s;  // arrival of each content chunk, from sending
  std::vector<int32_t> chunk_tokens;  // tokens each content chunk carried (>= 1)
  std::string text;
  // Output ids, when every content chunk named its tokens as "token_id:N".
  std::vector<int32_t> output_ids;
  bool output_ids_complete = false;
  int64_t prompt_tokens = -1;  // from usage; -1 when the server sent none
  int64_t completion_tokens = -1;
  int64_t cached_tokens = -1;  // -1: not reported
  std::string cached_source;   // "usage", "timings" (llama.cpp) or ""
  int64_t chunks = 0;          // data events, content or not
  std::string finish_reason;

  // Output tokens: the usage's count, else the tokens the chunks carried.
  int64_t output_tokens() const;
};

// Interprets the events of a streamed /v1/completions or /v1/chat/completions
// answer into a StreamResult. Not thread-safe; one per request.
class CompletionStreamReader {
 public:
  explicit CompletionStreamReader(StreamResult* out) : out_(out) {}
  // One event, `now_s` seconds after the request was sent.
  void OnEvent(std::string_view event, std::string_view data, double now_s);
  // The stream ended (cleanly at the transport level): sets ok, or the failure.
  void Finish(bool partial_event);
  bool done() const { return done_; }

 private:
  void Malformed(const std::string& why);

  StreamResult* out_;
  bool done_ = false;
  bool malformed_ = false;
  bool stream_error_ = false;
  bool ids_seen_ = false;
  bool ids_missing_ = false;
};

// Parses a whole event stream at once (every event at time 0). For tests and
// for reading a saved stream.
StreamResult ParseEventStream(std::string_view bytes);

struct StreamLimits {
  // Whole-request limit (0: the target's timeout_s). A request still running
  // then fails as kTimeout.
  double timeout_s = 0;
  // The run's end: a request still running then fails as kCancelled.
  net::Clock::time_point run_deadline = net::Clock::time_point::max();
  size_t max_event_bytes = size_t{8} << 20;
};

// POSTs `body` (a JSON request with "stream": true) to target.prefix + path and
// reads the events to the end ("data: [DONE]"). Never throws; every way of going
// wrong is a FailureKind in the result. With keep-alive, a failure closes this
// thread's connection, so the next request starts on a fresh one.
StreamResult PostStreaming(const net::HttpTarget& target, const std::string& path,
                           const std::string& body, const StreamLimits& limits = {});

// The prompt tokens of a request body through the server's POST /tokenize
// (vLLM's and radixlm's: {"tokens": [...]} at the server's root). An error when
// the server has no such route or answers anything else.
StatusOr<std::vector<int32_t>> TokenizeRequest(const net::HttpTarget& target,
                                               const std::string& body);

}  // namespace radixlm::loadgen
