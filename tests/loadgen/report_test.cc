#include "loadgen/report.h"

#include <gtest/gtest.h>

namespace radixlm::loadgen {
namespace {

TEST(PercentileTest, InterpolatesBetweenClosestRanksLikeNumpy) {
  // numpy.percentile([1, 2, 3, 4], [0, 50, 90, 99, 100]) = 1, 2.5, 3.7, 3.97, 4.
  const std::vector<double> v = {4, 1, 3, 2};
  EXPECT_DOUBLE_EQ(Percentile(v, 0), 1);
  EXPECT_DOUBLE_EQ(Percentile(v, 0.5), 2.5);
  EXPECT_DOUBLE_EQ(Percentile(v, 0.9), 3.7);
  EXPECT_DOUBLE_EQ(Percentile(v, 0.99), 3.97);
  EXPECT_DOUBLE_EQ(Percentile(v, 1), 4);
  EXPECT_DOUBLE_EQ(Percentile({7}, 0.99), 7);
  EXPECT_DOUBLE_EQ(Percentile({}, 0.5), 0);
  EXPECT_DOUBLE_EQ(Percentile(v, 2), 4);  // clamped
}

TEST(PercentileTest, SummaryIsOrdered) {
  std::vector<double> v;
  for (int i = 0; i < 1000; ++i) v.push_back((i * 7919) % 1000 / 10.0);
  const LatencyStats s = Summarize(v);
  EXPECT_EQ(s.count, 1000);
  EXPECT_DOUBLE_EQ(s.min, 0);
  EXPECT_DOUBLE_EQ(s.max, 99.9);
  EXPECT_NEAR(s.mean, 49.95, 1e-9);
  EXPECT_NEAR(s.p50, 49.95, 1e-9);
  EXPECT_NEAR(s.p99, 98.901, 1e-9);
  EXPECT_LE(s.p50, s.p90);
  EXPECT_LE(s.p90, s.p99);
  EXPECT_EQ(Summarize({}).count, 0);
}

RequestRecord Ok(double sent, double ttft, std::vector<double> times, int64_t prompt,
                 int64_t cached, int64_t ideal) {
  RequestRecord r;
  r.sent = true;
  r.sent_s = sent;
  r.prompt_units = prompt;
  r.ideal_cached_units = ideal;
  r.result.ok = true;
  r.result.ttft_s = ttft;
  r.result.token_times_s = times;
  r.result.chunk_tokens.assign(times.size(), 1);
  r.result.e2e_s = times.back() + 0.001;
  r.result.prompt_tokens = prompt;
  r.result.cached_tokens = cached;
  return r;
}

TEST(ComputeFiguresTest, CountsThroughputsRatiosAndLatencies) {
  std::vector<RequestRecord> records = {Ok(0, 0.1, {0.1, 0.2, 0.3}, 100, 50, 60),
                                        Ok(0.5, 0.2, {0.2, 0.4}, 200, 150, 150)};
  RequestRecord failed;
  failed.sent = true;
  failed.result.failure = FailureKind::kHttpStatus;
  failed.result.error = "HTTP 500: x";
  records.push_back(failed);
  records.push_back(failed);
  RequestRecord timeout = failed;
  timeout.result.failure = FailureKind::kTimeout;
  records.push_back(timeout);
  records.push_back(RequestRecord{});  // not sent
  records[1].result.cached_tokens = 150;

  const RunFigures f = ComputeFigures(records, 2.0);
  EXPECT_EQ(f.requests, 6);
  EXPECT_EQ(f.completed, 2);
  EXPECT_EQ(f.failed, 3);
  EXPECT_EQ(f.not_sent, 1);
  EXPECT_EQ(f.failures.at("http_status"), 2);
  EXPECT_EQ(f.failures.at("timeout"), 1);
  EXPECT_EQ(f.failure_examples.at("http_status"),
            std::vector<std::string>{"HTTP 500: x"});  // distinct messages
  EXPECT_EQ(f.input_tokens, 300);
  EXPECT_EQ(f.output_tokens, 5);
  EXPECT_DOUBLE_EQ(f.request_throughput, 1.0);
  EXPECT_DOUBLE_EQ(f.input_throughput, 150);
  EXPECT_DOUBLE_EQ(f.output_throughput, 2.5);
  EXPECT_DOUBLE_EQ(f.total_throughput, 152.5);
  EXPECT_DOUBLE_EQ(f.cached_ratio, 200.0 / 300);
  EXPECT_DOUBLE_EQ(f.ideal_cached_ratio, 210.0 / 300);
  EXPECT_EQ(f.ttft.count, 2);
  EXPECT_NEAR(f.ttft.mean, 0.15, 1e-12);
  EXPECT_EQ(f.itl.count, 3);  // 2 gaps + 1 gap
  EXPECT_NEAR(f.itl.max, 0.2, 1e-12);
  EXPECT_EQ(f.tpot.count, 2);
  EXPECT_NEAR(f.tpot.min, (0.301 - 0.1) / 2, 1e-12);
  // The timeline holds every delivered token.
  double tokens = 0;
  const double width = f.output_timeline[1].first - f.output_timeline[0].first;
  for (const auto& [t, rate] : f.output_timeline) tokens += rate * width;
  EXPECT_NEAR(tokens, 5, 1e-9);
}

TEST(ComputeFiguresTest, NoCachedTokensReportedIsNotZero) {
  std::vector<RequestRecord> records = {Ok(0, 0.1, {0.1}, 10, -1, 0)};
  const RunFigures f = ComputeFigures(records, 1);
  EXPECT_EQ(f.cached_reported, 0);
  EXPECT_LT(f.cached_ratio, 0);
  EXPECT_EQ(f.tpot.count, 0);  // one token: no TPOT
  RunInfo info;
  const std::string json = RunJson(info, f, records);
  EXPECT_NE(json.find("\"cached_ratio\":null"), std::string::npos);
  EXPECT_NE(
      json.find(
          "\"failures\":{\"connect\":0,\"timeout\":0,\"http_status\":0,\"malformed_stream\":0,"
          "\"stream_error\":0,\"cancelled\":0}"),
      std::string::npos);
}

}  // namespace
}  // namespace radixlm::loadgen
