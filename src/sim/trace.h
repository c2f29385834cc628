// Traces: the requests a simulation replays, in arrival order.
//
// A prompt is described either by explicit token ids or by segments: a run of
// tokens of named shared content (the same name always yields the same tokens, so
// "sys-3" is the same system prompt wherever it appears, and a shorter use is a
// prefix of a longer one), or a run of tokens unique to the request. Segments keep
// a million-request trace small and make sharing explicit; PromptBuilder turns
// them into tokens.
//
// File formats (JSON Lines, docs/TRACES.md):
//   radixlm:    {"arrival_ms", "session", "namespace", "output_tokens", "output_shared",
//                "prompt": [ids...] | "segments": [{"shared": NAME, "tokens": N} |
//                                                  {"unique": N}, ...]}
//   hash-block: {"timestamp", "input_length", "output_length", "hash_ids"} as
//               published with Mooncake (512-token blocks) and Alibaba Bailian
//               (16-token blocks); each hash id becomes shared content "h<id>".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "kvcache/types.h"

namespace radixlm::sim {

using kvcache::Token;

struct Segment {
  static constexpr uint32_t kUnique = UINT32_MAX;
  uint32_t content = kUnique;  // index into Trace::content_names, or kUnique
  int64_t tokens = 0;
};

struct TraceRequest {
  double arrival_s = 0;
  std::string session;
  std::string ns;
  int64_t output_tokens = 0;
  // Named content the output is (a conversation's answer, which the next turn's
  // prompt repeats), or Segment::kUnique for output seen nowhere else.
  uint32_t output_content = Segment::kUnique;
  std::vector<Segment> segments;  // empty when `tokens` holds the prompt
  std::vector<Token> tokens;
  int64_t prompt_tokens() const;
};

struct Trace {
  std::vector<TraceRequest> requests;
  std::vector<std::string> content_names;
  // Lines left out under skip_bad.
  int64_t skipped_lines = 0;

  // Index of `name` in content_names, added if new.
  uint32_t Intern(std::string_view name);
  Status Validate() const;  // arrival order, lengths, segment references
};

enum class TraceFormat { kAuto, kRadixlm, kHashBlock };

struct TraceReadOptions {
  TraceFormat format = TraceFormat::kAuto;  // auto: decided by the first record's fields
  int32_t block_tokens = 512;               // hash-block traces
  bool skip_bad = false;                    // count bad lines instead of failing
  Status Validate() const;
};

// Parses JSON Lines text; `name` labels errors ("trace.jsonl:12: ...").
StatusOr<Trace> ParseTrace(std::string_view text, std::string_view name,
                           const TraceReadOptions& options);
StatusOr<Trace> ReadTrace(const std::string& path, const TraceReadOptions& options);

// Writes the radixlm format.
std::string FormatTrace(const Trace& trace);
Status WriteTrace(const Trace& trace, const std::string& path);

}  // namespace radixlm::sim
