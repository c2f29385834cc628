// Workload generators: seeded, deterministic traces of the shapes prefix caching
// meets in production. `radixlm sim generate` writes them; the simulator and the
// load generator replay them.
//
//   chatbot                  shared system prompts picked by Zipf popularity, a
//                            unique question each
//   multi-turn               conversations whose prompt is the whole history,
//                            with think times between turns
//   doc-qa                   a few long documents, many questions on each
//   few-shot                 shared example blocks per task, a varying query
//   generated-shared-prefix  SGLang's benchmark: 64 groups x 16 prompts, a
//                            2,048-token system prompt, 128-token questions,
//                            256 output tokens, shuffled
//   tree-of-thought          branching reasoning: each step's prompt is the root
//                            plus the thoughts on its path
//   all-unique               nothing shared (the worst case)
//   agent                    tool-using sessions: a shared system prompt and
//                            tool definitions, each step's prompt the previous
//                            one plus the model's tool call, the tool's result
//                            and the next user turn
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "sim/trace.h"

namespace radixlm::sim {

// Zero means "the workload's default" (docs/TRACES.md lists them).
struct WorkloadOptions {
  std::string name;
  uint64_t seed = 1;
  int64_t requests = 0;         // total requests (or conversations x turns, ...)
  double rate = 0;              // Poisson arrivals per second; < 0: all at time 0
  int64_t groups = 0;           // system prompts, documents, tasks, conversations, trees
  int64_t system_tokens = 0;    // shared part: system prompt, document, examples, root
  int64_t question_tokens = 0;  // per-request part: question, query, user turn, thought
  int64_t output_tokens = 0;
  int64_t turns = 0;        // multi-turn: turns per conversation
  int64_t branching = 0;    // tree-of-thought: children per node
  int64_t depth = 0;        // tree-of-thought: levels below the root
  double zipf_s = 0;        // chatbot, doc-qa: popularity skew
  double think_time_s = 0;  // multi-turn: mean pause between turns
  Status Validate() const;
};

const std::vector<std::string>& WorkloadNames();
StatusOr<Trace> GenerateWorkload(const WorkloadOptions& options);

}  // namespace radixlm::sim
