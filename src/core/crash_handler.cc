#include "core/crash_handler.h"

#include <execinfo.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

namespace radixlm {
namespace {

const char* g_program = "radixlm";
std::atomic<bool> g_reporting{false};

void Write(const char* s) {
  size_t n = strlen(s);
  while (n > 0) {
    ssize_t w = write(STDERR_FILENO, s, n);
    if (w <= 0) return;
    s += w;
    n -= static_cast<size_t>(w);
  }
}

// Hex without printf (not async-signal-safe).
void WriteHex(uintptr_t v) {
  char buf[2 + 2 * sizeof(v) + 1];
  int i = sizeof(buf) - 1;
  buf[i] = '\0';
  do {
    buf[--i] = "0123456789abcdef"[v & 15];
    v >>= 4;
  } while (v != 0 && i > 2);
  buf[--i] = 'x';
  buf[--i] = '0';
  Write(buf + i);
}

void OnFatalSignal(int sig, siginfo_t* info, void*) {
  if (!g_reporting.exchange(true)) {
    Write(g_program);
    Write(": fatal signal ");
    const char* name = sigabbrev_np(sig);
    Write(name != nullptr ? name : "?");
    Write(" at address ");
    WriteHex(reinterpret_cast<uintptr_t>(info != nullptr ? info->si_addr : nullptr));
    Write("; stack (addr2line -Cfe BINARY OFFSET):\n");
    void* frames[64];
    const int n = backtrace(frames, 64);
    backtrace_symbols_fd(frames, n, STDERR_FILENO);
  }
  // SA_RESETHAND restored the default action: die of the same signal.
  raise(sig);
}

}  // namespace

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define RADIXLM_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define RADIXLM_SANITIZED 1
#endif
#endif

void InstallCrashHandler(const char* program) {
#ifdef RADIXLM_SANITIZED
  (void)program;
  return;  // the sanitizer's own handler reports better
#endif
  if (program != nullptr) g_program = program;
  // backtrace() loads libgcc on first use, which is not safe inside the
  // handler: do it now.
  void* warm[1];
  backtrace(warm, 1);
  // The handler runs on its own stack, so a stack overflow is reported too.
  static char alt_stack[64 * 1024];
  stack_t ss{};
  ss.ss_sp = alt_stack;
  ss.ss_size = sizeof(alt_stack);
  sigaltstack(&ss, nullptr);
  struct sigaction sa {};
  sa.sa_sigaction = OnFatalSignal;
  sa.sa_flags = SA_SIGINFO | SA_RESETHAND | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) sigaction(sig, &sa, nullptr);
}

}  // namespace radixlm
