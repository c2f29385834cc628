#include "model/checkpoint.h"

#include <simdjson.h>

#include <algorithm>
#include <filesystem>
#include <map>

namespace radixlm::model {

namespace fs = std::filesystem;

Status Checkpoint::Add(std::unique_ptr<SafetensorsFile> file) {
  for (const TensorInfo& t : file->tensors()) {
    TensorRef ref{&t, file->Data(t), &file->path()};
    if (!tensors_.emplace(t.name, ref).second) {
      return InvalidArgumentError(file->path() + ": tensor " + t.name +
                                  " is also in another shard");
    }
    names_.push_back(t.name);
    total_bytes_ += ref.data.size();
  }
  files_.push_back(std::move(file));
  return OkStatus();
}

StatusOr<std::unique_ptr<Checkpoint>> Checkpoint::Open(const std::string& dir) {
  std::unique_ptr<Checkpoint> ckpt(new Checkpoint());
  ckpt->dir_ = dir;
  const fs::path root(dir);
  const fs::path single = root / "model.safetensors";
  const fs::path index_path = root / "model.safetensors.index.json";
  std::error_code ec;
  if (fs::exists(single, ec)) {
    ASSIGN_OR_RETURN(auto file, SafetensorsFile::Open(single.string()));
    RETURN_IF_ERROR(ckpt->Add(std::move(file)));
  } else if (fs::exists(index_path, ec)) {
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    simdjson::padded_string text;
    if (simdjson::padded_string::load(index_path.string()).get(text)) {
      return InvalidArgumentError("cannot read " + index_path.string());
    }
    simdjson::dom::object weight_map;
    if (auto error = parser.parse(text).get(doc)) {
      return InvalidArgumentError(index_path.string() + ": malformed JSON (" +
                                  simdjson::error_message(error) + ")");
    }
    if (doc["weight_map"].get_object().get(weight_map)) {
      return InvalidArgumentError(index_path.string() + ": no \"weight_map\" object");
    }
    std::map<std::string, std::string> tensor_to_shard;
    std::map<std::string, std::vector<std::string>> shard_tensors;
    for (auto field : weight_map) {
      std::string_view shard;
      if (field.value.get_string().get(shard)) {
        return InvalidArgumentError(index_path.string() + ": weight_map[\"" +
                                    std::string(field.key) + "\"] is not a file name");
      }
      // Shards are plain file names in the directory: no paths, no escapes.
      if (shard.empty() || shard.find('/') != std::string_view::npos || shard == "." ||
          shard == "..") {
        return InvalidArgumentError(index_path.string() + ": shard name \"" + std::string(shard) +
                                    "\" is not a file in the model directory");
      }
      tensor_to_shard.emplace(std::string(field.key), std::string(shard));
      shard_tensors[std::string(shard)].push_back(std::string(field.key));
    }
    if (shard_tensors.empty())
      return InvalidArgumentError(index_path.string() + ": empty weight_map");
    for (const auto& [shard, names] : shard_tensors) {
      ASSIGN_OR_RETURN(auto file, SafetensorsFile::Open((root / shard).string()));
      for (const std::string& name : names) {
        if (file->Find(name) == nullptr) {
          return InvalidArgumentError(file->path() + ": missing tensor " + name +
                                      " (model.safetensors.index.json puts it there)");
        }
      }
      for (const TensorInfo& t : file->tensors()) {
        if (!tensor_to_shard.contains(t.name)) {
          return InvalidArgumentError(file->path() + ": tensor " + t.name +
                                      " is not listed in model.safetensors.index.json");
        }
      }
      RETURN_IF_ERROR(ckpt->Add(std::move(file)));
    }
  } else {
    return NotFoundError(dir + ": no model.safetensors or model.safetensors.index.json");
  }
  std::sort(ckpt->names_.begin(), ckpt->names_.end());
  return ckpt;
}

const TensorRef* Checkpoint::Find(std::string_view name) const {
  auto it = tensors_.find(std::string(name));
  return it == tensors_.end() ? nullptr : &it->second;
}

}  // namespace radixlm::model
