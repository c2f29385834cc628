// What a client asks the engine for, and what the engine sends back.
//
// A request carries a tokenized prompt and asks for `n` samples (independent
// continuations sharing the prompt's KV pages). The engine reports progress as
// RequestUpdate records through the request's RequestHandle (engine.h): new tokens
// and text per sample, their log probabilities when asked, and a finish reason per
// sample when it ends.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "engine/sampler.h"
#include "kvcache/sequence_pages.h"

namespace radixlm::grammar {
class Grammar;
}

namespace radixlm::engine {

// When a sample ends (besides the model's end-of-sequence tokens).
struct StopConditions {
  // Generated tokens, >= 0. 0 (with n 1): the prompt is computed (for its
  // prompt logprobs) and cached, nothing is sampled; the sample finishes with
  // kLength.
  int64_t max_tokens = 16;
  std::vector<std::string> stop;        // text that ends a sample (not part of the output)
  std::vector<int32_t> stop_token_ids;  // tokens that end a sample (part of the output ids)
  bool ignore_eos = false;              // keep going past the model's EOS tokens
  bool include_stop_str_in_output = false;
};

struct RequestOptions {
  std::vector<int32_t> prompt;  // at least one token
  // Prefix-cache namespace: prompts only ever hit prefixes cached under the same one.
  std::string ns;
  SamplingParams sampling;
  StopConditions stop;
  int32_t n = 1;          // samples; sample i draws with the seed's i-th stream
  int32_t logprobs = -1;  // -1: none; k >= 0: each token's log probability and the top k
  // Prompt log probabilities (echo with logprobs): -1 none; k >= 0: the log
  // probability of every prompt token after the first, and the top k at its
  // position (RequestUpdate::prompt_logprobs). Cached prefixes hold K and V,
  // not logits, so such a request matches nothing in the prefix cache until
  // its prompt's figures are in: every prompt token is computed (its pages
  // still go into the cache) and cached_tokens reports 0. Needs a backend that
  // chooses tokens (Backend::chooses_tokens: the figures are computed where
  // the logits are).
  int32_t prompt_logprobs = -1;
  // Decode special tokens into the text (false drops them, as OpenAI servers do).
  bool skip_special_tokens = true;
  // Special tokens decoded into the text even with skip_special_tokens (the
  // markers a tool-call parser reads, such as <|python_tag|>).
  std::vector<int32_t> keep_special_tokens;
  // An embedding instead of a generation: every prompt token is computed (cached
  // prefixes hold K and V, not hidden states, so none is matched; the computed
  // pages still go into the prefix cache), nothing is sampled, and the final
  // update carries the mean of the final hidden states (after the final norm)
  // scaled to unit length. n must be 1; sampling, stop and logprobs are ignored.
  bool embed = false;
  // What the prompt's cache entries are kept for (kvcache/sequence_pages.h): a
  // retention priority for the `priority` eviction policy, and pins on
  // prefixes of the prompt (tickets from Engine::pins()->Reserve).
  kvcache::Retention retention;
  // Constrained decoding (grammar/grammar.h, compiled for the engine's
  // vocabulary): every sample writes only what the grammar allows, token by
  // token (a mask applied to the logits before the choice). End tokens (EOS
  // unless ignore_eos, stop_token_ids) are allowed only once the value is
  // complete; a sample whose value can take nothing more finishes with kStop at
  // once; the token budget (max_tokens and the context) is spent so that the
  // value completes within it where its shortest completion fits. Null:
  // unconstrained (exactly the tokens the engine chose before grammars existed).
  std::shared_ptr<const grammar::Grammar> grammar;
};

enum class FinishReason {
  kNone,       // still running
  kStop,       // EOS, a stop token or a stop string
  kLength,     // max_tokens or the model's context
  kCancelled,  // the client went away or the server shut down
  kError,      // see RequestUpdate::error
};
const char* FinishReasonName(FinishReason reason);  // "stop", "length", "cancelled", "error"

// What happened to one sample since the previous update.
struct SampleDelta {
  int32_t index = 0;
  std::vector<int32_t> tokens;
  // Text completed by those tokens. Text that may begin a stop string is held
  // back until it is known not to; a stop string and what follows it never appear
  // (unless include_stop_str_in_output).
  std::string text;
  std::vector<LogprobEntry> logprobs;  // one per token when logprobs >= 0
  FinishReason finish = FinishReason::kNone;
  // With finish == kStop: the stop string matched, or empty for a token.
  std::string stop_string;
  int32_t stop_token = -1;  // the EOS or stop token that ended it, else -1
};

struct RequestUpdate {
  std::vector<SampleDelta> samples;  // only samples with news, in index order
  // Known once the prompt has been matched against the prefix cache.
  int64_t prompt_tokens = 0;
  int64_t cached_tokens = 0;        // prompt tokens served from the prefix cache
  int64_t host_cached_tokens = 0;   // of which loaded from the host tier (kv_tiers.h)
  int64_t store_cached_tokens = 0;  // of those, from the store tier below the host
  std::string store;                // the store tier: "disk", "redis", or "" (none)
  bool tiered = false;              // the engine has tiers below the device
  int64_t completion_tokens = 0;    // all samples, so far
  bool finished = false;            // every sample has finished; no more updates
  // Prompt logprobs (RequestOptions::prompt_logprobs), in one update once the
  // whole prompt's are known (before or with its first tokens): has_prompt_logprobs
  // set, and the entry of prompt token i + 1 at i (the first token has none).
  bool has_prompt_logprobs = false;
  std::vector<LogprobEntry> prompt_logprobs;
  Status error;                  // set when the request failed as a whole
  std::vector<float> embedding;  // embed requests: in the final update, hidden_size floats
};

}  // namespace radixlm::engine
