#include "respcache/error_log.h"

#include <chrono>

#include "core/logging.h"

namespace radixlm::respcache {

void ErrorLog::Count(const Status& status) {
  ++total_;
  ++unlogged_;
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
  int64_t last = last_log_ms_.load();
  if (last >= 0 && now - last < interval_ms_) return;
  if (!last_log_ms_.compare_exchange_strong(last, now))
    return;  // another thread logs this interval
  const int64_t errors = unlogged_.exchange(0);
  LOG(WARNING) << subject_ << ": " << errors << " " << what_
               << " since the last report; latest: " << status.message();
}

}  // namespace radixlm::respcache
