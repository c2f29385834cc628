// ErrorLog: counts a layer's failures and logs them at most once per interval,
// with the number since the last line, so a store that is down does not flood
// the log (the request carries on without the layer either way).
//
// Thread safety: Count may run concurrently.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "core/status.h"

namespace radixlm::respcache {

class ErrorLog {
 public:
  // `what` names the failures in the log line, e.g. "response cache: ... store error(s)".
  ErrorLog(std::string subject, std::string what, int64_t interval_ms = 10'000)
      : subject_(std::move(subject)), what_(std::move(what)), interval_ms_(interval_ms) {}

  void Count(const Status& status);
  int64_t total() const { return total_.load(); }

 private:
  const std::string subject_, what_;
  const int64_t interval_ms_;
  std::atomic<int64_t> total_{0};
  std::atomic<int64_t> unlogged_{0};
  std::atomic<int64_t> last_log_ms_{-1};
};

}  // namespace radixlm::respcache
