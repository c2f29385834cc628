// The figures of a `bench serve` run, from its per-request records: latency
// summaries (TTFT, TPOT, inter-token, end to end), throughput, failures by kind,
// the server-reported cached tokens next to the workload's ideal; printed as a
// table, written as JSON (every figure and every request) and drawn as SVG.
//
// Definitions (the same as vLLM's and SGLang's serving benchmarks):
//   TTFT  sending to the first chunk carrying a token
//   ITL   gaps between consecutive chunks carrying tokens
//   TPOT  (E2E - TTFT) / (output tokens - 1), per request with >= 2 tokens
//   E2E   sending to the end of the stream
// Percentiles interpolate linearly between the closest ranks (numpy's default).
// Throughputs count completed requests over the run's duration (first measured
// request sent to the last one finished). Input tokens are the server's usage
// where reported, else the tokens sent.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "loadgen/completion_stream.h"

namespace radixlm::loadgen {

// 0 for no values; q in [0, 1].
double Percentile(std::vector<double> values, double q);

struct LatencyStats {
  int64_t count = 0;
  double mean = 0, p50 = 0, p90 = 0, p99 = 0, min = 0, max = 0;
};
LatencyStats Summarize(const std::vector<double>& values);

struct RequestRecord {
  size_t index = 0;  // in the workload
  std::string session;
  bool sent = false;
  double scheduled_s = 0;    // when the arrival process released it, from the run's start
  double sent_s = 0;         // when it was sent, from the run's start
  int64_t prompt_units = 0;  // tokens (or words) sent
  int64_t ideal_cached_units = 0;
  int64_t max_tokens = 0;
  int64_t history_fallbacks = 0;
  StreamResult result;
};

// What the run was; echoed into the JSON and the table's header.
struct RunInfo {
  std::string label;
  std::string base_url;
  std::string model;
  std::string workload;          // a workload name, or "trace:FILE"
  std::string workload_options;  // the sizes, as text
  std::string prompt_format;     // "tokens" or "text"
  std::string endpoint;          // "completions" or "chat"
  std::string history;           // "server" or "generated"
  std::string arrivals;          // "concurrency", "poisson" or "trace"
  int64_t concurrency = 0;       // closed loop; or the in-flight cap of an open loop
  double request_rate = 0;
  double time_scale = 1;
  uint64_t seed = 0;
  int64_t warmup = 0;
  double timeout_s = 0;
  double max_duration_s = 0;
  std::string ideal_unit;    // "tokens" or "words"
  std::string prompts_hash;  // of every measured prompt as sent
  std::string started_at;    // UTC, ISO 8601
};

struct RunFigures {
  int64_t requests = 0;  // measured requests planned
  int64_t completed = 0;
  int64_t failed = 0;                       // every failure kind, cancelled included
  int64_t not_sent = 0;                     // the run ended first
  std::map<std::string, int64_t> failures;  // by FailureKindName
  std::map<std::string, std::vector<std::string>> failure_examples;  // a few messages per kind
  double duration_s = 0;
  int64_t input_tokens = 0, output_tokens = 0;
  double request_throughput = 0, input_throughput = 0, output_throughput = 0, total_throughput = 0;
  // Cached tokens over the input tokens of completed requests whose usage said
  // (-1 when no response reported cached tokens).
  int64_t cached_tokens = 0;
  int64_t cached_reported = 0;  // completed requests that reported them
  double cached_ratio = -1;
  // The infinite-cache ideal over the same completed requests, in ideal units.
  int64_t prompt_units = 0, ideal_cached_units = 0;
  double ideal_cached_ratio = 0;
  int64_t history_fallbacks = 0;
  LatencyStats ttft, tpot, itl, e2e;
  // Output tokens per second over the run, in bins: (bin middle s, tokens/s).
  std::vector<std::pair<double, double>> output_timeline;
};

RunFigures ComputeFigures(const std::vector<RequestRecord>& records, double duration_s);

void PrintSummary(const RunInfo& info, const RunFigures& figures, std::FILE* out);
std::string RunJson(const RunInfo& info, const RunFigures& figures,
                    const std::vector<RequestRecord>& records);
// TTFT CDF and output throughput over time.
std::string RunSvg(const RunInfo& info, const RunFigures& figures,
                   const std::vector<RequestRecord>& records);

}  // namespace radixlm::loadgen
