// Small helpers shared by the model commands.
#pragma once

#include <chrono>
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

}  // namespace radixlm::tools
