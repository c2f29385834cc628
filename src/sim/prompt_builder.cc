#include "sim/prompt_builder.h"

#include "core/hash.h"

namespace radixlm::sim {
namespace {

constexpr uint32_t kHigh = 1u << 30;

// splitmix64: a fast, well-mixed function of (key, position).
inline uint64_t Mix(uint64_t key, uint64_t i) {
  uint64_t z = key + (i + 1) * 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

inline Token HighToken(uint64_t bits) { return static_cast<Token>(kHigh | (bits & (kHigh - 1))); }

}  // namespace

PromptBuilder::PromptBuilder(const Trace& trace, uint64_t seed) : trace_(trace), seed_(seed) {
  content_keys_.reserve(trace.content_names.size());
  for (const std::string& name : trace.content_names) content_keys_.push_back(Hash64(name, seed));
}

void PromptBuilder::AppendContent(uint32_t content, int64_t n, std::vector<Token>* out) const {
  if (n <= 0) return;
  out->push_back(static_cast<Token>(content));
  const uint64_t key = content_keys_[content];
  for (int64_t i = 1; i < n; ++i) out->push_back(HighToken(Mix(key, static_cast<uint64_t>(i))));
}

void PromptBuilder::AppendUnique(uint64_t key, int64_t n, std::vector<Token>* out) const {
  for (int64_t i = 0; i < n; ++i) out->push_back(HighToken(Mix(key, static_cast<uint64_t>(i))));
}

void PromptBuilder::Build(size_t index, std::vector<Token>* out) const {
  out->clear();
  const TraceRequest& request = trace_.requests[index];
  if (request.segments.empty()) {
    out->assign(request.tokens.begin(), request.tokens.end());
    return;
  }
  for (size_t s = 0; s < request.segments.size(); ++s) {
    const Segment& segment = request.segments[s];
    if (segment.content == Segment::kUnique) {
      AppendUnique(MixBits(seed_ ^ (index << 16) ^ s), segment.tokens, out);
    } else {
      AppendContent(segment.content, segment.tokens, out);
    }
  }
}

void PromptBuilder::AppendOutput(size_t index, std::vector<Token>* out) const {
  const TraceRequest& request = trace_.requests[index];
  if (request.output_content != Segment::kUnique) {
    AppendContent(request.output_content, request.output_tokens, out);
  } else {
    AppendUnique(MixBits(~seed_ ^ index), request.output_tokens, out);
  }
}

}  // namespace radixlm::sim
