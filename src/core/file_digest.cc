#include "core/file_digest.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

namespace radixlm {
namespace {

bool ShapesOutputs(const std::filesystem::path& file) {
  const std::string name = file.filename().string();
  return name.ends_with(".safetensors") || name.ends_with(".json") || name.ends_with(".jinja") ||
         name == "tokenizer.model";
}

}  // namespace

StatusOr<Hash128> HashFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NotFoundError(path + ": " + std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    const int err = errno;
    close(fd);
    return NotFoundError(path + ": " + std::strerror(err));
  }
  const size_t size = static_cast<size_t>(st.st_size);
  if (size == 0) {
    close(fd);
    return Hash128Of("", 0);
  }
  void* data = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (data == MAP_FAILED) return InternalError(path + ": cannot map: " + std::strerror(errno));
  const Hash128 h = Hash128Of(data, size);
  munmap(data, size);
  return h;
}

StatusOr<std::vector<FileDigest>> ModelFileDigests(const std::string& model_dir) {
  std::error_code ec;
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(model_dir, ec)) {
    if (entry.is_regular_file() && ShapesOutputs(entry.path())) files.push_back(entry.path());
  }
  if (ec) return NotFoundError(model_dir + ": " + ec.message());
  std::sort(files.begin(), files.end());
  std::vector<FileDigest> out;
  out.reserve(files.size());
  for (const auto& file : files) {
    auto h = HashFile(file.string());
    if (!h.ok()) return h.status();
    out.push_back(FileDigest{file.filename().string(), *h});
  }
  return out;
}

}  // namespace radixlm
