#include "loadgen/compare.h"

#include <gtest/gtest.h>

#include <cmath>

#include "loadgen/report.h"

namespace radixlm::loadgen {
namespace {

std::string RunText(const std::string& label, double ttft, double throughput, int64_t completed) {
  RunInfo info;
  info.label = label;
  info.workload = "generated-shared-prefix";
  info.prompts_hash = "00ff";
  RunFigures f;
  f.completed = completed;
  f.ttft.mean = f.ttft.p50 = f.ttft.p90 = f.ttft.p99 = ttft;
  f.request_throughput = throughput;
  f.cached_ratio = -1;  // not reported: null
  std::vector<RequestRecord> records(2);
  for (RequestRecord& r : records) {
    r.sent = true;
    r.result.ok = true;
    r.result.ttft_s = ttft;
  }
  return RunJson(info, f, records);
}

TEST(BenchCompareTest, RatiosAgainstTheFirst) {
  EXPECT_DOUBLE_EQ(CompareRatio(2, 1), 0.5);
  EXPECT_DOUBLE_EQ(CompareRatio(0, 0), 1);
  EXPECT_TRUE(std::isnan(CompareRatio(0, 3)));
  EXPECT_TRUE(std::isnan(CompareRatio(std::nan(""), 3)));
  EXPECT_TRUE(std::isnan(CompareRatio(3, std::nan(""))));
}

TEST(BenchCompareTest, ReadsRunsAndPrintsThemSideBySide) {
  auto a = ParseRunJson(RunText("cache", 0.2, 4, 64), "a.json");
  auto b = ParseRunJson(RunText("no cache", 0.8, 1, 64), "dir/b.json");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(a->label, "cache");
  EXPECT_DOUBLE_EQ(a->figures.at("ttft_s.p50"), 0.2);
  EXPECT_DOUBLE_EQ(a->figures.at("completed"), 64);
  EXPECT_TRUE(std::isnan(a->figures.at("cached_ratio")));
  EXPECT_EQ(a->ttft_s.size(), 2u);

  const std::string table = CompareTable({*a, *b});
  EXPECT_NE(table.find("TTFT mean (ms)"), std::string::npos) << table;
  EXPECT_NE(table.find("4.000x"), std::string::npos) << table;  // TTFT 0.8 / 0.2
  EXPECT_NE(table.find("0.250x"), std::string::npos) << table;  // throughput 1 / 4
  EXPECT_EQ(table.find("note:"), std::string::npos);            // same workload, same prompts

  const std::string json = CompareJson({*a, *b});
  EXPECT_NE(json.find("\"ratio_to_first\":{\"completed\":1,"), std::string::npos) << json;
  EXPECT_NE(json.find("\"ttft_s.mean\":4"), std::string::npos) << json;
  EXPECT_NE(json.find("\"cached_ratio\":null"), std::string::npos);
  EXPECT_NE(CompareSvg({*a, *b}).find("no cache"), std::string::npos);
}

TEST(BenchCompareTest, RefusesOtherFiles) {
  EXPECT_FALSE(ParseRunJson("not json", "x").ok());
  EXPECT_FALSE(ParseRunJson("{\"tool\": \"something else\"}", "x").ok());
  auto unlabeled = ParseRunJson("{\"tool\": \"radixlm bench serve\"}", "runs/cache-on.json");
  ASSERT_TRUE(unlabeled.ok());
  EXPECT_EQ(unlabeled->label, "cache-on.json");
  EXPECT_TRUE(std::isnan(unlabeled->figures.at("ttft_s.mean")));
}

}  // namespace
}  // namespace radixlm::loadgen
