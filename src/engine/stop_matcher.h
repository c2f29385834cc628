// StopMatcher: finds stop strings in a sample's text as it is generated.
//
// Text arrives in pieces (one decoded token at a time). Add returns the part that
// is safe to show the client: text that could still be the beginning of a stop
// string is held back until the next piece shows whether it is. When a stop
// string completes, the text before it (plus the stop string itself with
// include_stop) is returned, `stopped` is set, and nothing more is accepted.
// The earliest occurrence wins; among stop strings ending at the same place, the
// longest. Flush returns what is held back when the sample ends another way.
//
// Not thread-safe; one per sample.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace radixlm::engine {

class StopMatcher {
 public:
  StopMatcher(std::vector<std::string> stops, bool include_stop);

  struct Result {
    std::string text;  // to emit now
    bool stopped = false;
    std::string matched;  // the stop string, when stopped
  };
  Result Add(std::string_view piece);
  std::string Flush();
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  bool include_stop_;
  bool stopped_ = false;
  std::string held_;  // text not yet emitted
  size_t max_stop_ = 0;
};

}  // namespace radixlm::engine
