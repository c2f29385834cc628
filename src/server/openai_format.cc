#include "server/openai_format.h"

#include <openssl/evp.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <random>

#include "core/json_writer.h"
#include "model/tokenizer.h"
#include "server/tool_call_parser.h"

namespace radixlm::server {

std::string NewResponseId(bool chat) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char kHex[] = "0123456789abcdef";
  std::string id = chat ? "chatcmpl-" : "cmpl-";
  for (int word = 0; word < 2; ++word) {
    uint64_t bits = rng();
    for (int i = 0; i < 16; ++i, bits >>= 4) id += kHex[bits & 15];
  }
  return id;
}

std::string NewToolCallId() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char kHex[] = "0123456789abcdef";
  std::string id = "call_";
  uint64_t bits = rng();
  for (int i = 0; i < 24; ++i, bits >>= 4) {
    if (i == 16) bits = rng();
    id += kHex[bits & 15];
  }
  return id;
}

bool FinishesWithToolCalls(engine::FinishReason reason, size_t calls, bool call_open) {
  return calls > 0 && !call_open &&
         (reason == engine::FinishReason::kStop || reason == engine::FinishReason::kLength);
}

const char* FinishReasonText(engine::FinishReason reason) {
  switch (reason) {
    case engine::FinishReason::kNone:
      return nullptr;
    case engine::FinishReason::kStop:
      return "stop";
    case engine::FinishReason::kLength:
      return "length";
    case engine::FinishReason::kCancelled:
      return "abort";
    case engine::FinishReason::kError:
      return "error";
  }
  return nullptr;
}

namespace {

double Logprob(float lp) { return std::isfinite(lp) ? static_cast<double>(lp) : -9999.0; }

std::string TokenString(const model::Tokenizer* tokenizer, bool as_id, int32_t id) {
  if (as_id) return "token_id:" + std::to_string(id);
  if (tokenizer == nullptr) return {};
  const int32_t ids[] = {id};
  return tokenizer->Decode(ids, /*skip_special_tokens=*/false);
}

void WriteFinish(JsonWriter& w, engine::FinishReason reason, bool tool_calls = false) {
  w.Key("finish_reason");
  if (tool_calls) {
    w.String("tool_calls");
  } else if (const char* text = FinishReasonText(reason)) {
    w.String(text);
  } else {
    w.Null();
  }
}

void WriteHead(JsonWriter& w, const ResponseMeta& meta, const char* object) {
  w.Key("id");
  w.String(meta.id);
  w.Key("object");
  w.String(object);
  w.Key("created");
  w.Int(meta.created);
  w.Key("model");
  w.String(meta.model);
}

void WriteUsage(JsonWriter& w, const Usage& u) {
  w.Key("usage");
  w.BeginObject();
  w.Key("prompt_tokens");
  w.Int(u.prompt_tokens);
  w.Key("completion_tokens");
  w.Int(u.completion_tokens);
  w.Key("total_tokens");
  w.Int(u.prompt_tokens + u.completion_tokens);
  w.Key("prompt_tokens_details");
  w.BeginObject();
  w.Key("cached_tokens");
  w.Int(u.cached_tokens);
  w.EndObject();
  if (u.tiered) {
    w.Key("cached_tokens_by_tier");
    w.BeginObject();
    w.Key("device");
    w.Int(u.cached_tokens - u.host_cached_tokens);
    w.Key("host");
    w.Int(u.host_cached_tokens - u.store_cached_tokens);
    if (!u.store.empty()) {
      w.Key(u.store);
      w.Int(u.store_cached_tokens);
    }
    w.EndObject();
  }
  if (!u.response_cache.empty()) {
    w.Key("response_cache");
    w.BeginObject();
    w.Key("hit");
    w.Bool(u.response_cache != "miss");
    if (u.response_cache != "miss") {
      w.Key("layer");
      w.String(u.response_cache);
    }
    if (u.similarity >= 0) {
      w.Key("similarity");
      w.Double(u.similarity);
    }
    w.EndObject();
  }
  w.EndObject();
}

void WriteBytes(JsonWriter& w, const model::Tokenizer* tokenizer, int32_t id) {
  w.Key("bytes");
  w.BeginArray();
  if (tokenizer != nullptr) {
    for (char c : tokenizer->TokenBytes(id)) w.Int(static_cast<uint8_t>(c));
  }
  w.EndArray();
}

void WriteCompletionLogprobs(JsonWriter& w, const model::Tokenizer* tokenizer, bool as_id,
                             const ChoiceOutput& c) {
  w.Key("logprobs");
  w.BeginObject();
  // Every token in order: the prompt's (echo with logprobs; the first has no
  // entry), then the generated ones.
  struct Token {
    int32_t id;
    const engine::LogprobEntry* entry;  // null: written as null
  };
  std::vector<Token> tokens;
  const size_t prompt = c.prompt_first >= 0 ? 1 + c.prompt_logprobs.size() : 0;
  tokens.reserve(prompt + c.logprobs.size());
  if (c.prompt_first >= 0) tokens.push_back({c.prompt_first, nullptr});
  for (const engine::LogprobEntry& e : c.prompt_logprobs) tokens.push_back({e.token, &e});
  for (const engine::LogprobEntry& e : c.logprobs) tokens.push_back({e.token, &e});
  // Offsets count the tokens' text, also where they are named by id.
  std::vector<std::string> texts;
  texts.reserve(tokens.size());
  for (const Token& t : tokens) texts.push_back(TokenString(tokenizer, false, t.id));
  w.Key("tokens");
  w.BeginArray();
  for (size_t i = 0; i < tokens.size(); ++i)
    w.String(as_id ? TokenString(tokenizer, true, tokens[i].id) : texts[i]);
  w.EndArray();
  w.Key("token_logprobs");
  w.BeginArray();
  for (const Token& t : tokens) {
    if (t.entry == nullptr) {
      w.Null();
    } else {
      w.Double(Logprob(t.entry->logprob));
    }
  }
  w.EndArray();
  w.Key("top_logprobs");
  w.BeginArray();
  for (const Token& t : tokens) {
    if (t.entry == nullptr) {
      w.Null();
      continue;
    }
    const engine::LogprobEntry& e = *t.entry;
    w.BeginObject();
    if (e.top.empty()) {
      w.Key(TokenString(tokenizer, as_id, e.token));
      w.Double(Logprob(e.logprob));
    }
    for (const engine::TokenLogprob& top : e.top) {
      w.Key(TokenString(tokenizer, as_id, top.token));
      w.Double(Logprob(top.logprob));
    }
    w.EndObject();
  }
  w.EndArray();
  w.Key("text_offset");
  w.BeginArray();
  // The prompt's tokens end where the echoed prompt does: laid back from
  // there, so text the prompt lacks (a BOS the server added) sits at its start.
  const int64_t prompt_end = c.text_offset + static_cast<int64_t>(c.prefix.size());
  int64_t before_end = 0;  // text of prompt tokens i.. to the end
  for (size_t i = 0; i < prompt; ++i) before_end += static_cast<int64_t>(texts[i].size());
  int64_t offset = prompt_end;
  for (size_t i = 0; i < texts.size(); ++i) {
    if (i < prompt) {
      w.Int(std::max(c.text_offset, prompt_end - before_end));
      before_end -= static_cast<int64_t>(texts[i].size());
      continue;
    }
    w.Int(offset);
    offset += static_cast<int64_t>(texts[i].size());
  }
  w.EndArray();
  w.EndObject();
}

void WriteChatLogprobs(JsonWriter& w, const model::Tokenizer* tokenizer, bool as_id,
                       const ChoiceOutput& c) {
  w.Key("logprobs");
  w.BeginObject();
  w.Key("content");
  w.BeginArray();
  for (const engine::LogprobEntry& e : c.logprobs) {
    w.BeginObject();
    w.Key("token");
    w.String(TokenString(tokenizer, as_id, e.token));
    w.Key("logprob");
    w.Double(Logprob(e.logprob));
    WriteBytes(w, tokenizer, e.token);
    w.Key("top_logprobs");
    w.BeginArray();
    for (const engine::TokenLogprob& t : e.top) {
      w.BeginObject();
      w.Key("token");
      w.String(TokenString(tokenizer, as_id, t.token));
      w.Key("logprob");
      w.Double(Logprob(t.logprob));
      WriteBytes(w, tokenizer, t.token);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.Key("refusal");
  w.Null();
  w.EndObject();
}

// One choice of a completion body or chunk: index, text, logprobs (null when
// not asked for), finish_reason.
void WriteCompletionChoice(JsonWriter& w, const model::Tokenizer* tokenizer, bool as_id,
                           bool logprobs, const ChoiceOutput& c) {
  w.BeginObject();
  w.Key("index");
  w.Int(c.index);
  w.Key("text");
  w.String(c.prefix + c.text);
  if (logprobs) {
    WriteCompletionLogprobs(w, tokenizer, as_id, c);
  } else {
    w.Key("logprobs");
    w.Null();
  }
  WriteFinish(w, c.finish);
  w.EndObject();
}

}  // namespace

std::string ResponseFormatter::Completion(const ResponseMeta& meta,
                                          std::span<const ChoiceOutput> choices,
                                          const Usage& usage) const {
  JsonWriter w;
  w.BeginObject();
  WriteHead(w, meta, "text_completion");
  w.Key("choices");
  w.BeginArray();
  for (const ChoiceOutput& c : choices)
    WriteCompletionChoice(w, tokenizer_, tokens_as_ids_, logprobs_, c);
  w.EndArray();
  WriteUsage(w, usage);
  w.EndObject();
  return w.str();
}

std::string ResponseFormatter::Chat(const ResponseMeta& meta, std::span<const ChoiceOutput> choices,
                                    const Usage& usage) const {
  JsonWriter w;
  w.BeginObject();
  WriteHead(w, meta, "chat.completion");
  w.Key("choices");
  w.BeginArray();
  for (const ChoiceOutput& c : choices) {
    w.BeginObject();
    w.Key("index");
    w.Int(c.index);
    w.Key("message");
    w.BeginObject();
    w.Key("role");
    w.String("assistant");
    ParsedToolCalls parsed;
    if (tool_calls_ != nullptr) {
      parsed = ParseToolCalls(*tool_calls_->format, tool_calls_->tool_names, c.prefix + c.text);
    } else {
      parsed.content = c.prefix + c.text;
    }
    w.Key("content");
    if (parsed.calls.empty() || !parsed.content.empty()) {
      w.String(parsed.content);
    } else {
      w.Null();
    }
    w.Key("refusal");
    w.Null();
    if (!parsed.calls.empty()) {
      w.Key("tool_calls");
      w.BeginArray();
      for (const ToolCallFormat::Call& call : parsed.calls) {
        w.BeginObject();
        w.Key("id");
        w.String(NewToolCallId());
        w.Key("type");
        w.String("function");
        w.Key("function");
        w.BeginObject();
        w.Key("name");
        w.String(call.name);
        w.Key("arguments");
        w.String(call.arguments);
        w.EndObject();
        w.EndObject();
      }
      w.EndArray();
    }
    w.EndObject();
    if (logprobs_) {
      WriteChatLogprobs(w, tokenizer_, tokens_as_ids_, c);
    } else {
      w.Key("logprobs");
      w.Null();
    }
    WriteFinish(w, c.finish,
                FinishesWithToolCalls(c.finish, parsed.calls.size(), parsed.call_open));
    w.EndObject();
  }
  w.EndArray();
  WriteUsage(w, usage);
  w.EndObject();
  return w.str();
}

std::string ResponseFormatter::CompletionChunk(const ResponseMeta& meta, const ChoiceOutput& c,
                                               bool include_usage) const {
  JsonWriter w;
  w.BeginObject();
  WriteHead(w, meta, "text_completion");
  w.Key("choices");
  w.BeginArray();
  WriteCompletionChoice(w, tokenizer_, tokens_as_ids_, logprobs_, c);
  w.EndArray();
  if (include_usage) {
    w.Key("usage");
    w.Null();
  }
  w.EndObject();
  return w.str();
}

std::string ResponseFormatter::ChatRoleChunk(const ResponseMeta& meta, int32_t index,
                                             bool include_usage) const {
  JsonWriter w;
  w.BeginObject();
  WriteHead(w, meta, "chat.completion.chunk");
  w.Key("choices");
  w.BeginArray();
  w.BeginObject();
  w.Key("index");
  w.Int(index);
  w.Key("delta");
  w.BeginObject();
  w.Key("role");
  w.String("assistant");
  w.Key("content");
  w.String("");
  w.EndObject();
  w.Key("logprobs");
  w.Null();
  w.Key("finish_reason");
  w.Null();
  w.EndObject();
  w.EndArray();
  if (include_usage) {
    w.Key("usage");
    w.Null();
  }
  w.EndObject();
  return w.str();
}

std::string ResponseFormatter::ChatChunk(const ResponseMeta& meta, const ChoiceOutput& c,
                                         bool content_delta, bool include_usage) const {
  JsonWriter w;
  w.BeginObject();
  WriteHead(w, meta, "chat.completion.chunk");
  w.Key("choices");
  w.BeginArray();
  w.BeginObject();
  w.Key("index");
  w.Int(c.index);
  w.Key("delta");
  w.BeginObject();
  if (content_delta) {
    w.Key("content");
    w.String(c.prefix + c.text);
  }
  w.EndObject();
  if (content_delta && logprobs_) {
    WriteChatLogprobs(w, tokenizer_, tokens_as_ids_, c);
  } else {
    w.Key("logprobs");
    w.Null();
  }
  WriteFinish(w, content_delta ? engine::FinishReason::kNone : c.finish,
              !content_delta && c.tool_calls_finish);
  w.EndObject();
  w.EndArray();
  if (include_usage) {
    w.Key("usage");
    w.Null();
  }
  w.EndObject();
  return w.str();
}

std::string ResponseFormatter::ChatToolCallChunk(const ResponseMeta& meta, int32_t index,
                                                 std::span<const ToolCallChunkPart> parts,
                                                 std::span<const engine::LogprobEntry> logprobs,
                                                 bool include_usage) const {
  JsonWriter w;
  w.BeginObject();
  WriteHead(w, meta, "chat.completion.chunk");
  w.Key("choices");
  w.BeginArray();
  w.BeginObject();
  w.Key("index");
  w.Int(index);
  w.Key("delta");
  w.BeginObject();
  w.Key("tool_calls");
  w.BeginArray();
  for (const ToolCallChunkPart& p : parts) {
    w.BeginObject();
    w.Key("index");
    w.Int(p.index);
    if (!p.id.empty()) {
      w.Key("id");
      w.String(p.id);
      w.Key("type");
      w.String("function");
    }
    w.Key("function");
    w.BeginObject();
    if (!p.id.empty()) {
      w.Key("name");
      w.String(p.name);
    }
    w.Key("arguments");
    w.String(p.arguments);
    w.EndObject();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  if (logprobs_) {
    ChoiceOutput c;
    c.logprobs.assign(logprobs.begin(), logprobs.end());
    WriteChatLogprobs(w, tokenizer_, tokens_as_ids_, c);
  } else {
    w.Key("logprobs");
    w.Null();
  }
  WriteFinish(w, engine::FinishReason::kNone);
  w.EndObject();
  w.EndArray();
  if (include_usage) {
    w.Key("usage");
    w.Null();
  }
  w.EndObject();
  return w.str();
}

std::string ResponseFormatter::UsageChunk(const ResponseMeta& meta, bool chat,
                                          const Usage& usage) const {
  JsonWriter w;
  w.BeginObject();
  WriteHead(w, meta, chat ? "chat.completion.chunk" : "text_completion");
  w.Key("choices");
  w.BeginArray();
  w.EndArray();
  WriteUsage(w, usage);
  w.EndObject();
  return w.str();
}

std::string FormatModelList(std::string_view model, int64_t created, int64_t max_model_len) {
  JsonWriter w;
  w.BeginObject();
  w.Key("object");
  w.String("list");
  w.Key("data");
  w.BeginArray();
  w.BeginObject();
  w.Key("id");
  w.String(model);
  w.Key("object");
  w.String("model");
  w.Key("created");
  w.Int(created);
  w.Key("owned_by");
  w.String("radixlm");
  w.Key("max_model_len");
  w.Int(max_model_len);
  w.EndObject();
  w.EndArray();
  w.EndObject();
  return w.str();
}

std::string FormatEmbeddings(std::string_view model, std::span<const std::vector<float>> embeddings,
                             bool base64, int64_t prompt_tokens) {
  JsonWriter w;
  w.BeginObject();
  w.Key("object");
  w.String("list");
  w.Key("data");
  w.BeginArray();
  std::string encoded;
  for (size_t i = 0; i < embeddings.size(); ++i) {
    const std::vector<float>& e = embeddings[i];
    w.BeginObject();
    w.Key("object");
    w.String("embedding");
    w.Key("index");
    w.Int(static_cast<int64_t>(i));
    w.Key("embedding");
    if (base64) {
      static_assert(std::endian::native == std::endian::little,
                    "base64 embeddings are little-endian F32");
      const size_t bytes = e.size() * sizeof(float);
      encoded.resize(4 * ((bytes + 2) / 3) + 1);
      const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(encoded.data()),
                                    reinterpret_cast<const unsigned char*>(e.data()),
                                    static_cast<int>(bytes));
      w.String(std::string_view(encoded.data(), static_cast<size_t>(n)));
    } else {
      w.BeginArray();
      for (float x : e) w.Float(x);
      w.EndArray();
    }
    w.EndObject();
  }
  w.EndArray();
  w.Key("model");
  w.String(model);
  w.Key("usage");
  w.BeginObject();
  w.Key("prompt_tokens");
  w.Int(prompt_tokens);
  w.Key("total_tokens");
  w.Int(prompt_tokens);
  w.EndObject();
  w.EndObject();
  return w.str();
}

}  // namespace radixlm::server
