#include "core/logging.h"

#include <gtest/gtest.h>

#include <string>

namespace radixlm {
namespace {

TEST(LoggingTest, WritesOneLineWithLevelFileAndMessage) {
  LogLevel saved = GetLogLevel();
  SetLogLevel(LogLevel::kInfo);
  ::testing::internal::CaptureStderr();
  LOG(INFO) << "cached " << 42 << " pages";
  std::string out = ::testing::internal::GetCapturedStderr();
  SetLogLevel(saved);
  EXPECT_EQ(out.front(), 'I');
  EXPECT_NE(out.find("logging_test.cc:"), std::string::npos) << out;
  EXPECT_NE(out.find("] cached 42 pages\n"), std::string::npos) << out;
  EXPECT_EQ(out.find('\n'), out.size() - 1) << "one line";
}

TEST(LoggingTest, MessagesBelowTheThresholdAreDroppedUnevaluated) {
  LogLevel saved = GetLogLevel();
  SetLogLevel(LogLevel::kWarning);
  int evaluated = 0;
  auto count = [&] { return ++evaluated; };
  ::testing::internal::CaptureStderr();
  LOG(INFO) << "hidden " << count();
  LOG(WARNING) << "shown " << count();
  std::string out = ::testing::internal::GetCapturedStderr();
  SetLogLevel(saved);
  EXPECT_EQ(evaluated, 1);
  EXPECT_EQ(out.find("hidden"), std::string::npos);
  EXPECT_NE(out.find("W "), std::string::npos);
  EXPECT_NE(out.find("shown 1"), std::string::npos);
}

}  // namespace
}  // namespace radixlm
