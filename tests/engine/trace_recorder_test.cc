// TraceRecorder: lines in arrival order whatever the finishing order, ids shared
// exactly where namespace and tokens agree, partial last blocks, refused
// requests left out, Close writing what still runs, and the file read back by
// the simulator's trace reader with the sharing the prompts had.
#include "engine/trace_recorder.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "sim/infinite_cache.h"
#include "sim/trace.h"

namespace radixlm::engine {
namespace {

std::string TempPath() {
  return ::testing::TempDir() + "/trace_recorder_" + std::to_string(getpid()) + "_" +
         ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".jsonl";
}

std::vector<std::string> Lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::vector<int32_t> Range(int32_t from, int32_t n) {
  std::vector<int32_t> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), from);
  return v;
}

std::string Ids(const std::string& line) { return line.substr(line.find("\"hash_ids\"")); }

TEST(TraceRecorderTest, ArrivalOrderIdsAndPartialBlocks) {
  const std::string path = TempPath();
  auto recorder = TraceRecorder::Open(path, 4);
  ASSERT_TRUE(recorder.ok()) << recorder.status().ToString();
  TraceRecorder& r = **recorder;
  std::vector<int32_t> shared = Range(100, 8);
  std::vector<int32_t> a = shared, b = shared;
  a.insert(a.end(), {1, 2, 3});        // 11 tokens: blocks 0 1 and a partial
  b.insert(b.end(), {1, 2, 3, 4, 5});  // 13 tokens: blocks 0 1 2 and a partial
  const uint64_t ta = r.Arrive("", a);
  const uint64_t tb = r.Arrive("", b);
  const uint64_t tc = r.Arrive("other", a);  // same tokens, another namespace
  const uint64_t td = r.Arrive("", Range(7, 3));
  r.Finish(tc, 5);
  r.Finish(tb, 2);
  EXPECT_EQ(r.written(), 0) << "a is still running";
  r.Finish(ta, 7);
  EXPECT_EQ(r.written(), 3);
  r.Drop(td);
  EXPECT_EQ(r.written(), 3);
  r.Close();
  const std::vector<std::string> lines = Lines(path);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_NE(lines[0].find("\"input_length\": 11, \"output_length\": 7"), std::string::npos)
      << lines[0];
  EXPECT_NE(lines[1].find("\"input_length\": 13, \"output_length\": 2"), std::string::npos)
      << lines[1];
  EXPECT_NE(lines[2].find("\"output_length\": 5"), std::string::npos) << lines[2];
  // a's partial block [1 2 3] is b's third full block's start, not the same block.
  EXPECT_EQ(Ids(lines[0]), "\"hash_ids\": [0, 1, 2]}");
  EXPECT_EQ(Ids(lines[1]), "\"hash_ids\": [0, 1, 3, 4]}");
  EXPECT_EQ(Ids(lines[2]), "\"hash_ids\": [5, 6, 7]}");
}

TEST(TraceRecorderTest, CloseWritesRunningRequestsAndTheSimulatorReadsTheFile) {
  const std::string path = TempPath();
  {
    auto recorder = TraceRecorder::Open(path, 16);
    ASSERT_TRUE(recorder.ok());
    std::vector<int32_t> system = Range(1000, 64);
    std::vector<uint64_t> tickets;
    for (int32_t i = 0; i < 5; ++i) {
      std::vector<int32_t> prompt = system;
      for (int32_t k = 0; k < 20; ++k) prompt.push_back(5000 + i * 100 + k);
      tickets.push_back((*recorder)->Arrive("", prompt));
      usleep(1000);
    }
    for (size_t i = 1; i < tickets.size(); ++i) (*recorder)->Finish(tickets[i], 3);
    // The first is still running when the recorder goes: written with 0 tokens.
  }
  const std::vector<std::string> lines = Lines(path);
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_NE(lines[0].find("\"output_length\": 0"), std::string::npos) << lines[0];
  sim::TraceReadOptions options;
  options.block_tokens = 16;
  auto trace = sim::ReadTrace(path, options);
  ASSERT_TRUE(trace.ok()) << trace.status().ToString();
  ASSERT_EQ(trace->requests.size(), 5u);
  for (size_t i = 1; i < trace->requests.size(); ++i) {
    EXPECT_GE(trace->requests[i].arrival_s, trace->requests[i - 1].arrival_s);
    EXPECT_EQ(trace->requests[i].prompt_tokens(), 84);
  }
  // Each later prompt finds the 64-token system prompt: 4 x 64 of 5 x 84.
  auto hits = sim::ReplayInfiniteCache(*trace, 16);
  ASSERT_TRUE(hits.ok()) << hits.status().ToString();
  EXPECT_EQ(hits->cached_tokens, 4 * 64);
  EXPECT_EQ(hits->prompt_tokens, 5 * 84);
}

TEST(TraceRecorderTest, BadArguments) {
  EXPECT_FALSE(TraceRecorder::Open(TempPath(), 0).ok());
  EXPECT_FALSE(TraceRecorder::Open("/nonexistent-dir/x.jsonl", 16).ok());
}

}  // namespace
}  // namespace radixlm::engine
