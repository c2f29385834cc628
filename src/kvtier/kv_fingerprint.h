// KvFingerprint: what makes KV bytes interchangeable between processes.
//
// Two processes may read each other's stored KV blocks only when their KV pages
// hold the same numbers in the same layout: the same model files (weights,
// config: rope, window, ...), the same numeric format and layout of the pool
// (the backend's), and the same page geometry. A block's key (its chained block
// hash, kvcache/block_hash.h) covers the namespace and the tokens; the
// fingerprint covers the rest. The stores keep every fingerprint apart three
// times over: a directory per fingerprint (directory_block_store.h), a Redis
// key namespace per fingerprint (redis_block_store.h), and the digest in every
// block's header, checked on every read (block_format.h).
//
// Fields:
//   model_digest  ModelDigest(model_dir): the files core/file_digest.h lists
//                 (the response cache's ModelFingerprint hashes the same files)
//   kv_format     the KV pool's numeric format as the backend stores it: "f32"
//                 (CPU backend), "bf16" (CUDA), "fp8_e4m3" (--kv-dtype fp8;
//                 its scales come from the model files, which model_digest
//                 covers). Two backends whose pages of one format differ in
//                 layout or rounding must name different formats (the engine
//                 names them "cpu/f32", "cuda/bf16", "cpu/fp8_e4m3"): equal
//                 names promise equal bytes.
//   page_size, layers, kv_heads, head_dim   the page geometry
#pragma once

#include <cstdint>
#include <string>

#include "core/hash.h"
#include "core/status.h"

namespace radixlm::kvtier {

struct KvFingerprint {
  std::string model_digest;
  std::string kv_format;
  int32_t page_size = 0;
  int32_t layers = 0;
  int32_t kv_heads = 0;
  int32_t head_dim = 0;

  // Every field set: digest and format non-empty, printable, without spaces;
  // the numbers positive.
  Status Validate() const;
  // xxh3-128 of a version tag and every field (length-prefixed): the value in
  // block headers. Equal fingerprints, equal digests; any field changed, a
  // different digest.
  Hash128 Digest() const;
  // Hex128(Digest()): the directory name and the Redis key part.
  std::string Hex() const;
  // "model=... kv_format=bf16 page_size=16 layers=32 kv_heads=8 head_dim=128",
  // for logs and the directory's FINGERPRINT file.
  std::string ToString() const;

  // The model_digest of a model directory: xxh3-128 over the names and digests
  // of ModelFileDigests(model_dir), in hex. NOT_FOUND when it cannot be read.
  static StatusOr<std::string> ModelDigest(const std::string& model_dir);
};

}  // namespace radixlm::kvtier
