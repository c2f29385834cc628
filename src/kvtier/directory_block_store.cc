#include "kvtier/directory_block_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>

namespace radixlm::kvtier {
namespace {

constexpr std::string_view kBlockSuffix = ".kv";
constexpr std::string_view kTempSuffix = ".tmp";

Status ErrnoStatus(const std::string& what, int err) {
  return UnavailableError(what + ": " + std::strerror(err));
}

// write(2) until done: short writes (a signal, a nearly full disk) continue.
bool WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = EIO;
      return false;
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

// pread(2) until `size` bytes or the end of the file; the bytes read, or -1.
ssize_t ReadAll(int fd, std::byte* data, size_t size, off_t offset) {
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::pread(fd, data + done, size - done, offset + static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -1;
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return static_cast<ssize_t>(done);
}

bool FsyncDirectory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

bool IsFanout(std::string_view name) {
  return name.size() == 2 && std::isxdigit(static_cast<unsigned char>(name[0])) &&
         std::isxdigit(static_cast<unsigned char>(name[1]));
}

// The FINGERPRINT file: rewritten when its text differs (temp file, rename).
void WriteFingerprintFile(const std::string& root, const std::string& text) {
  const std::string path = root + "/FINGERPRINT";
  std::string old;
  if (const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC); fd >= 0) {
    char buffer[1024];
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n > 0) old.assign(buffer, static_cast<size_t>(n));
    ::close(fd);
  }
  if (old == text) return;
  const std::string temp = path + std::string(kTempSuffix);
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;  // for people only: not worth failing the open over
  const bool ok = WriteAll(fd, text.data(), text.size());
  ::close(fd);
  if (!ok || ::rename(temp.c_str(), path.c_str()) != 0) ::unlink(temp.c_str());
}

}  // namespace

Status DirectoryBlockStoreOptions::Validate() const {
  if (dir.empty()) return InvalidArgumentError("directory KV store: no directory given");
  RETURN_IF_ERROR(fingerprint.Validate());
  if (block_bytes <= 0) return InvalidArgumentError("directory KV store: block_bytes must be > 0");
  const int64_t file_bytes = static_cast<int64_t>(kBlockHeaderBytes) + block_bytes;
  if (capacity_bytes < file_bytes) {
    return InvalidArgumentError("directory KV store: capacity of " +
                                std::to_string(capacity_bytes) + " bytes holds no block of " +
                                std::to_string(file_bytes) + " bytes");
  }
  if (queue_blocks < 1)
    return InvalidArgumentError("directory KV store: queue_blocks must be >= 1");
  return OkStatus();
}

StatusOr<std::unique_ptr<DirectoryBlockStore>> DirectoryBlockStore::Create(
    const DirectoryBlockStoreOptions& options) {
  RETURN_IF_ERROR(options.Validate());
  const std::string root = options.dir + "/" + options.fingerprint.Hex();
  std::error_code ec;
  std::filesystem::create_directories(root, ec);
  if (ec)
    return UnavailableError("directory KV store: cannot create " + root + ": " + ec.message());
  const std::string lock_path = root + "/LOCK";
  const int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd < 0) return ErrnoStatus("directory KV store: cannot open " + lock_path, errno);
  if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(lock_fd);
    if (err == EWOULDBLOCK) {
      return FailedPreconditionError("directory KV store: " + root +
                                     " is in use by another store (LOCK is held)");
    }
    return ErrnoStatus("directory KV store: cannot lock " + lock_path, err);
  }
  WriteFingerprintFile(root, options.fingerprint.ToString() +
                                 "\nblock_bytes=" + std::to_string(options.block_bytes) + "\n");
  std::unique_ptr<DirectoryBlockStore> store(new DirectoryBlockStore(options, root, lock_fd));
  RETURN_IF_ERROR(store->Scan());
  store->queue_ = std::make_unique<BlockWriteQueue>(
      options.queue_blocks, [s = store.get()](const BlockHash& hash, std::span<std::byte> frame) {
        s->Write(hash, frame);
      });
  return store;
}

DirectoryBlockStore::DirectoryBlockStore(const DirectoryBlockStoreOptions& options,
                                         std::string root, int lock_fd)
    : options_(options),
      fingerprint_digest_(options.fingerprint.Digest()),
      root_(std::move(root)),
      file_bytes_(static_cast<int64_t>(kBlockHeaderBytes) + options.block_bytes),
      capacity_blocks_(options.capacity_bytes / file_bytes_),
      lock_fd_(lock_fd),
      counters_("disk " + root_) {}

DirectoryBlockStore::~DirectoryBlockStore() {
  queue_.reset();                        // finishes the queued writes while the index is alive
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

std::string DirectoryBlockStore::BlockPath(const BlockHash& hash) const {
  const std::string hex = Hex128(hash);
  return root_ + "/" + hex.substr(0, 2) + "/" + hex + std::string(kBlockSuffix);
}

Status DirectoryBlockStore::Scan() {
  struct Found {
    BlockHash hash;
    timespec mtime;
  };
  std::vector<Found> found;
  DIR* top = ::opendir(root_.c_str());
  if (top == nullptr) return ErrnoStatus("directory KV store: cannot list " + root_, errno);
  while (const dirent* sub = ::readdir(top)) {
    if (!IsFanout(sub->d_name)) continue;
    const std::string sub_path = root_ + "/" + sub->d_name;
    DIR* dir = ::opendir(sub_path.c_str());
    if (dir == nullptr) continue;  // not a directory, or unreadable: nothing of ours
    while (const dirent* entry = ::readdir(dir)) {
      const std::string_view name = entry->d_name;
      const std::string path = sub_path + "/" + entry->d_name;
      if (name.ends_with(kTempSuffix)) {
        if (::unlink(path.c_str()) == 0) ++open_report_.temp_files_removed;
        continue;
      }
      Hash128 hash;
      if (!name.ends_with(kBlockSuffix) ||
          !ParseHex128(name.substr(0, name.size() - kBlockSuffix.size()), &hash)) {
        continue;  // not ours: left alone
      }
      struct stat st {};
      if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
      if (st.st_size != file_bytes_ || path != BlockPath(hash)) {
        // Torn by a power loss, or of another block size: never readable.
        if (::unlink(path.c_str()) == 0) ++open_report_.bad_files_removed;
        continue;
      }
      found.push_back(Found{hash, st.st_mtim});
    }
    ::closedir(dir);
  }
  ::closedir(top);
  // Oldest first, each pushed to the front: the newest ends most recent.
  std::sort(found.begin(), found.end(), [](const Found& a, const Found& b) {
    if (a.mtime.tv_sec != b.mtime.tv_sec) return a.mtime.tv_sec < b.mtime.tv_sec;
    return a.mtime.tv_nsec < b.mtime.tv_nsec;
  });
  const size_t over = found.size() > static_cast<size_t>(capacity_blocks_)
                          ? found.size() - static_cast<size_t>(capacity_blocks_)
                          : 0;
  for (size_t i = 0; i < found.size(); ++i) {
    if (i < over) {
      if (::unlink(BlockPath(found[i].hash).c_str()) == 0) ++open_report_.blocks_over_capacity;
      continue;
    }
    lru_.push_front(found[i].hash);
    index_.emplace(found[i].hash, lru_.begin());
  }
  open_report_.blocks_found = static_cast<int64_t>(index_.size());
  return OkStatus();
}

void DirectoryBlockStore::Touch(std::list<BlockHash>::iterator it) {
  lru_.splice(lru_.begin(), lru_, it);
}

bool DirectoryBlockStore::Forget(const BlockHash& hash) {
  // Events are told under the index's lock, so they reach the listener in the
  // order the index changed (a block forgotten here and stored again by the
  // writer is reported removed, then stored).
  std::lock_guard<std::mutex> lock(mu_);
  auto it = index_.find(hash);
  if (it == index_.end()) return false;
  lru_.erase(it->second);
  index_.erase(it);
  if (listener() != nullptr) listener()->OnBlocksRemoved(std::span(&hash, 1));
  return true;
}

void DirectoryBlockStore::SetListener(BlockStoreListener* listener) {
  BlockStore::SetListener(listener);
  if (listener == nullptr) return;
  std::lock_guard<std::mutex> lock(mu_);  // in order with the writer's events
  const std::vector<BlockHash> held(lru_.rbegin(), lru_.rend());  // oldest first
  constexpr size_t kChunk = 4096;
  for (size_t i = 0; i < held.size(); i += kChunk) {
    listener->OnBlocksStored(std::span(held).subspan(i, std::min(kChunk, held.size() - i)));
  }
}

BlockPut DirectoryBlockStore::Put(const BlockHash& hash, std::span<const std::byte> payload) {
  CHECK_EQ(static_cast<int64_t>(payload.size()), options_.block_bytes);
  ++counters_.puts;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = index_.find(hash); it != index_.end()) {
      Touch(it->second);
      ++counters_.puts_held;
      return BlockPut::kHeld;
    }
  }
  return queue_->OfferCounted(hash, payload, counters_);
}

void DirectoryBlockStore::Write(const BlockHash& hash, std::span<std::byte> frame) {
  SealBlockFrame(fingerprint_digest_, hash, frame);
  std::vector<BlockHash> victims;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = index_.find(hash); it != index_.end()) {
      Touch(it->second);  // stored since it was queued
      return;
    }
    // Only this thread adds blocks, so room made now is still there after the
    // write.
    while (static_cast<int64_t>(index_.size()) >= capacity_blocks_) {
      victims.push_back(lru_.back());
      index_.erase(lru_.back());
      lru_.pop_back();
    }
    if (!victims.empty() && listener() != nullptr) listener()->OnBlocksRemoved(victims);
  }
  for (const BlockHash& victim : victims) {
    ::unlink(BlockPath(victim).c_str());  // already gone (a removed directory) is fine
    ++counters_.evictions;
  }
  if (Status s = WriteFile(hash, frame); !s.ok()) {
    ++counters_.write_errors;
    counters_.NoteError(s);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    lru_.push_front(hash);
    index_.emplace(hash, lru_.begin());
    if (listener() != nullptr) listener()->OnBlocksStored(std::span(&hash, 1));
  }
  ++counters_.writes;
  counters_.bytes_written += static_cast<int64_t>(frame.size());
}

Status DirectoryBlockStore::WriteFile(const BlockHash& hash, std::span<const std::byte> frame) {
  const std::string path = BlockPath(hash);
  const std::string temp = path + std::string(kTempSuffix);
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0 && errno == ENOENT) {
    // The fan-out directory is new (or the whole tree was removed): make it.
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
    fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  }
  if (fd < 0) return ErrnoStatus("cannot create " + temp, errno);
  bool ok = WriteAll(fd, reinterpret_cast<const char*>(frame.data()), frame.size());
  if (ok && options_.fsync) ok = ::fdatasync(fd) == 0;
  int err = ok ? 0 : errno;
  if (::close(fd) != 0 && ok) {  // NFS and friends report write errors at close
    ok = false;
    err = errno;
  }
  if (!ok) {
    ::unlink(temp.c_str());
    return ErrnoStatus("cannot write " + temp, err);
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(temp.c_str());
    return ErrnoStatus("cannot rename " + temp, err);
  }
  if (options_.fsync && !FsyncDirectory(std::filesystem::path(path).parent_path().string()))
    return ErrnoStatus("cannot fsync the directory of " + path, errno);
  return OkStatus();
}

Status DirectoryBlockStore::Get(const BlockHash& hash, std::span<std::byte> out) {
  CHECK_EQ(static_cast<int64_t>(out.size()), options_.block_bytes);
  ++counters_.gets;
  if (queue_->CopyPendingCounted(hash, out, counters_)) return OkStatus();
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = index_.find(hash);
    if (it == index_.end()) {
      ++counters_.misses;
      return NotFoundError("KV block " + Hex128(hash) + ": not in " + root_);
    }
    Touch(it->second);
  }
  const std::string path = BlockPath(hash);
  auto read_error = [&](const std::string& what, int err) {
    Forget(hash);
    ++counters_.read_errors;
    Status s = ErrnoStatus(what + " " + path, err);
    counters_.NoteError(s);
    return s;
  };
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return read_error("cannot open", errno);
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) return read_error("cannot stat", errno);
  std::byte header[kBlockHeaderBytes] = {};
  const ssize_t got = ReadAll(fd, header, sizeof(header), 0);
  if (got < 0) return read_error("cannot read", errno);
  BlockDefect defect{};
  auto refuse = [&](Status s) {
    // Deleted before it leaves the index, so no new copy can be queued and
    // then deleted here.
    ::unlink(path.c_str());
    Forget(hash);
    counters_.CountDefect(defect);
    return s;
  };
  const uint64_t frame_bytes = static_cast<size_t>(got) < sizeof(header)
                                   ? static_cast<uint64_t>(got)
                                   : static_cast<uint64_t>(st.st_size);
  if (Status s =
          CheckBlockHeader(header, frame_bytes, fingerprint_digest_, hash, out.size(), &defect);
      !s.ok()) {
    return refuse(s);
  }
  const ssize_t payload = ReadAll(fd, out.data(), out.size(), kBlockHeaderBytes);
  if (payload < 0) return read_error("cannot read", errno);
  if (static_cast<size_t>(payload) < out.size()) {  // shrank since the fstat
    return refuse(CheckBlockHeader(header, kBlockHeaderBytes + static_cast<uint64_t>(payload),
                                   fingerprint_digest_, hash, out.size(), &defect));
  }
  if (Status s = CheckBlockChecksum(header, out, hash, &defect); !s.ok()) return refuse(s);
  ::futimens(fd, nullptr);  // recency that survives a restart (best effort)
  ++counters_.hits;
  counters_.bytes_read += static_cast<int64_t>(out.size());
  return OkStatus();
}

StatusOr<int64_t> DirectoryBlockStore::CountHeld(std::span<const BlockHash> hashes) {
  int64_t held = 0;
  for (const BlockHash& hash : hashes) {
    bool in_index = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      in_index = index_.contains(hash);
    }
    if (!in_index && !queue_->Pending(hash)) break;
    ++held;
  }
  return held;
}

void DirectoryBlockStore::Flush() { queue_->Flush(); }

BlockStoreStats DirectoryBlockStore::stats() const {
  BlockStoreStats s = counters_.Snapshot();
  {
    std::lock_guard<std::mutex> lock(mu_);
    s.blocks = static_cast<int64_t>(index_.size());
  }
  s.bytes = s.blocks * file_bytes_;
  s.queued = queue_->size();
  return s;
}

}  // namespace radixlm::kvtier
