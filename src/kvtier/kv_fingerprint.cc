#include "kvtier/kv_fingerprint.h"

#include <cstring>

#include "core/file_digest.h"

namespace radixlm::kvtier {
namespace {

// Bumped if the fields or their encoding change, so old blocks read as foreign.
constexpr std::string_view kTag = "radixlm-kv-fingerprint/1";

void AppendInt(std::string* out, int64_t v) {
  char bytes[sizeof(v)];
  std::memcpy(bytes, &v, sizeof(v));
  out->append(bytes, sizeof(v));
}

void AppendStr(std::string* out, std::string_view s) {
  AppendInt(out, static_cast<int64_t>(s.size()));
  out->append(s);
}

bool IsToken(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c <= ' ' || c > '~') return false;
  }
  return true;
}

}  // namespace

Status KvFingerprint::Validate() const {
  if (!IsToken(model_digest)) {
    return InvalidArgumentError("KV fingerprint: model_digest must be non-empty printable text");
  }
  if (!IsToken(kv_format)) {
    return InvalidArgumentError("KV fingerprint: kv_format must be non-empty printable text");
  }
  if (page_size <= 0 || layers <= 0 || kv_heads <= 0 || head_dim <= 0) {
    return InvalidArgumentError(
        "KV fingerprint: page_size, layers, kv_heads and head_dim must be "
        "positive (" +
        ToString() + ")");
  }
  return OkStatus();
}

Hash128 KvFingerprint::Digest() const {
  std::string bytes;
  AppendStr(&bytes, kTag);
  AppendStr(&bytes, model_digest);
  AppendStr(&bytes, kv_format);
  AppendInt(&bytes, page_size);
  AppendInt(&bytes, layers);
  AppendInt(&bytes, kv_heads);
  AppendInt(&bytes, head_dim);
  return Hash128Of(bytes.data(), bytes.size());
}

std::string KvFingerprint::Hex() const { return Hex128(Digest()); }

std::string KvFingerprint::ToString() const {
  return "model=" + model_digest + " kv_format=" + kv_format +
         " page_size=" + std::to_string(page_size) + " layers=" + std::to_string(layers) +
         " kv_heads=" + std::to_string(kv_heads) + " head_dim=" + std::to_string(head_dim);
}

StatusOr<std::string> KvFingerprint::ModelDigest(const std::string& model_dir) {
  auto files = ModelFileDigests(model_dir);
  if (!files.ok()) return files.status();
  std::string bytes;
  for (const FileDigest& file : *files) {
    AppendStr(&bytes, file.name);
    bytes.append(reinterpret_cast<const char*>(&file.digest), sizeof(Hash128));
  }
  return Hex128(Hash128Of(bytes.data(), bytes.size()));
}

}  // namespace radixlm::kvtier
