#include "server/response_entry.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "core/file_digest.h"
#include "core/hash.h"
#include "grammar/grammar.h"

namespace radixlm::server {
namespace {

std::string Hex(const unsigned char* data, size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (size_t i = 0; i < size; ++i) {
    out += kDigits[data[i] >> 4];
    out += kDigits[data[i] & 15];
  }
  return out;
}

// Fields appended with their lengths, so no two different field lists hash the
// same byte string.
class Digest {
 public:
  Digest() : ctx_(EVP_MD_CTX_new(), EVP_MD_CTX_free) {
    EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr);
  }
  void Bytes(const void* data, size_t size) { EVP_DigestUpdate(ctx_.get(), data, size); }
  void Int(int64_t v) { Bytes(&v, sizeof(v)); }
  void Double(double v) { Bytes(&v, sizeof(v)); }
  void Str(std::string_view s) {
    Int(static_cast<int64_t>(s.size()));
    Bytes(s.data(), s.size());
  }
  // The first 16 bytes (128 bits) in hex: as the prefix cache's content keys.
  std::string Hex128() {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    EVP_DigestFinal_ex(ctx_.get(), out, &size);
    return Hex(out, 16);
  }

 private:
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx_;
};

// Little-endian fixed-width fields and length-prefixed strings.
class Writer {
 public:
  template <typename T>
  void Put(T v) {
    out_.append(reinterpret_cast<const char*>(&v), sizeof(v));
  }
  void Str(std::string_view s) {
    Put<uint32_t>(static_cast<uint32_t>(s.size()));
    out_.append(s);
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  template <typename T>
  bool Get(T* v) {
    if (in_.size() < sizeof(T)) return false;
    std::memcpy(v, in_.data(), sizeof(T));
    in_.remove_prefix(sizeof(T));
    return true;
  }
  bool Str(std::string* s) {
    uint32_t n = 0;
    if (!Get(&n) || in_.size() < n) return false;
    s->assign(in_.substr(0, n));
    in_.remove_prefix(n);
    return true;
  }
  // A count of items each at least `min_item_bytes` long: bounded by what is left.
  bool Count(uint32_t* n, size_t min_item_bytes) {
    return Get(n) && *n <= in_.size() / min_item_bytes;
  }
  bool done() const { return in_.empty(); }

 private:
  std::string_view in_;
};

constexpr uint32_t kMagic = 0x31524c52;  // "RLR1"

}  // namespace

StatusOr<std::string> ModelFingerprint(const std::string& model_dir, std::string_view runtime,
                                       std::string_view extra) {
  auto files = ModelFileDigests(model_dir);
  if (!files.ok()) return files.status();
  Digest d;
  for (const FileDigest& file : *files) {
    d.Str(file.name);
    d.Bytes(&file.digest, sizeof(Hash128));
  }
  d.Str(runtime);
  d.Str(extra);
  return d.Hex128();
}

std::string NamespaceDigest(const std::string& ns) {
  Digest d;
  d.Str(ns);
  return d.Hex128();
}

namespace {

// Every sampling and stop parameter. The seed matters only to sampling, and only
// when the caller chose it (the server draws a fresh one per call otherwise).
void AddParameters(Digest& d, const engine::SamplingParams& s, bool seed_set,
                   const engine::StopConditions& stop) {
  d.Double(s.temperature);
  d.Int(s.top_k);
  d.Double(s.top_p);
  d.Double(s.min_p);
  d.Int(seed_set && s.temperature != 0 ? static_cast<int64_t>(s.seed) : 0);
  d.Double(s.presence_penalty);
  d.Double(s.frequency_penalty);
  d.Int(static_cast<int64_t>(s.logit_bias.size()));
  for (const auto& [token, bias] : s.logit_bias) {
    d.Int(token);
    d.Double(bias);
  }
  d.Int(stop.max_tokens);
  d.Int(static_cast<int64_t>(stop.stop.size()));
  for (const std::string& text : stop.stop) d.Str(text);
  d.Int(static_cast<int64_t>(stop.stop_token_ids.size()));
  d.Bytes(stop.stop_token_ids.data(), stop.stop_token_ids.size() * sizeof(int32_t));
  d.Int(stop.ignore_eos);
  d.Int(stop.include_stop_str_in_output);
}

}  // namespace

std::string ResponseKey(std::string_view model_fingerprint, const std::string& ns, bool chat,
                        const std::vector<BuiltPrompt>& prompts, const GenerationRequest& gen) {
  Digest d;
  d.Str(chat ? "chat" : "completion");
  d.Int(static_cast<int64_t>(prompts.size()));
  for (const BuiltPrompt& p : prompts) {
    const engine::RequestOptions& o = p.options;
    d.Int(static_cast<int64_t>(o.prompt.size()));
    d.Bytes(o.prompt.data(), o.prompt.size() * sizeof(int32_t));
    d.Str(p.echo_text);
    AddParameters(d, o.sampling, gen.seed_set, o.stop);
    d.Int(o.n);
    d.Int(o.logprobs);
    d.Int(o.skip_special_tokens);
    if (!o.keep_special_tokens.empty()) {
      d.Int(static_cast<int64_t>(o.keep_special_tokens.size()));
      d.Bytes(o.keep_special_tokens.data(), o.keep_special_tokens.size() * sizeof(int32_t));
    }
    // The grammar the output follows (response_format, a forced tool call).
    d.Str(o.grammar != nullptr ? o.grammar->spec().Key() : std::string());
  }
  d.Int(gen.return_tokens_as_token_ids);
  // best_of: the engine ran best_of samples with logprobs; n of them answer.
  if (gen.best_of > gen.n) {
    d.Str("best_of");
    d.Int(gen.n);
    d.Int(gen.logprobs);
  }
  return NamespaceDigest(ns) + ":" + std::string(model_fingerprint) + ":" + d.Hex128();
}

std::string SemanticScope(std::string_view model_fingerprint, const std::string& ns, bool chat,
                          const GenerationRequest& gen) {
  Digest d;
  d.Str(chat ? "semantic chat" : "semantic completion");
  engine::StopConditions stop = gen.stop;
  // Without max_tokens a chat runs to the end of the context, which depends on
  // the prompt's length: the same setting for every wording.
  if (!gen.max_tokens_set) stop.max_tokens = -1;
  AddParameters(d, gen.sampling, gen.seed_set, stop);
  d.Int(gen.n);
  d.Int(gen.logprobs);
  d.Int(gen.skip_special_tokens);
  d.Int(gen.return_tokens_as_token_ids);
  if (gen.best_of > gen.n) {
    d.Str("best_of");
    d.Int(gen.best_of);
  }
  d.Int(static_cast<int64_t>(gen.response_format.type));
  d.Str(gen.response_format.schema);
  return NamespaceDigest(ns) + ":" + std::string(model_fingerprint) + ":" + d.Hex128();
}

std::string EncodeResponse(const CachedResponse& r) {
  Writer w;
  w.Put<uint32_t>(kMagic);
  w.Put<int64_t>(r.usage.prompt_tokens);
  w.Put<int64_t>(r.usage.completion_tokens);
  w.Put<int64_t>(r.usage.cached_tokens);
  w.Put<uint32_t>(static_cast<uint32_t>(r.choices.size()));
  for (const ChoiceOutput& c : r.choices) {
    w.Put<int32_t>(c.index);
    w.Put<int32_t>(static_cast<int32_t>(c.finish));
    w.Str(c.prefix);
    w.Str(c.text);
    w.Put<uint32_t>(static_cast<uint32_t>(c.logprobs.size()));
    for (const engine::LogprobEntry& e : c.logprobs) {
      w.Put<int32_t>(e.token);
      w.Put<float>(e.logprob);
      w.Put<uint32_t>(static_cast<uint32_t>(e.top.size()));
      for (const engine::TokenLogprob& t : e.top) {
        w.Put<int32_t>(t.token);
        w.Put<float>(t.logprob);
      }
    }
  }
  return w.Take();
}

StatusOr<CachedResponse> DecodeResponse(std::string_view bytes, int64_t vocab_size) {
  const Status bad = InvalidArgumentError("malformed cached response");
  Reader r(bytes);
  CachedResponse out;
  uint32_t magic = 0, choices = 0;
  if (!r.Get(&magic) || magic != kMagic) return bad;
  if (!r.Get(&out.usage.prompt_tokens) || !r.Get(&out.usage.completion_tokens) ||
      !r.Get(&out.usage.cached_tokens) || !r.Count(&choices, 20)) {
    return bad;
  }
  for (uint32_t i = 0; i < choices; ++i) {
    ChoiceOutput c;
    int32_t finish = 0;
    uint32_t entries = 0;
    if (!r.Get(&c.index) || !r.Get(&finish) || !r.Str(&c.prefix) || !r.Str(&c.text) ||
        !r.Count(&entries, 12)) {
      return bad;
    }
    if (c.index != static_cast<int32_t>(i) ||
        (finish != static_cast<int32_t>(engine::FinishReason::kStop) &&
         finish != static_cast<int32_t>(engine::FinishReason::kLength))) {
      return bad;
    }
    c.finish = static_cast<engine::FinishReason>(finish);
    c.logprobs.resize(entries);
    for (engine::LogprobEntry& e : c.logprobs) {
      uint32_t top = 0;
      if (!r.Get(&e.token) || !r.Get(&e.logprob) || !r.Count(&top, 8)) return bad;
      if (e.token < 0 || e.token >= vocab_size) return bad;
      e.top.resize(top);
      for (engine::TokenLogprob& t : e.top) {
        if (!r.Get(&t.token) || !r.Get(&t.logprob) || t.token < 0 || t.token >= vocab_size)
          return bad;
      }
    }
    out.choices.push_back(std::move(c));
  }
  if (!r.done()) return bad;
  return out;
}

}  // namespace radixlm::server
