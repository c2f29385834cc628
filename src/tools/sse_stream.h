// Reading a streamed OpenAI completion at the client, without any I/O: the
// server-sent-event framing (SseParser) and the meaning of each event
// (CompletionStreamReader), so both can be tested on hostile bytes. The HTTP side
// is http_client.h.
//
// What a streamed answer yields (StreamResult): when each content chunk arrived,
// how many tokens it carried, the text, the token ids when the server writes them
// as "token_id:N" (vLLM's and radixlm's return_tokens_as_token_ids), the usage
// (prompt, completion and cached prompt tokens: OpenAI's
// usage.prompt_tokens_details.cached_tokens, or llama.cpp's timings.cache_n),
// and, when it went wrong, a FailureKind and a message.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace radixlm::tools {

// Why a request failed, for the report's counts. Switches over it have no default.
enum class FailureKind {
  kNone,
  kConnect,         // no connection, or the connection broke (reset, closed early)
  kTimeout,         // no answer, or no end of the answer, within --timeout
  kHttpStatus,      // a status other than 200
  kMalformedStream, // not a well-formed event stream of completion chunks
  kStreamError,     // the server reported an error inside the stream
  kCancelled,       // still running when the run's --max-duration ran out
};
const char* FailureKindName(FailureKind kind);  // "connect", "timeout", ...
inline constexpr FailureKind kAllFailureKinds[] = {
    FailureKind::kConnect,         FailureKind::kTimeout,     FailureKind::kHttpStatus,
    FailureKind::kMalformedStream, FailureKind::kStreamError, FailureKind::kCancelled};

struct StreamResult {
  bool ok = false;
  FailureKind failure = FailureKind::kNone;
  std::string error;      // why not ok, for people
  int http_status = 0;
  double ttft_s = 0;      // from sending to the first chunk with content
  double e2e_s = 0;       // from sending to the end of the stream
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

// The event-stream framing (WHATWG HTML, "server-sent events"): lines end in
// CRLF, LF or CR (also when split across reads); an empty line ends an event;
// "data:" lines are joined with '\n'; "event:" names it; lines starting with ':'
// are comments; other fields are ignored. An event (or a line) larger than
// `max_event_bytes` is an error: a server cannot make the client buffer without
// bound.
class SseParser {
 public:
  using EventFn = std::function<void(std::string_view event, std::string_view data)>;
  explicit SseParser(size_t max_event_bytes = size_t{8} << 20) : max_event_bytes_(max_event_bytes) {}

  // Calls on_event for every event completed by `bytes`. Returns false, and
  // ignores all later input, once the size limit is exceeded.
  bool Feed(std::string_view bytes, const EventFn& on_event);
  // Bytes of an event not yet terminated by an empty line (a cut stream).
  bool has_partial_event() const { return !line_.empty() || has_data_; }
  bool overflowed() const { return overflowed_; }

 private:
  void Line(const EventFn& on_event);

  size_t max_event_bytes_;
  std::string line_;
  std::string data_;
  std::string event_;
  bool has_data_ = false;
  bool after_cr_ = false;  // the last byte was CR: a following LF belongs to it
  bool overflowed_ = false;
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

}  // namespace radixlm::tools
