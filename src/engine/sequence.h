// The engine's own records of a request while it runs (internal to the engine).
//
// A Request is what a client asked for; a Sequence is one sample's token stream:
// its tokens (prompt, then what it generated), how many of them have KV in its
// pages, and the pages themselves (kvcache::SequencePages). A request starts with
// one sequence; with n > 1 it forks into n when its prompt is computed, the
// samples sharing the prompt's pages.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "engine/engine.h"
#include "engine/request.h"
#include "engine/sampler.h"
#include "engine/stop_matcher.h"
#include "grammar/matcher.h"
#include "kvcache/sequence_pages.h"
#include "model/tokenizer.h"

namespace radixlm::engine {

struct Sequence {
  Sequence(const RequestOptions& options, const model::Tokenizer& tokenizer, int32_t index)
      : index(index),
        tokens(options.prompt),
        sampler(options.sampling, static_cast<uint64_t>(index)),
        decoder(tokenizer, options.skip_special_tokens, options.keep_special_tokens),
        stop(options.stop.stop, options.stop.include_stop_str_in_output) {
    news.index = index;
    if (options.grammar != nullptr) matcher = std::make_unique<grammar::Matcher>(options.grammar);
  }

  int32_t index;
  std::vector<int32_t> tokens;  // prompt + generated
  // The tiers below the device: hashes of the full pages of `tokens` so far
  // (the prompt's taken from Request::prompt_hashes), and how many of those
  // pages were offered to the tiers (KvTiers::Use).
  std::vector<kvcache::BlockHash> block_hashes;
  int64_t pages_offered = 0;
  int64_t computed = 0;  // tokens whose K and V are in `pages`
  // Sampled tokens of steps launched and not yet finished (overlapped
  // scheduling): 0, or 1 while the step in flight samples this sequence's
  // next token, which is then its choice `future_choice` of that step.
  int64_t future = 0;
  int32_t future_choice = -1;
  std::unique_ptr<kvcache::SequencePages> pages;  // null while waiting
  Sampler sampler;
  model::IncrementalDecoder decoder;
  StopMatcher stop;
  // Constrained decoding: where the generated tokens stand in the request's
  // grammar (null: unconstrained).
  std::unique_ptr<grammar::Matcher> matcher;
  int64_t generated = 0;
  FinishReason finish = FinishReason::kNone;
  SampleDelta news;  // since the last report
  bool has_news = false;

  bool finished() const { return finish != FinishReason::kNone; }
  // Tokens still to compute before the next sample (>= 1 while running), the
  // one in flight included.
  int64_t pending() const { return static_cast<int64_t>(tokens.size()) + future - computed; }
};

struct Request {
  uint64_t id = 0;
  RequestOptions options;
  std::shared_ptr<RequestHandle> handle;
  std::vector<std::unique_ptr<Sequence>> sequences;  // 1, or n once forked
  // n > 1, in the step that samples the prompt's last row on the backend:
  // samples 1..n-1, made for their first draws; the fork moves them into
  // `sequences` with pages.
  std::vector<std::unique_ptr<Sequence>> forks;
  bool forked = false;
  int64_t arrival_ns = 0;
  int64_t queued_ns = 0;    // when it last entered the waiting queue
  int64_t admitted_ns = 0;  // first admission
  int64_t first_token_ns = 0;
  int64_t last_token_ns = 0;
  int64_t cached_tokens = -1;       // prompt tokens from the cache at first admission
  int64_t host_cached_tokens = 0;   // of which loaded from the host tier then
  int64_t store_cached_tokens = 0;  // of those, brought to the host from the store tier
  bool store_checked = false;       // the store was asked for the prompt's pages
  // Chained hashes of the prompt's full pages (kvcache/block_hash.h), made when
  // the tiers below the device first need them.
  std::vector<kvcache::BlockHash> prompt_hashes;
  int64_t admit_order = 0;  // larger: admitted more recently
  int64_t preemptions = 0;
  int64_t peek = 0;                 // scratch: cached prefix length while ranking
  kvcache::PrefixMemo prefix_memo;  // where ranking's last walk of the prompt ended
  // Prompt logprobs: the prompt positions whose rows have given the figures of
  // the token after them ([0, prompt_rows_done)), the entries so far, and
  // whether they were reported.
  int64_t prompt_rows_done = 0;
  std::vector<LogprobEntry> prompt_logprobs;
  bool prompt_logprobs_reported = false;
  int64_t completion_tokens = 0;
  std::vector<float> hidden_sum;  // embed requests: summed final hidden states
  int64_t in_flight = 0;          // items of launched steps not yet finished: kept until 0
  Status error;                   // a failed step's, reported with the finish
  // Constrained decoding: the tokens that end a sample, allowed once its value
  // is complete (EOS unless ignore_eos, and stop_token_ids).
  std::vector<int32_t> end_tokens;

  int64_t prompt_len() const { return static_cast<int64_t>(options.prompt.size()); }
  // Prompt rows still to compute for prompt logprobs.
  bool wants_prompt_rows() const {
    return options.prompt_logprobs >= 0 && prompt_rows_done < prompt_len() - 1;
  }
  // Tokens of `seq` the prefix cache may serve: all but the last (whose row
  // gives the next sample), none for an embedding (it needs every hidden
  // state), and none past the prompt rows still to compute.
  int64_t MatchLimit(const Sequence& seq) const {
    if (options.embed) return 0;
    const int64_t limit = static_cast<int64_t>(seq.tokens.size()) - 1;
    return wants_prompt_rows() ? std::min(limit, prompt_rows_done) : limit;
  }
  // Whether the end of the prompt is sampled (not an embedding, not max_tokens 0).
  bool samples() const { return !options.embed && options.stop.max_tokens > 0; }
  int64_t live_sequences() const {
    int64_t n = 0;
    for (const auto& s : sequences) n += !s->finished();
    return n;
  }
  // Sequences it runs once forked.
  int64_t width() const { return forked ? live_sequences() : options.n; }
  bool finished() const { return live_sequences() == 0; }
};

}  // namespace radixlm::engine
