#include "model/safetensors.h"

#include <fcntl.h>
#include <simdjson.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <set>

#include "core/json_writer.h"

namespace radixlm::model {
namespace {

// The reference implementation's limit: a larger header is an attack, not a model.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

struct DTypeEntry {
  DType dtype;
  const char* name;
  size_t size;
};
constexpr DTypeEntry kDTypes[] = {
    {DType::kF64, "F64", 8},   {DType::kF32, "F32", 4},        {DType::kF16, "F16", 2},
    {DType::kBF16, "BF16", 2}, {DType::kI64, "I64", 8},        {DType::kI32, "I32", 4},
    {DType::kI16, "I16", 2},   {DType::kI8, "I8", 1},          {DType::kU8, "U8", 1},
    {DType::kBool, "BOOL", 1}, {DType::kF8E4M3, "F8_E4M3", 1}, {DType::kF8E5M2, "F8_E5M2", 1},
};

}  // namespace

std::string_view DTypeName(DType dtype) {
  for (const DTypeEntry& e : kDTypes) {
    if (e.dtype == dtype) return e.name;
  }
  return "?";
}

size_t DTypeSize(DType dtype) {
  for (const DTypeEntry& e : kDTypes) {
    if (e.dtype == dtype) return e.size;
  }
  return 0;
}

StatusOr<DType> ParseDType(std::string_view name) {
  for (const DTypeEntry& e : kDTypes) {
    if (name == e.name) return e.dtype;
  }
  return InvalidArgumentError("unknown dtype \"" + std::string(name) + "\"");
}

int64_t TensorInfo::elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

StatusOr<SafetensorsHeader> ParseSafetensorsHeader(std::span<const uint8_t> bytes,
                                                   std::string_view name) {
  auto bad = [&](const std::string& what) {
    return InvalidArgumentError(std::string(name) + ": " + what);
  };
  if (bytes.size() < 8) return bad("truncated: shorter than the 8-byte header size");
  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = header_size << 8 | bytes[static_cast<size_t>(i)];
  if (header_size > kMaxHeaderBytes) {
    return bad("header size " + std::to_string(header_size) + " is absurd (limit 100 MiB)");
  }
  if (header_size > bytes.size() - 8) {
    return bad("truncated: the header claims " + std::to_string(header_size) +
               " bytes, the file has " + std::to_string(bytes.size() - 8) + " after the size");
  }
  SafetensorsHeader header;
  header.data_offset = 8 + header_size;
  const uint64_t data_size = bytes.size() - header.data_offset;

  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  const char* text = reinterpret_cast<const char*>(bytes.data() + 8);
  if (auto error = parser.parse(text, header_size).get(doc)) {
    return bad(std::string("malformed header JSON (") + simdjson::error_message(error) + ")");
  }
  simdjson::dom::object root;
  if (doc.get_object().get(root)) return bad("the header is not a JSON object");
  std::set<std::string_view> seen;
  for (auto [key, value] : root) {
    if (!seen.insert(key).second) return bad("\"" + std::string(key) + "\" appears twice");
    if (key == "__metadata__") {
      simdjson::dom::object meta;
      if (value.get_object().get(meta)) return bad("__metadata__ is not an object");
      for (auto [k, v] : meta) {
        std::string_view s;
        if (v.get_string().get(s)) return bad("__metadata__ values must be strings");
        header.metadata.emplace(std::string(k), std::string(s));
      }
      continue;
    }
    const std::string tensor(key);
    auto bad_tensor = [&](const std::string& what) {
      return bad("tensor \"" + tensor + "\": " + what);
    };
    simdjson::dom::object entry;
    if (value.get_object().get(entry)) return bad_tensor("not an object");
    TensorInfo info;
    info.name = tensor;
    std::string_view dtype;
    if (entry["dtype"].get_string().get(dtype)) return bad_tensor("missing or non-string dtype");
    auto parsed = ParseDType(dtype);
    if (!parsed.ok()) return bad_tensor(parsed.status().message());
    info.dtype = *parsed;
    simdjson::dom::array shape, offsets;
    if (entry["shape"].get_array().get(shape)) return bad_tensor("missing or non-array shape");
    uint64_t elements = 1;
    for (simdjson::dom::element d : shape) {
      int64_t dim;
      if (d.get_int64().get(dim) || dim < 0)
        return bad_tensor("shape entries must be integers >= 0");
      // At most 2^60 elements, so elements * 8 bytes cannot overflow.
      if (dim > 0 && elements > (uint64_t{1} << 60) / static_cast<uint64_t>(dim)) {
        return bad_tensor("shape is absurdly large");
      }
      elements *= static_cast<uint64_t>(dim);
      info.shape.push_back(dim);
    }
    if (entry["data_offsets"].get_array().get(offsets) || offsets.size() != 2) {
      return bad_tensor("data_offsets must be [begin, end]");
    }
    uint64_t range[2];
    size_t k = 0;
    for (simdjson::dom::element o : offsets) {
      if (o.get_uint64().get(range[k++])) return bad_tensor("data_offsets must be integers >= 0");
    }
    info.begin = range[0];
    info.end = range[1];
    if (info.begin > info.end || info.end > data_size) {
      return bad_tensor("data_offsets [" + std::to_string(info.begin) + ", " +
                        std::to_string(info.end) + "] out of the data section of " +
                        std::to_string(data_size) + " bytes");
    }
    if (elements * DTypeSize(info.dtype) != info.end - info.begin) {
      return bad_tensor("shape and dtype need " + std::to_string(elements * DTypeSize(info.dtype)) +
                        " bytes, data_offsets span " + std::to_string(info.end - info.begin));
    }
    header.tensors.push_back(std::move(info));
  }
  // The data section is tiled by the tensors: no holes, no overlaps.
  std::sort(header.tensors.begin(), header.tensors.end(),
            [](const TensorInfo& a, const TensorInfo& b) {
              return a.begin < b.begin || (a.begin == b.begin && a.end < b.end);
            });
  uint64_t covered = 0;
  for (const TensorInfo& t : header.tensors) {
    if (t.begin != covered) {
      return bad("tensor \"" + t.name + "\" starts at byte " + std::to_string(t.begin) + ", not " +
                 std::to_string(covered) + " (tensors overlap or leave a hole)");
    }
    covered = t.end;
  }
  if (covered != data_size) {
    return bad("tensors cover " + std::to_string(covered) + " of " + std::to_string(data_size) +
               " data bytes");
  }
  return header;
}

StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NotFoundError("cannot open " + path + ": " + std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return InvalidArgumentError("cannot stat " + path);
  }
  size_t size = static_cast<size_t>(st.st_size);
  const uint8_t* base = nullptr;
  if (size > 0) {
    void* mapped = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (mapped == MAP_FAILED) {
      ::close(fd);
      return InvalidArgumentError("cannot map " + path + ": " + std::strerror(errno));
    }
    base = static_cast<const uint8_t*>(mapped);
  }
  ::close(fd);  // the mapping stays valid
  auto header = ParseSafetensorsHeader(std::span<const uint8_t>(base, size), path);
  if (!header.ok()) {
    if (base != nullptr) ::munmap(const_cast<uint8_t*>(base), size);
    return header.status();
  }
  return std::unique_ptr<SafetensorsFile>(
      new SafetensorsFile(path, base, size, std::move(header).value()));
}

SafetensorsFile::SafetensorsFile(std::string path, const uint8_t* base, size_t size,
                                 SafetensorsHeader header)
    : path_(std::move(path)), base_(base), size_(size), header_(std::move(header)) {
  for (size_t i = 0; i < header_.tensors.size(); ++i) index_.emplace(header_.tensors[i].name, i);
}

SafetensorsFile::~SafetensorsFile() {
  if (base_ != nullptr) ::munmap(const_cast<uint8_t*>(base_), size_);
}

const TensorInfo* SafetensorsFile::Find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &header_.tensors[it->second];
}

std::span<const uint8_t> SafetensorsFile::Data(const TensorInfo& tensor) const {
  return std::span<const uint8_t>(base_ + header_.data_offset + tensor.begin,
                                  tensor.end - tensor.begin);
}

namespace {

StatusOr<uint64_t> TensorBytes(const TensorToWrite& t) {
  uint64_t elements = 1;
  for (int64_t d : t.shape) {
    if (d < 0) return InvalidArgumentError("tensor " + t.name + ": negative dimension");
    elements *= static_cast<uint64_t>(d);
  }
  return elements * DTypeSize(t.dtype);
}

}  // namespace

Status WriteSafetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                        const std::map<std::string, std::string>& metadata) {
  for (const TensorToWrite& t : tensors) {
    ASSIGN_OR_RETURN(uint64_t bytes, TensorBytes(t));
    if (bytes != t.data.size()) {
      return InvalidArgumentError("tensor " + t.name + ": " + std::to_string(t.data.size()) +
                                  " bytes given, shape and dtype need " + std::to_string(bytes));
    }
  }
  return WriteSafetensors(path, tensors, metadata, [&](size_t i, std::span<uint8_t> out) {
    std::memcpy(out.data(), tensors[i].data.data(), out.size());
  });
}

Status WriteSafetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                        const std::map<std::string, std::string>& metadata,
                        const std::function<void(size_t, std::span<uint8_t>)>& fill) {
  JsonWriter w;
  w.BeginObject();
  if (!metadata.empty()) {
    w.Key("__metadata__");
    w.BeginObject();
    for (const auto& [k, v] : metadata) {
      w.Key(k);
      w.String(v);
    }
    w.EndObject();
  }
  uint64_t offset = 0;
  std::vector<uint64_t> sizes;
  for (const TensorToWrite& t : tensors) {
    ASSIGN_OR_RETURN(uint64_t bytes, TensorBytes(t));
    sizes.push_back(bytes);
    w.Key(t.name);
    w.BeginObject();
    w.Key("dtype");
    w.String(DTypeName(t.dtype));
    w.Key("shape");
    w.BeginArray();
    for (int64_t d : t.shape) w.Int(d);
    w.EndArray();
    w.Key("data_offsets");
    w.BeginArray();
    w.Uint(offset);
    w.Uint(offset + bytes);
    w.EndArray();
    w.EndObject();
    offset += bytes;
  }
  w.EndObject();
  std::string header = w.str();
  header.append((8 - header.size() % 8) % 8, ' ');  // keeps the data 8-byte aligned
  std::ofstream out(path, std::ios::binary);
  if (!out) return InvalidArgumentError("cannot open " + path + " for writing");
  uint64_t n = header.size();
  char size_bytes[8];
  for (int i = 0; i < 8; ++i) size_bytes[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  out.write(size_bytes, 8);
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  std::vector<uint8_t> buffer;
  for (size_t i = 0; i < tensors.size(); ++i) {
    buffer.resize(sizes[i]);
    fill(i, buffer);
    out.write(reinterpret_cast<const char*>(buffer.data()),
              static_cast<std::streamsize>(buffer.size()));
    if (!out) return InternalError("failed writing " + path);
  }
  out.close();
  if (!out) return InternalError("failed writing " + path);
  return OkStatus();
}

}  // namespace radixlm::model
