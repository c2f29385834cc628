// The Redis store against a real redis-server on 127.0.0.1 (started and
// stopped by the tests).
#include "kvtier/redis_block_store.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "kv_test_util.h"
#include "store/redis_process.h"

namespace radixlm::kvtier {
namespace {

using testing::HashOf;
using testing::Payload;

constexpr int64_t kBytes = 64 << 10;

class RedisBlockStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(redis_.Start()); }

  RedisBlockStoreOptions Options(const std::string& kv_format = "f32") const {
    RedisBlockStoreOptions o;
    o.redis.port = redis_.port();
    o.fingerprint = testing::Fingerprint(kv_format);
    o.block_bytes = kBytes;
    return o;
  }
  static std::unique_ptr<RedisBlockStore> Open(const RedisBlockStoreOptions& o) {
    auto store = RedisBlockStore::Create(o);
    EXPECT_TRUE(store.ok()) << store.status().message();
    return store.ok() ? std::move(*store) : nullptr;
  }
  static Status Read(RedisBlockStore* store, int i) {
    std::vector<std::byte> out(kBytes);
    Status s = store->Get(HashOf(i), out);
    if (s.ok() && out != Payload(i, kBytes)) return InternalError("wrong bytes served");
    return s;
  }
  store::RedisStore Raw() const {
    store::RedisOptions o;
    o.port = redis_.port();
    o.command_timeout = std::chrono::milliseconds(1000);
    return store::RedisStore(o);
  }

  radixlm::testing::RedisProcess redis_;
};

TEST_F(RedisBlockStoreTest, KeysArePrefixFingerprintAndBlockHash) {
  auto store = Open(Options());
  ASSERT_TRUE(store);
  EXPECT_EQ(store->Key(HashOf(1)),
            "radixlm:kv:" + testing::Fingerprint().Hex() + ":" + Hex128(HashOf(1)));
  EXPECT_EQ(store->key_space(), "radixlm:kv:" + testing::Fingerprint().Hex() + ":");
  ASSERT_EQ(store->Put(HashOf(1), Payload(1, kBytes)), BlockPut::kQueued);
  store->Flush();
  store::RedisStore raw = Raw();
  auto value = raw.Get(store->Key(HashOf(1)));
  ASSERT_TRUE(value.ok() && value->has_value()) << value.status().message();
  EXPECT_EQ(**value, EncodeBlock(testing::Fingerprint().Digest(), HashOf(1), Payload(1, kBytes)));
}

TEST_F(RedisBlockStoreTest, OneReplicaWritesAnotherReads) {
  auto a = Open(Options());
  auto b = Open(Options());
  ASSERT_TRUE(a && b);
  for (int i = 0; i < 4; ++i) ASSERT_EQ(a->Put(HashOf(i), Payload(i, kBytes)), BlockPut::kQueued);
  a->Flush();
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(Read(b.get(), i).ok()) << i;
  const std::vector<BlockHash> prompt = {HashOf(0), HashOf(1), HashOf(2), HashOf(3), HashOf(4)};
  EXPECT_EQ(*b->CountHeld(prompt), 4);
  EXPECT_EQ(b->stats().hits, 4);
  EXPECT_EQ(b->stats().writes, 0);
}

TEST_F(RedisBlockStoreTest, FingerprintsAreIsolated) {
  auto f32 = Open(Options("f32"));
  auto bf16 = Open(Options("bf16"));
  ASSERT_TRUE(f32 && bf16);
  ASSERT_EQ(f32->Put(HashOf(0), Payload(0, kBytes)), BlockPut::kQueued);
  f32->Flush();
  EXPECT_NE(bf16->Key(HashOf(0)), f32->Key(HashOf(0)));
  EXPECT_EQ(Read(bf16.get(), 0).code(), StatusCode::kNotFound);
  const std::vector<BlockHash> prompt = {HashOf(0)};
  EXPECT_EQ(*bf16->CountHeld(prompt), 0);
  // A foreign value under this fingerprint's key (copied by hand) is refused.
  store::RedisStore raw = Raw();
  auto value = raw.Get(f32->Key(HashOf(0)));
  ASSERT_TRUE(value.ok() && value->has_value());
  ASSERT_TRUE(raw.Set(bf16->Key(HashOf(0)), **value).ok());
  EXPECT_EQ(Read(bf16.get(), 0).code(), StatusCode::kDataLoss);
  EXPECT_EQ(bf16->stats().defects_of(BlockDefect::kWrongFingerprint), 1);
  EXPECT_TRUE(Read(f32.get(), 0).ok());
}

TEST_F(RedisBlockStoreTest, CorruptAndTruncatedValuesAreMisses) {
  auto store = Open(Options());
  ASSERT_TRUE(store);
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(store->Put(HashOf(i), Payload(i, kBytes)), BlockPut::kQueued);
  store->Flush();
  store::RedisStore raw = Raw();
  std::string value = **raw.Get(store->Key(HashOf(0)));
  value[kBlockHeaderBytes + 5] = static_cast<char>(value[kBlockHeaderBytes + 5] ^ 1);
  ASSERT_TRUE(raw.Set(store->Key(HashOf(0)), value).ok());
  const std::string one = **raw.Get(store->Key(HashOf(1)));
  ASSERT_TRUE(raw.Set(store->Key(HashOf(1)), one.substr(0, one.size() - 1)).ok());
  ASSERT_TRUE(raw.Set(store->Key(HashOf(2)),
                      "not a block at all, but long enough to have a header"
                      " of sixty-four bytes in it")
                  .ok());
  EXPECT_EQ(Read(store.get(), 0).code(), StatusCode::kDataLoss);
  EXPECT_EQ(Read(store.get(), 1).code(), StatusCode::kDataLoss);
  EXPECT_EQ(Read(store.get(), 2).code(), StatusCode::kDataLoss);
  const BlockStoreStats s = store->stats();
  EXPECT_EQ(s.defects_of(BlockDefect::kChecksum), 1);
  EXPECT_EQ(s.defects_of(BlockDefect::kTruncated), 1);
  EXPECT_EQ(s.defects_of(BlockDefect::kBadMagic), 1);
  EXPECT_EQ(s.hits, 0);
  // A fresh Put overwrites the bad value.
  ASSERT_EQ(store->Put(HashOf(0), Payload(0, kBytes)), BlockPut::kQueued);
  store->Flush();
  EXPECT_TRUE(Read(store.get(), 0).ok());
}

TEST_F(RedisBlockStoreTest, TtlExpiresBlocks) {
  RedisBlockStoreOptions o = Options();
  o.ttl_ms = 100;
  auto store = Open(o);
  ASSERT_TRUE(store);
  ASSERT_EQ(store->Put(HashOf(0), Payload(0, kBytes)), BlockPut::kQueued);
  store->Flush();
  EXPECT_TRUE(Read(store.get(), 0).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(250));  // Redis's clock, not ours
  EXPECT_EQ(Read(store.get(), 0).code(), StatusCode::kNotFound);
}

TEST_F(RedisBlockStoreTest, RedisKilledCostsMissesThenRecovers) {
  auto store = Open(Options());
  ASSERT_TRUE(store);
  ASSERT_EQ(store->Put(HashOf(0), Payload(0, kBytes)), BlockPut::kQueued);
  store->Flush();
  ASSERT_TRUE(Read(store.get(), 0).ok());

  redis_.Stop();  // killed mid-run
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 20; ++i) EXPECT_EQ(Read(store.get(), 0).code(), StatusCode::kUnavailable);
  const std::vector<BlockHash> prompt = {HashOf(0)};
  EXPECT_EQ(store->CountHeld(prompt).status().code(), StatusCode::kUnavailable);
  for (int i = 1; i <= 3; ++i)
    EXPECT_EQ(store->Put(HashOf(i), Payload(i, kBytes)), BlockPut::kQueued);
  store->Flush();
  // The client backs off: a dead Redis costs no waiting.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(2000));
  BlockStoreStats s = store->stats();
  EXPECT_EQ(s.read_errors, 20);
  EXPECT_EQ(s.write_errors, 3);
  EXPECT_NE(s.last_error.find("UNAVAILABLE"), std::string::npos) << s.last_error;

  ASSERT_TRUE(redis_.Start());  // a fresh, empty Redis on the same port
  bool recovered = false;
  for (int attempt = 0; attempt < 100 && !recovered; ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // past the back-off
    store->Put(HashOf(10), Payload(10, kBytes));
    store->Flush();
    recovered = Read(store.get(), 10).ok();
  }
  ASSERT_TRUE(recovered);
  EXPECT_EQ(Read(store.get(), 0).code(), StatusCode::kNotFound);  // the old Redis's data is gone
  s = store->stats();
  EXPECT_EQ(s.gets, s.hits + s.misses + s.read_errors + s.defects_total());
}

TEST_F(RedisBlockStoreTest, DeleteAllRemovesOnlyThisFingerprint) {
  auto f32 = Open(Options("f32"));
  auto bf16 = Open(Options("bf16"));
  ASSERT_TRUE(f32 && bf16);
  for (int i = 0; i < 3; ++i) {
    f32->Put(HashOf(i), Payload(i, kBytes));
    bf16->Put(HashOf(i), Payload(i, kBytes));
  }
  f32->Flush();
  bf16->Flush();
  auto deleted = f32->DeleteAll();
  ASSERT_TRUE(deleted.ok()) << deleted.status().message();
  EXPECT_EQ(*deleted, 3);
  EXPECT_EQ(Read(f32.get(), 0).code(), StatusCode::kNotFound);
  EXPECT_TRUE(Read(bf16.get(), 0).ok());
}

TEST_F(RedisBlockStoreTest, BadOptions) {
  RedisBlockStoreOptions o = Options();
  o.block_bytes = 0;
  EXPECT_EQ(RedisBlockStore::Create(o).status().code(), StatusCode::kInvalidArgument);
  o = Options();
  o.ttl_ms = -1;
  EXPECT_EQ(RedisBlockStore::Create(o).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace radixlm::kvtier
