// Server-sent events at the client, without any I/O: the framing of a
// text/event-stream body (SseParser), fed with bytes as they arrive, so it can be
// tested on hostile input. net/http_client.h delivers the bytes; what the events
// mean is the caller's (loadgen/completion_stream.h reads OpenAI completions).
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace radixlm::net {

// The event-stream framing (WHATWG HTML, "server-sent events"): lines end in
// CRLF, LF or CR (also when split across reads); an empty line ends an event;
// "data:" lines are joined with '\n'; "event:" names it; lines starting with ':'
// are comments; other fields are ignored. An event (or a line) larger than
// `max_event_bytes` is an error: a server cannot make the client buffer without
// bound.
class SseParser {
 public:
  using EventFn = std::function<void(std::string_view event, std::string_view data)>;
  explicit SseParser(size_t max_event_bytes = size_t{8} << 20)
      : max_event_bytes_(max_event_bytes) {}

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

}  // namespace radixlm::net
