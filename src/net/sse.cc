#include "net/sse.h"

namespace radixlm::net {

bool SseParser::Feed(std::string_view bytes, const EventFn& on_event) {
  if (overflowed_) return false;
  for (char c : bytes) {
    if (after_cr_) {
      after_cr_ = false;
      if (c == '\n') continue;  // CRLF: the CR ended the line already
    }
    if (c == '\r' || c == '\n') {
      after_cr_ = c == '\r';
      Line(on_event);
      if (overflowed_) return false;
      continue;
    }
    line_.push_back(c);
    if (line_.size() + data_.size() > max_event_bytes_) {
      overflowed_ = true;
      return false;
    }
  }
  return true;
}

void SseParser::Line(const EventFn& on_event) {
  if (line_.empty()) {
    if (has_data_) {
      data_.pop_back();  // the '\n' after the last data line
      on_event(event_, data_);
    }
    data_.clear();
    event_.clear();
    has_data_ = false;
    return;
  }
  if (line_[0] != ':') {
    const size_t colon = line_.find(':');
    std::string_view field(line_.data(), colon == std::string::npos ? line_.size() : colon);
    std::string_view value;
    if (colon != std::string::npos) {
      value = std::string_view(line_).substr(colon + 1);
      if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    }
    if (field == "data") {
      data_.append(value);
      data_.push_back('\n');
      has_data_ = true;
      if (data_.size() > max_event_bytes_) overflowed_ = true;
    } else if (field == "event") {
      event_.assign(value);
    }
  }
  line_.clear();
}

}  // namespace radixlm::net
