#include <gtest/gtest.h>

#include <iterator>
#include <memory>
#include <set>
#include <string>

#include "core/check.h"
#include "core/status.h"

namespace radixlm {
namespace {

TEST(StatusTest, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kOk);
  EXPECT_EQ(s.message(), "");
  EXPECT_EQ(s.ToString(), "OK");
  EXPECT_TRUE(OkStatus().ok());
  EXPECT_TRUE(Status::Ok().ok());
}

TEST(StatusTest, HelpersSetCodeAndMessage) {
  struct Case {
    Status status;
    StatusCode code;
    const char* text;
  };
  const Case cases[] = {
      {InvalidArgumentError("bad"), StatusCode::kInvalidArgument, "INVALID_ARGUMENT: bad"},
      {NotFoundError("nf"), StatusCode::kNotFound, "NOT_FOUND: nf"},
      {ResourceExhaustedError("out of pages"), StatusCode::kResourceExhausted,
       "RESOURCE_EXHAUSTED: out of pages"},
      {FailedPreconditionError("stale"), StatusCode::kFailedPrecondition,
       "FAILED_PRECONDITION: stale"},
      {OutOfRangeError("far"), StatusCode::kOutOfRange, "OUT_OF_RANGE: far"},
      {UnimplementedError("later"), StatusCode::kUnimplemented, "UNIMPLEMENTED: later"},
      {InternalError("oops"), StatusCode::kInternal, "INTERNAL: oops"},
  };
  for (const Case& c : cases) {
    EXPECT_FALSE(c.status.ok());
    EXPECT_EQ(c.status.code(), c.code);
    EXPECT_EQ(c.status.ToString(), c.text);
  }
}

TEST(StatusTest, EveryCodeHasADistinctName) {
  const StatusCode codes[] = {
      StatusCode::kOk,
      StatusCode::kInvalidArgument,
      StatusCode::kNotFound,
      StatusCode::kAlreadyExists,
      StatusCode::kResourceExhausted,
      StatusCode::kFailedPrecondition,
      StatusCode::kOutOfRange,
      StatusCode::kUnimplemented,
      StatusCode::kUnavailable,
      StatusCode::kDeadlineExceeded,
      StatusCode::kCancelled,
      StatusCode::kPermissionDenied,
      StatusCode::kUnauthenticated,
      StatusCode::kDataLoss,
      StatusCode::kInternal,
  };
  std::set<std::string_view> names;
  for (StatusCode code : codes) {
    std::string_view name = StatusCodeName(code);
    EXPECT_NE(name, "UNKNOWN");
    names.insert(name);
  }
  EXPECT_EQ(names.size(), std::size(codes));
  EXPECT_EQ(StatusCodeName(StatusCode::kUnavailable), "UNAVAILABLE");
  EXPECT_EQ(StatusCodeName(StatusCode::kDataLoss), "DATA_LOSS");
  EXPECT_EQ(Status(StatusCode::kCancelled, "c").ToString(), "CANCELLED: c");
}

TEST(StatusOrTest, HoldsValue) {
  StatusOr<std::string> s(std::string("pages"));
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s.status().ok());
  EXPECT_EQ(s.value(), "pages");
  EXPECT_EQ(*s, "pages");
  EXPECT_EQ(s->size(), 5u);
  s.value() += "!";
  EXPECT_EQ(*s, "pages!");
  std::string moved = std::move(s).value();
  EXPECT_EQ(moved, "pages!");
}

TEST(StatusOrTest, HoldsMoveOnlyValue) {
  StatusOr<std::unique_ptr<int>> s(std::make_unique<int>(7));
  ASSERT_TRUE(s.ok());
  std::unique_ptr<int> p = std::move(s).value();
  EXPECT_EQ(*p, 7);
}

TEST(StatusOrTest, HoldsError) {
  StatusOr<int> s(NotFoundError("no such page"));
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(s.status().message(), "no such page");
}

Status FailIf(bool fail) { return fail ? InvalidArgumentError("failed") : OkStatus(); }

StatusOr<int> Half(int x) {
  if (x % 2 != 0) return InvalidArgumentError("odd: " + std::to_string(x));
  return x / 2;
}

int g_steps = 0;
Status TwoSteps(bool fail_first) {
  g_steps = 0;
  RETURN_IF_ERROR(FailIf(fail_first));
  ++g_steps;
  RETURN_IF_ERROR(FailIf(false));
  ++g_steps;
  return OkStatus();
}

StatusOr<int> Quarter(int x) {
  ASSIGN_OR_RETURN(int half, Half(x));
  ASSIGN_OR_RETURN(int quarter, Half(half));
  return quarter;
}

TEST(StatusMacrosTest, ReturnIfErrorPropagates) {
  Status ok = TwoSteps(false);
  EXPECT_TRUE(ok.ok());
  EXPECT_EQ(g_steps, 2);
  Status bad = TwoSteps(true);
  EXPECT_EQ(bad.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.message(), "failed");
  EXPECT_EQ(g_steps, 0);  // returned before the first increment
}

TEST(StatusMacrosTest, AssignOrReturnPropagates) {
  StatusOr<int> q = Quarter(12);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(*q, 3);
  StatusOr<int> first = Quarter(7);
  EXPECT_EQ(first.status().ToString(), "INVALID_ARGUMENT: odd: 7");
  StatusOr<int> second = Quarter(6);  // 6 -> 3, then 3 is odd
  EXPECT_EQ(second.status().ToString(), "INVALID_ARGUMENT: odd: 3");
}

TEST(StatusOrDeathTest, ValueOnErrorAborts) {
  StatusOr<int> s(ResourceExhaustedError("no pages"));
  EXPECT_DEATH((void)s.value(), "StatusOr::value\\(\\) on error: RESOURCE_EXHAUSTED: no pages");
}

TEST(StatusOrDeathTest, BuiltFromOkStatusAborts) {
  EXPECT_DEATH(
      {
        StatusOr<int> s{OkStatus()};
        (void)s;
      },
      "StatusOr built from an OK Status");
}

TEST(CheckDeathTest, FailedCheckAbortsWithFileAndLine) {
  EXPECT_DEATH(CHECK(1 + 1 == 3) << "math " << 42,
               "status_test\\.cc:[0-9]+: CHECK failed: 1 \\+ 1 == 3 math 42");
}

TEST(CheckDeathTest, CheckOpPrintsBothSides) {
  int a = 2, b = 5;
  EXPECT_DEATH(CHECK_EQ(a, b), "status_test\\.cc:[0-9]+: CHECK failed: .*\\(2 vs 5\\)");
  EXPECT_DEATH(CHECK_GT(a, b) << "gt", "\\(2 vs 5\\) gt");
}

TEST(CheckTest, PassingChecksDoNothing) {
  int evaluated = 0;
  CHECK(++evaluated == 1) << "never printed";
  CHECK_EQ(evaluated, 1);
  CHECK_LE(1, 1);
  CHECK_LT(1, 2);
  CHECK_NE(1, 2);
  CHECK_GE(2, 2);
  EXPECT_EQ(evaluated, 1);  // the condition is evaluated exactly once
}

}  // namespace
}  // namespace radixlm
