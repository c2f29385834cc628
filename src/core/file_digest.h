// Digests of files: what identifies a model directory's contents.
//
// Both fingerprints of a model build on ModelFileDigests: the response cache's
// (server/response_entry.h: a model's responses) and the KV tiers' (kvtier/
// kv_fingerprint.h: a model's KV bytes), so they agree on which files count.
#pragma once

#include <string>
#include <vector>

#include "core/hash.h"
#include "core/status.h"

namespace radixlm {

// xxh3-128 of a file's bytes, memory-mapped (weights are gigabytes: a version
// stamp at memory bandwidth, not a defence against a forger). NOT_FOUND when
// the file cannot be opened.
StatusOr<Hash128> HashFile(const std::string& path);

struct FileDigest {
  std::string name;  // file name within the directory
  Hash128 digest;    // HashFile
};

// The regular files of a model directory that shape what the model computes or
// says: *.safetensors, *.json (config, tokenizer, generation config), *.jinja
// and tokenizer.model; sorted by name, each with its digest. NOT_FOUND when the
// directory cannot be listed.
StatusOr<std::vector<FileDigest>> ModelFileDigests(const std::string& model_dir);

}  // namespace radixlm
