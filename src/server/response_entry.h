// What the response cache (respcache/response_cache.h) keeps for an API call,
// and the key it keeps it under.
//
// Key: "{namespace}:{model}:{request}", three hex digests.
//   namespace  SHA-256 of the request's prefix-cache namespace (tenant and
//              cache_salt, auth.h), so tenants never share responses and a
//              namespace is flushed by its prefix;
//   model      the model's fingerprint (ModelFingerprint: every file of the model
//              directory that shapes outputs, weights included, the backend,
//              the number format it runs in and the weights' format
//              (backend::RuntimeName), and the chat template in use), so new
//              weights never hit old entries (those expire by their TTL, or go
//              with a prefix flush), a CPU replica (F32) and a GPU one (BF16)
//              sharing Redis never answer each other's requests, nor does a
//              server quantizing the same files to FP8 at load (--quantize fp8);
//   request    SHA-256 of everything else that shapes the response: the endpoint,
//              each prompt's token ids and echo text, every sampling parameter
//              (the seed when one was given and the temperature is not 0), n
//              (and best_of), stop conditions, logprobs, and the output options
//              (skip_special_tokens, return_tokens_as_token_ids). Not the stream
//              flags: a streamed and an unstreamed call share an entry.
// The API key never enters a key (the namespace holds only its digest).
//
// Entry: the choices (text, logprobs, finish reason) and the token counts, in a
// small versioned binary form; Decode refuses anything malformed (a corrupt or
// foreign Redis value is a miss, never a crash or a wrong answer).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "server/openai_format.h"
#include "server/request_builder.h"

namespace radixlm::server {

// Hex digest of the model directory's config, tokenizer and weight files, of
// `runtime` (the backend, its number format and the weights' format, e.g.
// "cuda/bf16/bf16", "cpu/f32/fp8": backend::RuntimeName) and of
// `extra` (e.g. a --chat-template file's text).
StatusOr<std::string> ModelFingerprint(const std::string& model_dir, std::string_view runtime,
                                       std::string_view extra);

// The namespace part of a key (for flushing a namespace by prefix).
std::string NamespaceDigest(const std::string& ns);

// The key of a call. `prompts` are the built engine requests (one per prompt),
// their grammars (response_format, forced tool calls) included.
std::string ResponseKey(std::string_view model_fingerprint, const std::string& ns, bool chat,
                        const std::vector<BuiltPrompt>& prompts, const GenerationRequest& gen);

// The semantic cache's scope of a call (respcache/semantic_cache.h): the same
// namespace and model parts, then a digest of every parameter that shapes the
// response but the prompt (the endpoint, sampling, stop conditions, n, logprobs,
// output options, response_format). Calls in one scope differ only in their wording.
std::string SemanticScope(std::string_view model_fingerprint, const std::string& ns, bool chat,
                          const GenerationRequest& gen);

struct CachedResponse {
  std::vector<ChoiceOutput> choices;  // index, prefix (echo), text, logprobs, finish
  Usage usage;
};

std::string EncodeResponse(const CachedResponse& response);
// Token ids in logprobs must be below vocab_size.
StatusOr<CachedResponse> DecodeResponse(std::string_view bytes, int64_t vocab_size);

}  // namespace radixlm::server
