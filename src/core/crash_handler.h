// InstallCrashHandler: on a fatal signal (SIGSEGV, SIGBUS, SIGFPE, SIGILL,
// SIGABRT) the process writes one line naming the signal and the faulting
// address, then the stack (glibc's backtrace: "binary(+offset)" frames, which
// `addr2line -Cfe BINARY OFFSET` turns into functions and lines), to stderr,
// and dies of the same signal (so the exit status and any core dump are as
// without the handler). Only async-signal-safe calls run in the handler; the
// first fault wins, a second one during the report kills at once. In a
// sanitizer build it does nothing: the sanitizer reports better.
#pragma once

namespace radixlm {

void InstallCrashHandler(const char* program);

}  // namespace radixlm
