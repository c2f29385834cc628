// /metrics: the engine's counters, gauges and latency histograms in Prometheus'
// text exposition format 0.0.4. Names follow vLLM's `vllm:` metrics with a
// `radixlm:` prefix where one exists (dashboards carry over by renaming), and
// every engine series has a model_name label as vLLM's do. Each family has its
// # HELP and # TYPE lines; histograms have cumulative `_bucket{le=...}` series
// ending at le="+Inf" (== _count), then `_sum` and `_count`.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "core/histogram.h"
#include "engine/engine.h"
#include "kvcache/pin_table.h"

namespace radixlm::respcache {
class ResponseCache;
class SemanticCache;
}  // namespace radixlm::respcache

namespace radixlm::server {

struct MetricsInput {
  std::string model_name;
  engine::EngineSnapshot snapshot;
  HistogramSnapshot ttft;
  HistogramSnapshot inter_token_latency;
  HistogramSnapshot e2e_latency;
  HistogramSnapshot queue_time;
  // By engine::StepKind (decode, mixed, prefill): device time and wall time a step.
  std::array<HistogramSnapshot, engine::kStepKinds> step_device;
  std::array<HistogramSnapshot, engine::kStepKinds> step_interval;
  std::map<int, int64_t> http_requests;                      // HTTP status -> responses
  const respcache::ResponseCache* response_cache = nullptr;  // null: off
  const respcache::SemanticCache* semantic_cache = nullptr;  // null: off
  // Pins (kvcache/pin_table.h); absent with prefix caching off.
  std::optional<kvcache::PinStats> pins;
  kvcache::PinOptions pin_options;
  // /v1/cache/tree (dashboard.h TreeSummaries): summaries made, answers
  // shared from an earlier one, and the step thread's seconds making them.
  int64_t tree_summaries = 0;
  int64_t tree_shared = 0;
  double tree_summary_seconds = 0;
};

std::string FormatMetrics(const MetricsInput& input);

// Builds exposition text one family at a time.
class PrometheusText {
 public:
  // `labels` is already formatted: `a="x",b="y"` (or empty).
  void Family(const std::string& name, const char* type, const char* help);
  void Sample(const std::string& name, const std::string& labels, double value);
  void Histogram(const std::string& name, const char* help, const std::string& labels,
                 const HistogramSnapshot& h);
  // One more labelled histogram of a family already declared.
  void HistogramSeries(const std::string& name, const std::string& labels,
                       const HistogramSnapshot& h);
  const std::string& str() const { return out_; }

  // `key="value"` with the value escaped (\\, \", \n).
  static std::string Label(const std::string& key, const std::string& value);

 private:
  std::string out_;
};

}  // namespace radixlm::server
