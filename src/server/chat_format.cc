#include "server/chat_format.h"

#include "model/tokenizer.h"

namespace radixlm::server {

const char* ChatFormatName(ChatFormatKind kind) {
  switch (kind) {
    case ChatFormatKind::kChatMl: return "chatml";
    case ChatFormatKind::kLlama3: return "llama3";
    case ChatFormatKind::kPlain: return "plain";
  }
  return "plain";
}

ChatFormat DetectChatFormat(const model::Tokenizer& tokenizer) {
  ChatFormat f;
  const auto im_start = tokenizer.TokenToId("<|im_start|>");
  const auto im_end = tokenizer.TokenToId("<|im_end|>");
  if (im_start && im_end) {
    f.kind = ChatFormatKind::kChatMl;
    f.stop_token_ids = {*im_end};
    return f;
  }
  const auto start_header = tokenizer.TokenToId("<|start_header_id|>");
  const auto end_header = tokenizer.TokenToId("<|end_header_id|>");
  const auto eot = tokenizer.TokenToId("<|eot_id|>");
  if (start_header && end_header && eot) {
    f.kind = ChatFormatKind::kLlama3;
    f.stop_token_ids = {*eot};
    return f;
  }
  f.kind = ChatFormatKind::kPlain;
  f.stop_strings = {"\nUser:"};
  return f;
}

namespace {

std::string RoleName(ChatFormatKind kind, const std::string& role) {
  const std::string r = role == "developer" ? "system" : role;
  switch (kind) {
    case ChatFormatKind::kChatMl: return r;
    case ChatFormatKind::kLlama3: return r == "tool" ? "ipython" : r;
    case ChatFormatKind::kPlain: {
      std::string title = r;
      if (!title.empty() && title[0] >= 'a' && title[0] <= 'z') title[0] = static_cast<char>(title[0] - 'a' + 'A');
      return title;
    }
  }
  return r;
}

// The head of a message up to its content, and what closes it.
std::string Open(ChatFormatKind kind, const std::string& role) {
  switch (kind) {
    case ChatFormatKind::kChatMl: return "<|im_start|>" + role + "\n";
    case ChatFormatKind::kLlama3: return "<|start_header_id|>" + role + "<|end_header_id|>\n\n";
    case ChatFormatKind::kPlain: return role + ":";
  }
  return role;
}

const char* Close(ChatFormatKind kind) {
  switch (kind) {
    case ChatFormatKind::kChatMl: return "<|im_end|>\n";
    case ChatFormatKind::kLlama3: return "<|eot_id|>";
    case ChatFormatKind::kPlain: return "\n\n";
  }
  return "";
}

}  // namespace

std::string RenderChat(ChatFormatKind kind, std::span<const ChatMessage> messages,
                       const ChatRenderOptions& options) {
  std::string out;
  if (kind == ChatFormatKind::kLlama3) out += "<|begin_of_text|>";
  for (size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    out += Open(kind, RoleName(kind, m.role));
    // Plain: "Assistant:" is the generation prompt, so the reply starts with its space.
    if (kind == ChatFormatKind::kPlain) out += " ";
    out += m.content;
    const bool open_end = options.continue_final_message && i + 1 == messages.size();
    if (!open_end) out += Close(kind);
  }
  if (options.add_generation_prompt && !options.continue_final_message) {
    out += Open(kind, RoleName(kind, "assistant"));
  }
  return out;
}

}  // namespace radixlm::server
