// CHECK: always-on assertions for internal invariants (page conservation, lock
// counts). A failed CHECK prints file:line, the condition and any streamed message,
// then aborts. Never use CHECK for anything a user, a request or a file can cause:
// return a Status instead.
#pragma once

#include <sstream>

namespace radixlm::internal {

class CheckFailure {
 public:
  CheckFailure(const char* file, int line, const char* condition);
  [[noreturn]] ~CheckFailure();
  std::ostream& stream() { return stream_; }

 private:
  std::ostringstream stream_;
};

// Lets `CHECK(x) << "msg"` compile to a void expression in the ternary below.
struct Voidify {
  void operator&(std::ostream&) {}
};

}  // namespace radixlm::internal

#define CHECK(condition)                 \
  (__builtin_expect(!!(condition), 1))   \
      ? (void)0                          \
      : ::radixlm::internal::Voidify() & \
            ::radixlm::internal::CheckFailure(__FILE__, __LINE__, #condition).stream()

#define CHECK_OP(a, op, b) CHECK((a)op(b)) << "(" << (a) << " vs " << (b) << ") "
#define CHECK_EQ(a, b) CHECK_OP(a, ==, b)
#define CHECK_NE(a, b) CHECK_OP(a, !=, b)
#define CHECK_LT(a, b) CHECK_OP(a, <, b)
#define CHECK_LE(a, b) CHECK_OP(a, <=, b)
#define CHECK_GT(a, b) CHECK_OP(a, >, b)
#define CHECK_GE(a, b) CHECK_OP(a, >=, b)
