// Chat formatting: messages to prompt text, until chat templates (Jinja) come.
//
// The format is picked from the tokenizer's special tokens:
//   ChatML   (<|im_start|> and <|im_end|>: Qwen)
//     "<|im_start|>{role}\n{content}<|im_end|>\n" per message,
//     then "<|im_start|>assistant\n"; stop token <|im_end|>.
//   Llama 3  (<|start_header_id|>, <|end_header_id|>, <|eot_id|>)
//     "<|begin_of_text|>", then
//     "<|start_header_id|>{role}<|end_header_id|>\n\n{content}<|eot_id|>" per message,
//     then "<|start_header_id|>assistant<|end_header_id|>\n\n"; stop token <|eot_id|>.
//   Plain    (anything else)
//     "{Role}: {content}\n\n" per message (System, User, Assistant, Tool),
//     then "Assistant:"; stop string "\nUser:".
// Roles: "developer" is written as "system"; "tool" as "tool" (ChatML), "ipython"
// (Llama 3, as Llama 3.1's template names tool results) or "Tool" (plain).
//
// The property that makes multi-turn chat hit the prefix cache: the prompt of
// turn k followed by the assistant's reply is a prefix of the prompt of turn k+1
// (the generation prompt is exactly the head of the assistant message that
// replaces it). With continue_final_message the last (assistant) message is
// left open (no end marker) and no generation prompt follows.
//
// The text is tokenized with Encode(text, add_special_tokens = false): the formats
// write BOS themselves, and special tokens in the text map to their ids.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "server/openai_protocol.h"

namespace radixlm::model {
class Tokenizer;
}

namespace radixlm::server {

enum class ChatFormatKind { kChatMl, kLlama3, kPlain };
const char* ChatFormatName(ChatFormatKind kind);  // "chatml", "llama3", "plain"

struct ChatFormat {
  ChatFormatKind kind = ChatFormatKind::kPlain;
  std::vector<int32_t> stop_token_ids;   // end of an assistant turn
  std::vector<std::string> stop_strings;
};

ChatFormat DetectChatFormat(const model::Tokenizer& tokenizer);

struct ChatRenderOptions {
  bool add_generation_prompt = true;
  bool continue_final_message = false;
};

std::string RenderChat(ChatFormatKind kind, std::span<const ChatMessage> messages,
                       const ChatRenderOptions& options);

}  // namespace radixlm::server
