#include "server/metrics_text.h"

#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <set>
#include <sstream>

namespace radixlm::server {
namespace {

MetricsInput Input() {
  MetricsInput in;
  in.model_name = "tiny \"q\"";
  in.snapshot.pages_total = 100;
  in.snapshot.pages_free = 60;
  in.snapshot.pages_cached = 30;
  in.snapshot.pages_locked = 6;
  in.snapshot.pages_in_use = 4;
  in.snapshot.cache.match_tokens = 200;
  in.snapshot.cache.match_tokens_hit = 150;
  in.snapshot.prompt_tokens = 210;
  in.snapshot.requests_stop = 3;
  in.snapshot.requests_cancelled = 1;
  in.snapshot.phase_seconds[engine::kPhaseWait] = 2.5;
  in.snapshot.idle_seconds = 4;
  in.snapshot.device_seconds = 2.25;
  Histogram h(Histogram::LatencySeconds());
  for (double v : {0.0005, 0.003, 0.003, 0.2, 100.0}) h.Observe(v);
  in.ttft = h.Snapshot();
  Histogram mixed(Histogram::StepSeconds());
  for (double v : {0.0105, 0.031}) mixed.Observe(v);
  in.step_interval[engine::kStepMixed] = mixed.Snapshot();
  in.step_device[engine::kStepDecode] = Histogram(Histogram::StepSeconds()).Snapshot();
  in.step_device[engine::kStepMixed] = mixed.Snapshot();
  in.http_requests = {{200, 7}, {400, 2}};
  kvcache::PinStats pins;
  pins.pins = 3;
  pins.pages_pinned = 12;
  pins.pages_reserved = 2;
  pins.pages_by_owner = {{"key:ab", 10}, {"key:cd", 4}};
  in.pins = pins;
  in.pin_options.max_pages_per_owner = 25;
  in.pin_options.max_pages_total = 50;
  in.tree_summaries = 4;
  in.tree_shared = 9;
  in.tree_summary_seconds = 0.125;
  return in;
}

TEST(MetricsText, StepPhasesByName) {
  const std::string text = FormatMetrics(Input());
  const std::string model = R"(model_name="tiny \"q\"")";
  for (const char* phase : {"schedule", "launch", "process", "release", "deliver"}) {
    EXPECT_NE(
        text.find("radixlm:engine_phase_seconds_total{" + model + ",phase=\"" + phase + "\"} 0\n"),
        std::string::npos)
        << phase;
  }
  EXPECT_NE(text.find("radixlm:engine_phase_seconds_total{" + model + ",phase=\"wait\"} 2.5\n"),
            std::string::npos);
  EXPECT_NE(text.find("radixlm:engine_phase_seconds_total{" + model + ",phase=\"idle\"} 4\n"),
            std::string::npos);
  EXPECT_NE(text.find("radixlm:device_busy_seconds_total{" + model + "} 2.25\n"),
            std::string::npos);
}

// Step histograms by kind: the mixed steps' wall times fall in their buckets.
TEST(MetricsText, StepHistogramsByKind) {
  const std::string text = FormatMetrics(Input());
  const std::string model = R"(model_name="tiny \"q\"")";
  EXPECT_NE(text.find("# TYPE radixlm:step_interval_seconds histogram"), std::string::npos);
  EXPECT_NE(text.find("radixlm:step_interval_seconds_bucket{" + model +
                      ",kind=\"mixed\",le=\"0.01\"} 0\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("radixlm:step_interval_seconds_bucket{" + model +
                      ",kind=\"mixed\",le=\"0.012\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("radixlm:step_interval_seconds_count{" + model + ",kind=\"mixed\"} 2\n"),
            std::string::npos);
  EXPECT_NE(text.find("radixlm:step_device_seconds_count{" + model + ",kind=\"decode\"} 0\n"),
            std::string::npos);
  EXPECT_NE(text.find("radixlm:step_device_seconds_count{" + model + ",kind=\"prefill\"} 0\n"),
            std::string::npos);
}

TEST(MetricsText, WellFormedExposition) {
  const std::string text = FormatMetrics(Input());
  // Every line: a comment, or NAME{LABELS} VALUE.
  const std::regex sample(
      R"re(^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? (-?[0-9.e+-]+|\+Inf|-Inf|NaN)$)re");
  const std::regex help(R"re(^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .+$)re");
  const std::regex type(R"re(^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram)$)re");
  std::istringstream lines(text);
  std::set<std::string> typed;
  std::string line, last_help;
  int samples = 0;
  while (std::getline(lines, line)) {
    std::smatch m;
    if (line.rfind("# HELP", 0) == 0) {
      EXPECT_TRUE(std::regex_match(line, help)) << line;
      last_help = line;
    } else if (line.rfind("# TYPE", 0) == 0) {
      ASSERT_TRUE(std::regex_match(line, m, type)) << line;
      EXPECT_TRUE(typed.insert(m[1]).second) << "family twice: " << m[1];
      EXPECT_NE(last_help.find(m[1].str() + " "), std::string::npos)
          << "HELP before TYPE for " << m[1];
    } else {
      EXPECT_TRUE(std::regex_match(line, sample)) << line;
      ++samples;
    }
  }
  EXPECT_GT(samples, 40);
  for (const char* name : {"radixlm:num_requests_running",
                           "radixlm:num_requests_waiting",
                           "radixlm:kv_cache_usage_perc",
                           "radixlm:prefix_cache_queries_total",
                           "radixlm:prefix_cache_hits_total",
                           "radixlm:prefix_cache_hit_rate",
                           "radixlm:cache_pages",
                           "radixlm:cache_evictions_total",
                           "radixlm:cache_pages_evicted_total",
                           "radixlm:cache_cow_copies_total",
                           "radixlm:num_preemptions_total",
                           "radixlm:prompt_tokens_total",
                           "radixlm:prompt_tokens_cached_total",
                           "radixlm:generation_tokens_total",
                           "radixlm:request_success_total",
                           "radixlm:time_to_first_token_seconds",
                           "radixlm:inter_token_latency_seconds",
                           "radixlm:e2e_request_latency_seconds",
                           "radixlm:request_queue_time_seconds",
                           "radixlm:http_requests_total",
                           "radixlm:cache_pins",
                           "radixlm:cache_pinned_pages",
                           "radixlm:cache_pinned_pages_by_tenant",
                           "radixlm:cache_pinned_pages_budget",
                           "radixlm:cache_tree_summaries_total",
                           "radixlm:cache_tree_shared_total",
                           "radixlm:cache_tree_summary_seconds_total"}) {
    EXPECT_TRUE(typed.count(name)) << name;
  }
}

TEST(MetricsText, ValuesAndLabels) {
  const std::string text = FormatMetrics(Input());
  const std::string model = "model_name=\"tiny \\\"q\\\"\"";
  EXPECT_NE(text.find("radixlm:cache_pages{" + model + ",state=\"cached\"} 30\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("radixlm:prefix_cache_hit_rate{" + model + "} 0.75\n"), std::string::npos);
  EXPECT_NE(text.find("radixlm:kv_cache_usage_perc{" + model + "} 0.1\n"), std::string::npos);
  EXPECT_NE(text.find("radixlm:request_success_total{" + model + ",finished_reason=\"abort\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("radixlm:http_requests_total{code=\"400\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("radixlm:cache_pinned_pages{" + model + ",state=\"pinned\"} 12\n"),
            std::string::npos);
  EXPECT_NE(text.find("radixlm:cache_pinned_pages{" + model + ",state=\"reserved\"} 2\n"),
            std::string::npos);
  EXPECT_NE(text.find("radixlm:cache_pinned_pages_by_tenant{" + model + ",tenant=\"key:cd\"} 4\n"),
            std::string::npos);
  EXPECT_NE(text.find("radixlm:cache_pinned_pages_budget{" + model + ",scope=\"tenant\"} 25\n"),
            std::string::npos);
  EXPECT_NE(text.find("radixlm:cache_tree_summaries_total{" + model + "} 4\n"), std::string::npos);
  EXPECT_NE(text.find("radixlm:cache_tree_shared_total{" + model + "} 9\n"), std::string::npos);
  EXPECT_NE(text.find("radixlm:cache_tree_summary_seconds_total{" + model + "} 0.125\n"),
            std::string::npos);
  // Without a pin table (prefix caching off) no pin family appears.
  MetricsInput off = Input();
  off.pins.reset();
  EXPECT_EQ(FormatMetrics(off).find("pinned"), std::string::npos);
}

TEST(MetricsText, HistogramBucketsAreCumulative) {
  const std::string text = FormatMetrics(Input());
  std::istringstream lines(text);
  std::string line;
  std::vector<double> counts;
  std::vector<std::string> les;
  const std::regex bucket(
      R"re(^radixlm:time_to_first_token_seconds_bucket\{.*le="([^"]+)"\} (\S+)$)re");
  double count = -1, sum = -1;
  while (std::getline(lines, line)) {
    std::smatch m;
    if (std::regex_match(line, m, bucket)) {
      les.push_back(m[1]);
      counts.push_back(std::stod(m[2]));
    } else if (line.rfind("radixlm:time_to_first_token_seconds_count", 0) == 0) {
      count = std::stod(line.substr(line.rfind(' ') + 1));
    } else if (line.rfind("radixlm:time_to_first_token_seconds_sum", 0) == 0) {
      sum = std::stod(line.substr(line.rfind(' ') + 1));
    }
  }
  ASSERT_EQ(les.size(), Histogram::LatencySeconds().size() + 1);
  EXPECT_EQ(les.front(), "0.001");
  EXPECT_EQ(les.back(), "+Inf");
  for (size_t i = 1; i < counts.size(); ++i) EXPECT_GE(counts[i], counts[i - 1]);
  EXPECT_EQ(counts.front(), 1);  // 0.0005
  EXPECT_EQ(counts[2], 3);       // le=0.005: 0.0005 and twice 0.003
  EXPECT_EQ(counts.back(), 5);
  EXPECT_EQ(count, 5);
  EXPECT_NEAR(sum, 100.2065, 1e-9);
}

}  // namespace
}  // namespace radixlm::server
