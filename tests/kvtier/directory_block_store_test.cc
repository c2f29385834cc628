#include "kvtier/directory_block_store.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "kv_test_util.h"

namespace radixlm::kvtier {
namespace {

namespace fs = std::filesystem;
using testing::HashOf;
using testing::Payload;

constexpr int64_t kBytes = 4096;
constexpr int64_t kFileBytes = kBytes + static_cast<int64_t>(kBlockHeaderBytes);

class DirectoryBlockStoreTest : public ::testing::Test {
 protected:
  DirectoryBlockStoreOptions Options(int64_t capacity_blocks = 1000) const {
    DirectoryBlockStoreOptions o;
    o.dir = dir_.path();
    o.fingerprint = testing::Fingerprint();
    o.block_bytes = kBytes;
    o.capacity_bytes = capacity_blocks * kFileBytes;
    return o;
  }
  std::unique_ptr<DirectoryBlockStore> Open(const DirectoryBlockStoreOptions& o) {
    auto store = DirectoryBlockStore::Create(o);
    EXPECT_TRUE(store.ok()) << store.status().message();
    return store.ok() ? std::move(*store) : nullptr;
  }
  std::unique_ptr<DirectoryBlockStore> Open(int64_t capacity_blocks = 1000) {
    return Open(Options(capacity_blocks));
  }
  static void PutAll(DirectoryBlockStore* store, std::initializer_list<int> ids) {
    for (int i : ids) ASSERT_EQ(store->Put(HashOf(i), Payload(i, kBytes)), BlockPut::kQueued) << i;
    store->Flush();
  }
  // OK and the right bytes, or the Status of the miss.
  static Status Read(DirectoryBlockStore* store, int i) {
    std::vector<std::byte> out(kBytes);
    Status s = store->Get(HashOf(i), out);
    if (s.ok() && out != Payload(i, kBytes)) return InternalError("wrong bytes served");
    return s;
  }
  static void SetMtime(const std::string& path, time_t seconds) {
    const timespec times[2] = {{seconds, 0}, {seconds, 0}};
    ASSERT_EQ(utimensat(AT_FDCWD, path.c_str(), times, 0), 0) << path;
  }
  static void Overwrite(const std::string& path, size_t at, const std::string& bytes) {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(f.good()) << path;
    f.seekp(static_cast<std::streamoff>(at));
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  static int CountFiles(const std::string& root, std::string_view suffix) {
    int n = 0;
    std::error_code ec;
    for (const auto& e : fs::recursive_directory_iterator(root, ec)) {
      if (e.path().string().ends_with(suffix)) ++n;
    }
    return n;
  }

  testing::TempDir dir_;
};

TEST_F(DirectoryBlockStoreTest, LayoutIsFingerprintThenFanOut) {
  auto store = Open();
  ASSERT_TRUE(store);
  PutAll(store.get(), {1});
  const std::string hex = Hex128(HashOf(1));
  const std::string expect =
      dir_.path() + "/" + testing::Fingerprint().Hex() + "/" + hex.substr(0, 2) + "/" + hex + ".kv";
  EXPECT_EQ(store->BlockPath(HashOf(1)), expect);
  EXPECT_EQ(static_cast<int64_t>(fs::file_size(expect)), kFileBytes);
  EXPECT_TRUE(fs::exists(store->root() + "/LOCK"));
  std::ifstream fingerprint(store->root() + "/FINGERPRINT");
  std::string line;
  std::getline(fingerprint, line);
  EXPECT_EQ(line, testing::Fingerprint().ToString());
}

TEST_F(DirectoryBlockStoreTest, ARestartedStoreFindsItsBlocks) {
  {
    auto store = Open();
    ASSERT_TRUE(store);
    PutAll(store.get(), {0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  }
  auto store = Open();
  ASSERT_TRUE(store);
  EXPECT_EQ(store->open_report().blocks_found, 10);
  EXPECT_EQ(store->stats().blocks, 10);
  EXPECT_EQ(store->stats().bytes, 10 * kFileBytes);
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(Read(store.get(), i).ok()) << i;
  const std::vector<BlockHash> prompt = {HashOf(0), HashOf(1), HashOf(2)};
  EXPECT_EQ(*store->CountHeld(prompt), 3);
  EXPECT_EQ(store->Put(HashOf(3), Payload(3, kBytes)), BlockPut::kHeld);
}

TEST_F(DirectoryBlockStoreTest, RecencyAfterARestartComesFromMtimes) {
  {
    auto store = Open();
    ASSERT_TRUE(store);
    PutAll(store.get(), {0, 1, 2, 3, 4, 5});
    const time_t base = time(nullptr) - 1000;
    for (int i = 0; i < 6; ++i) SetMtime(store->BlockPath(HashOf(i)), base + i);
    SetMtime(store->BlockPath(HashOf(0)), base + 100);  // 0 is the most recent
  }
  // The capacity shrank to 3 blocks: the 3 oldest go at open.
  auto store = Open(3);
  ASSERT_TRUE(store);
  EXPECT_EQ(store->open_report().blocks_found, 3);
  EXPECT_EQ(store->open_report().blocks_over_capacity, 3);
  for (int i : {0, 4, 5}) EXPECT_TRUE(Read(store.get(), i).ok()) << i;
  for (int i : {1, 2, 3}) {
    EXPECT_EQ(Read(store.get(), i).code(), StatusCode::kNotFound) << i;
    EXPECT_FALSE(fs::exists(store->BlockPath(HashOf(i)))) << i;
  }
}

TEST_F(DirectoryBlockStoreTest, AHitIsRememberedAcrossARestart) {
  {
    auto store = Open();
    ASSERT_TRUE(store);
    PutAll(store.get(), {0, 1, 2});
    const time_t base = time(nullptr) - 1000;
    for (int i = 0; i < 3; ++i) SetMtime(store->BlockPath(HashOf(i)), base + i);
    ASSERT_TRUE(Read(store.get(), 0).ok());  // sets block 0's mtime to now
  }
  auto store = Open(2);
  ASSERT_TRUE(store);
  EXPECT_TRUE(Read(store.get(), 0).ok());
  EXPECT_TRUE(Read(store.get(), 2).ok());
  EXPECT_EQ(Read(store.get(), 1).code(), StatusCode::kNotFound);
}

TEST_F(DirectoryBlockStoreTest, AFullStoreEvictsTheLeastRecentlyUsed) {
  auto store = Open(4);
  ASSERT_TRUE(store);
  EXPECT_EQ(store->capacity_blocks(), 4);
  PutAll(store.get(), {0, 1, 2, 3});
  ASSERT_TRUE(Read(store.get(), 0).ok());  // 0 is now the most recent; 1 the least
  PutAll(store.get(), {4});
  EXPECT_EQ(store->Put(HashOf(2), Payload(2, kBytes)), BlockPut::kHeld);  // a use: 3 is least
  PutAll(store.get(), {5});
  for (int i : {0, 2, 4, 5}) EXPECT_TRUE(Read(store.get(), i).ok()) << i;
  for (int i : {1, 3}) {
    EXPECT_EQ(Read(store.get(), i).code(), StatusCode::kNotFound) << i;
    EXPECT_FALSE(fs::exists(store->BlockPath(HashOf(i)))) << i;
  }
  const BlockStoreStats s = store->stats();
  EXPECT_EQ(s.evictions, 2);
  EXPECT_EQ(s.blocks, 4);
  EXPECT_LE(s.bytes, 4 * kFileBytes);
  EXPECT_EQ(CountFiles(store->root(), ".kv"), 4);
}

TEST_F(DirectoryBlockStoreTest, ACorruptBlockIsAMissCountedAndDeleted) {
  auto store = Open();
  ASSERT_TRUE(store);
  PutAll(store.get(), {0, 1});
  Overwrite(store->BlockPath(HashOf(0)), kBlockHeaderBytes + 100, "\x5a");
  const Status s = Read(store.get(), 0);
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("checksum"), std::string::npos) << s.message();
  EXPECT_EQ(store->stats().defects_of(BlockDefect::kChecksum), 1);
  EXPECT_FALSE(fs::exists(store->BlockPath(HashOf(0))));
  EXPECT_EQ(Read(store.get(), 0).code(), StatusCode::kNotFound);
  const std::vector<BlockHash> prompt = {HashOf(0)};
  EXPECT_EQ(*store->CountHeld(prompt), 0);
  EXPECT_TRUE(Read(store.get(), 1).ok());
  // The block can be stored again.
  PutAll(store.get(), {0});
  EXPECT_TRUE(Read(store.get(), 0).ok());
}

TEST_F(DirectoryBlockStoreTest, TruncatedBlocksAreMisses) {
  auto store = Open();
  ASSERT_TRUE(store);
  PutAll(store.get(), {0, 1});
  fs::resize_file(store->BlockPath(HashOf(0)), kBlockHeaderBytes + 100);  // torn payload
  fs::resize_file(store->BlockPath(HashOf(1)), 10);                       // torn header
  for (int i : {0, 1}) {
    const Status s = Read(store.get(), i);
    EXPECT_EQ(s.code(), StatusCode::kDataLoss) << i;
    EXPECT_NE(s.message().find("truncated"), std::string::npos) << s.message();
  }
  EXPECT_EQ(store->stats().defects_of(BlockDefect::kTruncated), 2);
}

TEST_F(DirectoryBlockStoreTest, TruncatedFilesAreDeletedAtOpen) {
  std::string path;
  {
    auto store = Open();
    ASSERT_TRUE(store);
    PutAll(store.get(), {0, 1});
    path = store->BlockPath(HashOf(0));
  }
  fs::resize_file(path, 1000);
  auto store = Open();
  ASSERT_TRUE(store);
  EXPECT_EQ(store->open_report().bad_files_removed, 1);
  EXPECT_EQ(store->open_report().blocks_found, 1);
  EXPECT_FALSE(fs::exists(path));
  EXPECT_EQ(Read(store.get(), 0).code(), StatusCode::kNotFound);
  EXPECT_TRUE(Read(store.get(), 1).ok());
}

TEST_F(DirectoryBlockStoreTest, AnotherFingerprintNeverReadsTheseBlocks) {
  auto f32 = Open();
  ASSERT_TRUE(f32);
  PutAll(f32.get(), {0});
  DirectoryBlockStoreOptions o = Options();
  o.fingerprint = testing::Fingerprint("bf16");
  {
    auto bf16 = Open(o);
    ASSERT_TRUE(bf16);
    EXPECT_NE(bf16->root(), f32->root());
    EXPECT_EQ(Read(bf16.get(), 0).code(), StatusCode::kNotFound);
    // A file copied across by hand is found at open, then refused by its header.
    fs::create_directories(fs::path(bf16->BlockPath(HashOf(0))).parent_path());
    fs::copy_file(f32->BlockPath(HashOf(0)), bf16->BlockPath(HashOf(0)));
  }
  auto bf16 = Open(o);
  ASSERT_TRUE(bf16);
  EXPECT_EQ(bf16->open_report().blocks_found, 1);
  const Status s = Read(bf16.get(), 0);
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_EQ(bf16->stats().defects_of(BlockDefect::kWrongFingerprint), 1) << s.message();
  EXPECT_TRUE(Read(f32.get(), 0).ok());
}

TEST_F(DirectoryBlockStoreTest, AFileUnderAnotherBlocksNameIsAMiss) {
  auto store = Open();
  ASSERT_TRUE(store);
  PutAll(store.get(), {0, 1});
  fs::copy_file(store->BlockPath(HashOf(0)), store->BlockPath(HashOf(1)),
                fs::copy_options::overwrite_existing);
  EXPECT_EQ(Read(store.get(), 1).code(), StatusCode::kDataLoss);
  EXPECT_EQ(store->stats().defects_of(BlockDefect::kWrongHash), 1);
  EXPECT_TRUE(Read(store.get(), 0).ok());
}

TEST_F(DirectoryBlockStoreTest, LeftoverTempFilesAreDeletedAtOpen) {
  std::string root;
  {
    auto store = Open();
    ASSERT_TRUE(store);
    PutAll(store.get(), {0});
    root = store->root();
  }
  const std::string temp = root + "/ab/" + std::string(32, 'a') + ".kv.tmp";
  fs::create_directories(root + "/ab");
  std::ofstream(temp) << "half a block";
  std::ofstream(root + "/ab/notes.txt") << "not ours";
  auto store = Open();
  ASSERT_TRUE(store);
  EXPECT_EQ(store->open_report().temp_files_removed, 1);
  EXPECT_FALSE(fs::exists(temp));
  EXPECT_TRUE(fs::exists(root + "/ab/notes.txt"));
  EXPECT_TRUE(Read(store.get(), 0).ok());
}

TEST_F(DirectoryBlockStoreTest, OneStorePerDirectory) {
  auto store = Open();
  ASSERT_TRUE(store);
  auto second = DirectoryBlockStore::Create(Options());
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition);
  DirectoryBlockStoreOptions o = Options();
  o.fingerprint = testing::Fingerprint("bf16");
  EXPECT_TRUE(DirectoryBlockStore::Create(o).ok());  // another fingerprint, another directory
  store.reset();
  EXPECT_TRUE(DirectoryBlockStore::Create(Options()).ok());  // the lock went with the store
}

TEST_F(DirectoryBlockStoreTest, ARemovedDirectoryCostsMissesThenRecovers) {
  auto store = Open();
  ASSERT_TRUE(store);
  PutAll(store.get(), {0, 1, 2});
  fs::remove_all(dir_.path());
  const Status s = Read(store.get(), 0);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_EQ(store->stats().read_errors, 1);
  EXPECT_NE(store->stats().last_error.find("No such file"), std::string::npos)
      << store->stats().last_error;
  EXPECT_EQ(Read(store.get(), 0).code(), StatusCode::kNotFound);  // forgotten
  // The next write re-creates the directory.
  PutAll(store.get(), {3});
  EXPECT_TRUE(Read(store.get(), 3).ok());
  EXPECT_EQ(store->stats().write_errors, 0);
}

TEST_F(DirectoryBlockStoreTest, AnUnwritableDirectoryCostsMissesAndCountedErrors) {
  auto store = Open();
  ASSERT_TRUE(store);
  PutAll(store.get(), {0});
  // The store's directory becomes a plain file: every open and mkdir under it
  // fails (ENOTDIR), as root too.
  const std::string root = store->root();
  fs::remove_all(root);
  std::ofstream(root) << "in the way";
  for (int i = 1; i <= 3; ++i)
    EXPECT_EQ(store->Put(HashOf(i), Payload(i, kBytes)), BlockPut::kQueued);
  store->Flush();
  BlockStoreStats s = store->stats();
  EXPECT_EQ(s.write_errors, 3);
  EXPECT_EQ(s.writes, 1);
  EXPECT_NE(s.last_error.find("cannot create"), std::string::npos) << s.last_error;
  EXPECT_EQ(Read(store.get(), 0).code(), StatusCode::kUnavailable);
  for (int i = 1; i <= 3; ++i) EXPECT_EQ(Read(store.get(), i).code(), StatusCode::kNotFound);
  // Repaired: the store works again.
  fs::remove(root);
  PutAll(store.get(), {4});
  EXPECT_TRUE(Read(store.get(), 4).ok());
}

TEST_F(DirectoryBlockStoreTest, AReadOnlyDirectoryCostsMissesAndCountedErrors) {
  auto store = Open();
  ASSERT_TRUE(store);
  PutAll(store.get(), {0});
  const std::string fanout = fs::path(store->BlockPath(HashOf(1))).parent_path().string();
  fs::create_directories(fanout);
  chmod(store->root().c_str(), 0555);
  chmod(fanout.c_str(), 0555);
  if (access(fanout.c_str(), W_OK) == 0) {
    chmod(store->root().c_str(), 0755);
    chmod(fanout.c_str(), 0755);
    GTEST_SKIP() << "permissions do not bind this user (root): the ENOTDIR test covers it";
  }
  EXPECT_EQ(store->Put(HashOf(1), Payload(1, kBytes)), BlockPut::kQueued);
  store->Flush();
  EXPECT_EQ(store->stats().write_errors, 1);
  EXPECT_EQ(Read(store.get(), 1).code(), StatusCode::kNotFound);
  EXPECT_TRUE(Read(store.get(), 0).ok());  // reading still works
  chmod(store->root().c_str(), 0755);
  chmod(fanout.c_str(), 0755);
}

TEST_F(DirectoryBlockStoreTest, AFailedWriteLeavesNoTempFileAndTheStoreGoesOn) {
  auto store = Open();
  ASSERT_TRUE(store);
  PutAll(store.get(), {0});
  // A file size limit below one block: write(2) fails with EFBIG part way, as
  // it would with ENOSPC on a full disk.
  signal(SIGXFSZ, SIG_IGN);
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &saved), 0);
  rlimit small = saved;
  small.rlim_cur = 1000;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  EXPECT_EQ(store->Put(HashOf(1), Payload(1, kBytes)), BlockPut::kQueued);
  store->Flush();
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &saved), 0);
  signal(SIGXFSZ, SIG_DFL);
  EXPECT_EQ(store->stats().write_errors, 1);
  EXPECT_NE(store->stats().last_error.find("cannot write"), std::string::npos)
      << store->stats().last_error;
  EXPECT_EQ(CountFiles(store->root(), ".tmp"), 0);
  EXPECT_EQ(Read(store.get(), 1).code(), StatusCode::kNotFound);
  EXPECT_TRUE(Read(store.get(), 0).ok());
  PutAll(store.get(), {1});
  EXPECT_TRUE(Read(store.get(), 1).ok());
}

TEST_F(DirectoryBlockStoreTest, WithFsyncBlocksRoundTrip) {
  DirectoryBlockStoreOptions o = Options();
  o.fsync = true;
  auto store = Open(o);
  ASSERT_TRUE(store);
  PutAll(store.get(), {0, 1});
  EXPECT_TRUE(Read(store.get(), 0).ok());
  EXPECT_TRUE(Read(store.get(), 1).ok());
  EXPECT_EQ(store->stats().write_errors, 0);
}

TEST_F(DirectoryBlockStoreTest, BadOptionsAndAnUncreatableDirectory) {
  DirectoryBlockStoreOptions o = Options();
  o.capacity_bytes = kFileBytes - 1;
  EXPECT_EQ(DirectoryBlockStore::Create(o).status().code(), StatusCode::kInvalidArgument);
  o = Options();
  o.dir = "";
  EXPECT_EQ(DirectoryBlockStore::Create(o).status().code(), StatusCode::kInvalidArgument);
  o = Options();
  o.queue_blocks = 0;
  EXPECT_EQ(DirectoryBlockStore::Create(o).status().code(), StatusCode::kInvalidArgument);
  o = Options();
  o.fingerprint.kv_format = "";
  EXPECT_EQ(DirectoryBlockStore::Create(o).status().code(), StatusCode::kInvalidArgument);
  std::ofstream(dir_.path() + "/file") << "x";
  o = Options();
  o.dir = dir_.path() + "/file/kv";
  EXPECT_EQ(DirectoryBlockStore::Create(o).status().code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace radixlm::kvtier
