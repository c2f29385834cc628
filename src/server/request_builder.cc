#include "server/request_builder.h"

#include <algorithm>
#include <limits>
#include <random>

#include "model/tokenizer.h"
#include "server/output_grammar.h"

namespace radixlm::server {

uint64_t RandomSeed() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng();
}

StatusOr<BuiltPrompt> RequestBuilder::Finish(const GenerationRequest& gen,
                                             std::vector<int32_t> prompt, const std::string& ns,
                                             bool chat, std::string* param) const {
  BuiltPrompt b;
  engine::RequestOptions& o = b.options;
  if (gen.truncate_prompt_tokens > 0) {
    if (gen.truncate_prompt_tokens > info_.max_context) {
      *param = "truncate_prompt_tokens";
      return InvalidArgumentError(
          "Invalid 'truncate_prompt_tokens': " + std::to_string(gen.truncate_prompt_tokens) +
          " is more than the model's maximum context length of " +
          std::to_string(info_.max_context) + " tokens.");
    }
    if (static_cast<int64_t>(prompt.size()) > gen.truncate_prompt_tokens) {
      prompt.erase(prompt.begin(), prompt.end() - gen.truncate_prompt_tokens);
    }
  }
  const char* where = chat ? "messages" : "prompt";
  if (prompt.empty()) {
    *param = where;
    return InvalidArgumentError(std::string("Invalid '") + where + "': it encodes to no tokens.");
  }
  const int64_t prompt_len = static_cast<int64_t>(prompt.size());
  int64_t max_tokens = gen.stop.max_tokens;
  if (!gen.max_tokens_set && chat) max_tokens = info_.max_context - prompt_len;
  // A completion may ask for 0 tokens (echo: the prompt scored, openai_protocol.h).
  const int64_t least = !chat && gen.max_tokens_set && max_tokens == 0 ? 0 : 1;
  // Compared as a difference: max_tokens may be anything up to 2^63 - 1.
  if (max_tokens < least || prompt_len > info_.max_context - least ||
      max_tokens > info_.max_context - prompt_len) {
    *param = gen.max_tokens_set && prompt_len < info_.max_context ? "max_tokens" : where;
    const int64_t completion = std::max<int64_t>(max_tokens, 0);
    const std::string total =
        completion > std::numeric_limits<int64_t>::max() - prompt_len
            ? "more than " + std::to_string(std::numeric_limits<int64_t>::max())
            : std::to_string(prompt_len + completion);
    return InvalidArgumentError(
        "This model's maximum context length is " + std::to_string(info_.max_context) +
        " tokens. However, you requested " + total + " tokens (" + std::to_string(prompt_len) +
        " in the " + (chat ? "messages" : "prompt") + ", " + std::to_string(completion) +
        " in the completion). Please reduce the length of the " + (chat ? "messages" : "prompt") +
        " or completion.");
  }
  o.prompt = std::move(prompt);
  o.ns = ns;
  o.sampling = gen.sampling;
  if (!gen.seed_set) o.sampling.seed = RandomSeed();
  o.stop = gen.stop;
  o.stop.max_tokens = max_tokens;
  o.n = gen.n;
  o.logprobs = gen.logprobs;
  o.skip_special_tokens = gen.skip_special_tokens;
  return b;
}

StatusOr<grammar::ToolCallForm> ForcedCallForm(const ToolCallFormat* format) {
  grammar::ToolCallForm form;  // the generic JSON form
  if (format == nullptr) return form;
  // The JSON families write {"name": "NAME", "<key>": ARGUMENTS} between their
  // markers; the grammar writes the object, the markers are its prefix and suffix.
  const size_t open = format->call_begin.find('{'), close = format->call_end.find('}');
  if (format->name_key != "name" || open == std::string::npos || close == std::string::npos) {
    return InvalidArgumentError(std::string("Forcing a tool call ('tool_choice' required or a "
                                            "named function) is not supported for the '") +
                                ToolCallFamilyName(format->family) +
                                "' tool-call format, whose function name is not JSON.");
  }
  form.prefix = format->calls_begin + format->call_begin.substr(0, open);
  form.suffix = format->call_end.substr(close + 1) + format->calls_end;
  form.arguments_key = format->arguments_key;
  return form;
}

bool RequestBuilder::ParsesToolCalls(const ChatRequest& request) const {
  return request.has_tools && request.tool_choice.kind != ToolChoice::Kind::kNone &&
         info_.chat_format.tool_calls != nullptr;
}

StatusOr<std::vector<BuiltPrompt>> RequestBuilder::BuildCompletion(const CompletionRequest& request,
                                                                   const std::string& ns,
                                                                   std::string* param) const {
  ASSIGN_OR_RETURN(auto grammar, OutputGrammar(info_.grammars.get(), grammar::ToolCallForm(),
                                               request.gen, nullptr, param));
  std::vector<BuiltPrompt> out;
  for (size_t i = 0; i < request.prompts.size(); ++i) {
    const Prompt& p = request.prompts[i];
    std::vector<int32_t> ids;
    std::string echo;
    if (p.is_text) {
      ids = EncodeText(p.text);
      echo = p.text;
    } else {
      ids = p.ids;
      if (request.echo) echo = info_.tokenizer->Decode(ids, request.gen.skip_special_tokens);
    }
    auto built = Finish(request.gen, std::move(ids), ns, /*chat=*/false, param);
    if (!built.ok()) {
      if (request.prompts.size() > 1 && *param == "prompt")
        *param = "prompt[" + std::to_string(i) + "]";
      return built.status();
    }
    built->echo_text = std::move(echo);
    built->options.grammar = grammar;
    // echo with logprobs: the prompt's own log probabilities lead the choice's.
    if (request.echo && request.gen.logprobs >= 0)
      built->options.prompt_logprobs = request.gen.logprobs;
    // best_of: every sample carries its log probabilities, to rank them by (best_of.h).
    if (request.gen.best_of > request.gen.n) {
      built->options.n = request.gen.best_of;
      built->options.logprobs = std::max(request.gen.logprobs, 0);
    }
    if (request.cache_control) {
      const CacheControl& c = *request.cache_control;
      const size_t len = built->options.prompt.size();
      if (c.prefix_tokens > static_cast<int64_t>(len)) {
        *param = c.field + ".prefix_tokens";
        return InvalidArgumentError(
            "Invalid 'cache_control.prefix_tokens': " + std::to_string(c.prefix_tokens) +
            " is longer than the prompt" +
            (request.prompts.size() > 1 ? " [" + std::to_string(i) + "]" : std::string()) + " (" +
            std::to_string(len) + " tokens).");
      }
      const size_t tokens = c.prefix_tokens > 0 ? static_cast<size_t>(c.prefix_tokens) : len;
      built->pins.push_back(PinAsk{tokens, c.ttl_seconds, c.field});
    }
    out.push_back(std::move(*built));
  }
  return out;
}

std::vector<int32_t> RequestBuilder::EncodeText(const std::string& text) const {
  std::vector<int32_t> ids = info_.tokenizer->Encode(text, /*add_special_tokens=*/true);
  // As `radixlm generate`: Llama prompts start with BOS even where the
  // tokenizer's post-processor does not add it.
  if (info_.bos_token_id >= 0 && (ids.empty() || ids.front() != info_.bos_token_id)) {
    ids.insert(ids.begin(), info_.bos_token_id);
  }
  return ids;
}

StatusOr<std::vector<engine::RequestOptions>> RequestBuilder::BuildEmbedding(
    const EmbeddingRequest& request, const std::string& ns, std::string* param) const {
  std::vector<engine::RequestOptions> out;
  for (size_t i = 0; i < request.inputs.size(); ++i) {
    const Prompt& p = request.inputs[i];
    engine::RequestOptions o;
    o.prompt = p.is_text ? EncodeText(p.text) : p.ids;
    const std::string field =
        request.inputs.size() > 1 ? "input[" + std::to_string(i) + "]" : "input";
    if (o.prompt.empty()) {
      *param = field;
      return InvalidArgumentError("Invalid '" + field + "': it encodes to no tokens.");
    }
    const int64_t len = static_cast<int64_t>(o.prompt.size());
    if (len > info_.max_context) {
      *param = field;
      return InvalidArgumentError("This model's maximum context length is " +
                                  std::to_string(info_.max_context) + " tokens. However, '" +
                                  field + "' has " + std::to_string(len) +
                                  " tokens. Please reduce the length of the input.");
    }
    o.ns = ns;
    o.embed = true;
    out.push_back(std::move(o));
  }
  return out;
}

StatusOr<BuiltPrompt> RequestBuilder::BuildChat(const ChatRequest& request, const std::string& ns,
                                                std::string* param) const {
  grammar::ToolCallForm form;
  if (request.tool_choice.forces()) {
    auto f = ForcedCallForm(info_.chat_format.tool_calls);
    if (!f.ok()) {
      *param = "tool_choice";
      return f.status();
    }
    form = *std::move(f);
  }
  ASSIGN_OR_RETURN(auto grammar,
                   OutputGrammar(info_.grammars.get(), form, request.gen, &request, param));
  ASSIGN_OR_RETURN(const std::string text, RenderChatRequest(info_.chat_format, request, param));
  std::vector<int32_t> ids = info_.tokenizer->Encode(text, /*add_special_tokens=*/false);
  GenerationRequest gen = request.gen;
  for (int32_t id : info_.chat_format.stop_token_ids) gen.stop.stop_token_ids.push_back(id);
  for (const std::string& s : info_.chat_format.stop_strings) gen.stop.stop.push_back(s);
  ASSIGN_OR_RETURN(BuiltPrompt built, Finish(gen, std::move(ids), ns, /*chat=*/true, param));
  if (ParsesToolCalls(request))
    built.options.keep_special_tokens = info_.chat_format.tool_marker_ids;
  built.options.grammar = std::move(grammar);
  const std::vector<int32_t>& prompt = built.options.prompt;
  for (const CacheBreakpoint& b : request.breakpoints) {
    ASSIGN_OR_RETURN(const std::string head,
                     RenderChatPrefix(info_.chat_format, request, b, param));
    const std::vector<int32_t> head_ids =
        info_.tokenizer->Encode(head, /*add_special_tokens=*/false);
    const size_t n = std::min(head_ids.size(), prompt.size());
    const size_t common = static_cast<size_t>(
        std::mismatch(head_ids.begin(), head_ids.begin() + static_cast<ptrdiff_t>(n),
                      prompt.begin())
            .first -
        head_ids.begin());
    built.pins.push_back(PinAsk{common, b.control.ttl_seconds, b.control.field});
  }
  return built;
}

}  // namespace radixlm::server
