#include "server/event_stream.h"

#include <algorithm>

#include "server/error.h"
#include "server/tool_call_parser.h"

namespace radixlm::server {

GenerationStream::GenerationStream(std::unique_ptr<Generation> generation,
                                   ResponseFormatter formatter, StreamSetup setup,
                                   std::atomic<int64_t>* active)
    : generation_(std::move(generation)),
      formatter_(formatter),
      setup_(std::move(setup)),
      active_(active),
      last_write_(std::chrono::steady_clock::now()) {
  if (active_ != nullptr) active_->fetch_add(1);
}

GenerationStream::~GenerationStream() {
  if (setup_.on_end) setup_.on_end(generation_->usage());
  generation_.reset();  // cancels what still runs
  if (active_ != nullptr) active_->fetch_sub(1);
}

void AppendEvent(std::string* out, const std::string& json) {
  out->append("data: ");
  out->append(json);
  out->append("\n\n");
}

ChatChoiceStream::ChatChoiceStream(int32_t index, const ResponseFormatter& formatter)
    : index_(index) {
  if (const ToolCallOptions* t = formatter.tool_calls())
    parser_ = std::make_unique<ToolCallParser>(*t->format, t->tool_names);
}
ChatChoiceStream::~ChatChoiceStream() = default;
ChatChoiceStream::ChatChoiceStream(ChatChoiceStream&&) noexcept = default;

void ChatChoiceStream::Add(const ResponseFormatter& formatter, const ResponseMeta& meta,
                           bool include_usage, std::string text,
                           std::vector<engine::LogprobEntry> logprobs, engine::FinishReason finish,
                           std::string* out) {
  ChoiceOutput c;
  c.index = index_;
  c.finish = finish;
  if (parser_ == nullptr) {
    c.text = std::move(text);
    c.logprobs = std::move(logprobs);
    if (!c.text.empty() || !c.logprobs.empty())
      AppendEvent(out, formatter.ChatChunk(meta, c, /*content_delta=*/true, include_usage));
  } else {
    ToolCallDelta delta;
    parser_->Add(text, &delta);
    if (finish != engine::FinishReason::kNone) parser_->Finish(&delta);
    // Every update's tokens are seen arriving: their log probabilities go out
    // now, on a content chunk ("" while the parser holds their text) or on the
    // tool-call chunk.
    if (!delta.content.empty() || (!logprobs.empty() && delta.calls.empty())) {
      c.text = std::move(delta.content);
      c.logprobs = std::move(logprobs);
      logprobs.clear();
      AppendEvent(out, formatter.ChatChunk(meta, c, /*content_delta=*/true, include_usage));
    }
    if (!delta.calls.empty()) {
      std::vector<ToolCallChunkPart> parts;
      for (ToolCallDelta::Call& call : delta.calls) {
        ToolCallChunkPart p;
        p.index = call.index;
        if (call.begins) {
          p.id = NewToolCallId();
          p.name = std::move(call.name);
        }
        p.arguments = std::move(call.arguments);
        parts.push_back(std::move(p));
      }
      AppendEvent(out, formatter.ChatToolCallChunk(meta, index_, parts, logprobs, include_usage));
    }
    c.text.clear();
    c.tool_calls_finish =
        FinishesWithToolCalls(finish, static_cast<size_t>(parser_->calls()), parser_->call_open());
  }
  if (finish != engine::FinishReason::kNone)
    AppendEvent(out, formatter.ChatChunk(meta, c, /*content_delta=*/false, include_usage));
}

void GenerationStream::Start(std::string* out) {
  started_ = true;
  const int32_t n = generation_->n();
  offsets_.assign(generation_->prompts() * static_cast<size_t>(n), 0);
  if (setup_.on_completed) whole_.resize(offsets_.size());
  for (size_t p = 0; p < generation_->prompts(); ++p) {
    for (int32_t s = 0; s < n; ++s) {
      const int32_t index = generation_->ChoiceIndex(p, s);
      if (setup_.chat) {
        AppendEvent(out, formatter_.ChatRoleChunk(setup_.meta, index, setup_.include_usage));
        chat_choices_.emplace_back(index, formatter_);
      }
      if (!whole_.empty()) whole_[static_cast<size_t>(index)].index = index;
    }
    // With prompt logprobs the echo waits for them (Next).
    if (!setup_.chat && !setup_.prompt_logprobs) Echo(p, nullptr, out);
  }
}

void GenerationStream::Echo(size_t p, const engine::RequestUpdate* update, std::string* out) {
  if (p >= setup_.echo.size() || setup_.echo[p].empty()) return;
  for (int32_t s = 0; s < generation_->n(); ++s) {
    const int32_t index = generation_->ChoiceIndex(p, s);
    ChoiceOutput c;
    c.index = index;
    c.prefix = setup_.echo[p];  // written as the chunk's text
    if (update != nullptr && p < setup_.first_tokens.size()) {
      c.prompt_first = setup_.first_tokens[p];
      c.prompt_logprobs = update->prompt_logprobs;
    }
    offsets_[static_cast<size_t>(index)] += static_cast<int64_t>(c.prefix.size());
    AppendEvent(out, formatter_.CompletionChunk(setup_.meta, c, setup_.include_usage));
    if (!whole_.empty()) {
      ChoiceOutput& w = whole_[static_cast<size_t>(index)];
      w.prefix = c.prefix;
      w.prompt_first = c.prompt_first;
      w.prompt_logprobs = std::move(c.prompt_logprobs);
    }
  }
}

void GenerationStream::Finish(std::string* out) {
  done_ = true;
  if (!generation_->error().ok()) {
    AppendEvent(out, ApiError::FromStatus(generation_->error()).Body());
  } else if (setup_.include_usage) {
    Usage usage = generation_->usage();
    usage.response_cache = setup_.response_cache;
    AppendEvent(out, formatter_.UsageChunk(setup_.meta, setup_.chat, usage));
  }
  out->append("data: [DONE]\n\n");
  if (!whole_.empty() && generation_->error().ok() &&
      std::all_of(whole_.begin(), whole_.end(), [](const ChoiceOutput& c) {
        return c.finish == engine::FinishReason::kStop || c.finish == engine::FinishReason::kLength;
      })) {
    setup_.on_completed(std::move(whole_), generation_->usage());
    whole_.clear();
  }
}

bool ReplayStream::Next(std::string* out, std::chrono::milliseconds) {
  if (done_) return false;
  done_ = true;
  for (const ChoiceOutput& whole : choices_) {
    ChoiceOutput c = whole;
    c.prefix.clear();
    if (setup_.chat) {
      AppendEvent(out, formatter_.ChatRoleChunk(setup_.meta, c.index, setup_.include_usage));
      ChatChoiceStream choice(c.index, formatter_);
      // A stored choice always has its finish reason (only finished ones are stored).
      choice.Add(formatter_, setup_.meta, setup_.include_usage, std::move(c.text),
                 std::move(c.logprobs), c.finish, out);
      continue;
    }
    if (!whole.prefix.empty()) {
      ChoiceOutput echo;
      echo.index = c.index;
      echo.text = whole.prefix;
      AppendEvent(out, formatter_.CompletionChunk(setup_.meta, echo, setup_.include_usage));
      c.text_offset = static_cast<int64_t>(whole.prefix.size());
    }
    AppendEvent(out, formatter_.CompletionChunk(setup_.meta, c, setup_.include_usage));
  }
  if (setup_.include_usage)
    AppendEvent(out, formatter_.UsageChunk(setup_.meta, setup_.chat, usage_));
  out->append("data: [DONE]\n\n");
  return true;
}

bool GenerationStream::Next(std::string* out, std::chrono::milliseconds wait) {
  if (done_) return false;
  const size_t before = out->size();
  if (!started_) Start(out);
  events_.clear();
  if (!generation_->finished()) generation_->Poll(&events_, wait);
  for (Generation::Event& e : events_) {
    // The prompt's logprobs come before (or with) its first tokens.
    if (setup_.prompt_logprobs && e.update.has_prompt_logprobs) Echo(e.prompt, &e.update, out);
    for (engine::SampleDelta& d : e.update.samples) {
      ChoiceOutput c;
      c.index = generation_->ChoiceIndex(e.prompt, d.index);
      c.text = std::move(d.text);
      c.logprobs = std::move(d.logprobs);
      c.finish = d.finish;
      if (!whole_.empty()) {
        ChoiceOutput& w = whole_[static_cast<size_t>(c.index)];
        w.text += c.text;
        w.logprobs.insert(w.logprobs.end(), c.logprobs.begin(), c.logprobs.end());
        if (c.finish != engine::FinishReason::kNone) w.finish = c.finish;
      }
      int64_t& offset = offsets_[static_cast<size_t>(c.index)];
      c.text_offset = offset;
      offset += static_cast<int64_t>(c.text.size());
      const bool news = !c.text.empty() || !c.logprobs.empty();
      if (setup_.chat) {
        chat_choices_[static_cast<size_t>(c.index)].Add(formatter_, setup_.meta,
                                                        setup_.include_usage, std::move(c.text),
                                                        std::move(c.logprobs), c.finish, out);
      } else if (news || c.finish != engine::FinishReason::kNone) {
        AppendEvent(out, formatter_.CompletionChunk(setup_.meta, c, setup_.include_usage));
      }
    }
  }
  if (generation_->finished() || !generation_->error().ok()) Finish(out);
  const auto now = std::chrono::steady_clock::now();
  if (out->size() > before) {
    last_write_ = now;
  } else if (now - last_write_ > std::chrono::seconds(5)) {
    out->append(": keep-alive\n\n");
    last_write_ = now;
  }
  return !done_;
}

}  // namespace radixlm::server
