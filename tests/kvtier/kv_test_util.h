// Helpers for the KV tier tests: block payloads, hashes, fingerprints and a
// temporary directory.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "core/hash.h"
#include "kvtier/kv_fingerprint.h"

namespace radixlm::kvtier::testing {

// Deterministic bytes: every (seed, size) gives its own payload.
inline std::vector<std::byte> Payload(uint64_t seed, size_t bytes) {
  std::vector<std::byte> out(bytes);
  std::mt19937_64 rng(seed * 0x9e3779b97f4a7c15ULL + bytes);
  size_t i = 0;
  for (; i + 8 <= bytes; i += 8) {
    const uint64_t v = rng();
    std::memcpy(out.data() + i, &v, 8);
  }
  for (; i < bytes; ++i) out[i] = static_cast<std::byte>(rng());
  return out;
}

inline Hash128 HashOf(uint64_t i) {
  const uint64_t words[2] = {i, 0x6b76746965720000ULL};
  return Hash128Of(words, sizeof(words));
}

inline KvFingerprint Fingerprint(std::string kv_format = "f32", int32_t page_size = 16) {
  KvFingerprint f;
  f.model_digest = "00112233445566778899aabbccddeeff";
  f.kv_format = std::move(kv_format);
  f.page_size = page_size;
  f.layers = 2;
  f.kv_heads = 2;
  f.head_dim = 8;
  return f;
}

// A fresh directory under the system temp directory, removed with its
// contents at the end of the scope.
class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "radixlm-kvtier-XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace radixlm::kvtier::testing
