// Small helpers shared by the commands.
#pragma once

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>

#include "core/status.h"

namespace radixlm::tools {

inline double SecondsSince(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

// Prints "radixlm: CODE: message" to stderr; returns the exit code 1.
inline int Fail(const Status& status) {
  std::fprintf(stderr, "radixlm: %s\n", status.ToString().c_str());
  return 1;
}

// Raises the soft open-files limit to the hard one (a server or a load tool
// holding thousands of sockets); returns the limit now in force.
inline int64_t RaiseOpenFilesLimit() {
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) != 0) return 1024;
  if (files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
    getrlimit(RLIMIT_NOFILE, &files);
  }
  return static_cast<int64_t>(std::min<rlim_t>(files.rlim_cur, 10'000'000));
}

}  // namespace radixlm::tools
