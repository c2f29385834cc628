// Logging to stderr: `LOG(INFO) << "loaded " << n << " pages";`
// One line per message, written with a single write so lines from different
// threads never interleave. The threshold comes from SetLogLevel() or the
// RADIXLM_LOG_LEVEL environment variable (debug, info, warning, error).
#pragma once

#include <sstream>

namespace radixlm {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();

namespace internal {

class LogMessage {
 public:
  LogMessage(LogLevel level, const char* file, int line);
  ~LogMessage();
  std::ostream& stream() { return stream_; }

 private:
  std::ostringstream stream_;
};

}  // namespace internal
}  // namespace radixlm

#define RADIXLM_LOG_DEBUG ::radixlm::LogLevel::kDebug
#define RADIXLM_LOG_INFO ::radixlm::LogLevel::kInfo
#define RADIXLM_LOG_WARNING ::radixlm::LogLevel::kWarning
#define RADIXLM_LOG_ERROR ::radixlm::LogLevel::kError

#define LOG(level)                                      \
  if (RADIXLM_LOG_##level < ::radixlm::GetLogLevel()) { \
  } else                                                \
    ::radixlm::internal::LogMessage(RADIXLM_LOG_##level, __FILE__, __LINE__).stream()
