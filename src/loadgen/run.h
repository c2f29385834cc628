// `radixlm bench serve`'s run: load on any OpenAI-compatible server, measured
// at the client, built around prefix reuse. run.cc's opening comment gives the
// run's steps.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"

namespace radixlm::loadgen {

struct BenchServeOptions {
  std::string base_url;
  std::string api_key;
  std::string model;
  // The requests: a simulator workload (default generated-shared-prefix), or a
  // trace file (radixlm or hash-block JSONL).
  std::string workload;
  std::string trace;
  int32_t block_tokens = 512;  // hash-block traces
  bool skip_bad = false;
  int64_t num_prompts = 0;  // 0: the whole workload or trace
  int64_t warmup = 1;
  // Arrivals: a closed loop of `concurrency` (8 when nothing else is given),
  // Poisson at `request_rate`, or the trace's own times (`timestamps`, the
  // default for --trace) scaled by `time_scale`.
  int64_t concurrency = 0;
  double request_rate = 0;
  bool timestamps = false;
  double time_scale = 1;
  int64_t max_concurrency = 0;  // open loop: requests in flight at most (0: 1024)
  uint64_t seed = 1;
  int64_t max_tokens = 0;  // 0: the workload's output length
  // Workload sizes; 0: the workload's defaults (docs/TRACES.md).
  int64_t groups = 0;
  int64_t prompts_per_group = 0;
  int64_t system_tokens = 0;
  int64_t question_tokens = 0;
  int64_t output_tokens = 0;
  int64_t turns = 0;
  double think_time_s = 0;
  double zipf_s = 0;
  int64_t branching = 0;
  int64_t depth = 0;
  int64_t vocab = 256;                   // token prompts: ids are mapped into [0, vocab)
  std::string prompt_format = "auto";    // tokens, text, auto
  std::string endpoint = "completions";  // completions, chat
  std::string history = "server";        // server, generated (multi-turn answers)
  bool no_ignore_eos = false;
  bool no_keep_alive = false;  // a new connection per request
  std::string flush_cache;     // a path to POST before the run (radixlm: /v1/cache/flush)
  double timeout_s = 600;      // per request
  double max_duration_s = 0;   // the whole run (0: unbounded)
  std::string json_out;
  std::string plot_out;
  std::string label;
};
// Load on an OpenAI-compatible server; figures measured at the client, printed
// (progress on stderr, the table on stdout) and written as --json / --plot.
// Returns 0, or 2 when some request did not complete (reported); an error
// (bad options, no server, an unwritable file) before or after the run.
StatusOr<int> RunBenchServe(const BenchServeOptions& options);

}  // namespace radixlm::loadgen
