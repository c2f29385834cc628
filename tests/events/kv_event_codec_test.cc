#include "events/kv_event_codec.h"

#include <gtest/gtest.h>

#include <string>

namespace radixlm::events {
namespace {

kvcache::BlockHash H(uint64_t lo, uint64_t hi) { return kvcache::BlockHash{lo, hi}; }

TEST(KvEventCodec, EncodesVllmArraysByteForByte) {
  KvEvent removed;
  removed.kind = KvEventKind::kBlockRemoved;
  removed.block_hashes = {H(0x0102030405060708ULL, 0x1112131415161718ULL)};
  const std::string bytes = EncodeKvEventBatch(0.5, std::span(&removed, 1), "GPU", std::nullopt);
  // [0.5, [["BlockRemoved", [bin16], "GPU"]]]
  std::string want;
  want += '\x92';                                      // array of 2
  want += std::string("\xcb\x3f\xe0\0\0\0\0\0\0", 9);  // float64 0.5
  want += '\x91';                                      // events: array of 1
  want += '\x93';                                      // event: array of 3
  want += '\xac';                                      // str of 12
  want += "BlockRemoved";
  want += '\x91';                                              // block_hashes: array of 1
  want += std::string("\xc4\x10", 2);                          // bin 16
  want += std::string("\x08\x07\x06\x05\x04\x03\x02\x01", 8);  // lo, little-endian
  want += std::string("\x18\x17\x16\x15\x14\x13\x12\x11", 8);  // hi, little-endian
  want += '\xa3';
  want += "GPU";
  EXPECT_EQ(bytes, want);
}

TEST(KvEventCodec, ATiersEventCarriesItsOwnMedium) {
  // The device pool's events take the batch's medium; a tier's, its own (no
  // tokens, no parent, as vLLM's offloading events).
  std::vector<KvEvent> events(3);
  events[0].kind = KvEventKind::kBlockStored;
  events[0].block_hashes = {H(1, 2)};
  events[0].token_ids = {1, 2};
  events[0].block_size = 2;
  events[1].kind = KvEventKind::kBlockStored;
  events[1].block_hashes = {H(1, 2), H(7, 8)};
  events[1].block_size = 2;
  events[1].medium = "CPU";
  events[2].kind = KvEventKind::kBlockRemoved;
  events[2].block_hashes = {H(7, 8)};
  events[2].medium = "DISK";
  auto batch = DecodeKvEventBatch(EncodeKvEventBatch(1.0, events, "GPU", std::nullopt));
  ASSERT_TRUE(batch.ok()) << batch.status().message();
  ASSERT_EQ(batch->events.size(), 3u);
  EXPECT_EQ(batch->events[0].medium, "GPU");
  EXPECT_EQ(batch->events[1].medium, "CPU");
  EXPECT_TRUE(batch->events[1].token_ids.empty());
  EXPECT_FALSE(batch->events[1].parent_block_hash.has_value());
  EXPECT_EQ(batch->events[1].block_hashes, events[1].block_hashes);
  EXPECT_EQ(batch->events[2].medium, "DISK");
}

TEST(KvEventCodec, RoundTripsEveryEventKind) {
  std::vector<KvEvent> events(3);
  events[0].kind = KvEventKind::kBlockStored;
  events[0].block_hashes = {H(1, 2), H(3, 4)};
  events[0].parent_block_hash = H(5, 6);
  events[0].token_ids = {1, 2, 3, 4, 70000, -1, 0, 9};
  events[0].block_size = 4;
  events[1].kind = KvEventKind::kBlockRemoved;
  events[1].block_hashes = {H(3, 4)};
  events[2].kind = KvEventKind::kAllBlocksCleared;
  const std::string bytes = EncodeKvEventBatch(1234.25, events, "CPU", 3);
  auto batch = DecodeKvEventBatch(bytes);
  ASSERT_TRUE(batch.ok()) << batch.status().message();
  EXPECT_EQ(batch->ts, 1234.25);
  EXPECT_EQ(batch->data_parallel_rank, 3);
  EXPECT_EQ(batch->medium, "CPU");
  ASSERT_EQ(batch->events.size(), 3u);
  EXPECT_EQ(batch->events[0].kind, KvEventKind::kBlockStored);
  EXPECT_EQ(batch->events[0].block_hashes, events[0].block_hashes);
  EXPECT_EQ(batch->events[0].parent_block_hash, events[0].parent_block_hash);
  EXPECT_EQ(batch->events[0].token_ids, events[0].token_ids);
  EXPECT_EQ(batch->events[0].block_size, 4);
  EXPECT_EQ(batch->events[1].kind, KvEventKind::kBlockRemoved);
  EXPECT_EQ(batch->events[1].block_hashes, events[1].block_hashes);
  EXPECT_EQ(batch->events[2].kind, KvEventKind::kAllBlocksCleared);
}

TEST(KvEventCodec, FirstPageHasNilParentAndNoRankIsTwoFields) {
  KvEvent stored;
  stored.kind = KvEventKind::kBlockStored;
  stored.block_hashes = {H(7, 8)};
  stored.token_ids = {1, 2};
  stored.block_size = 2;
  const std::string bytes = EncodeKvEventBatch(2, std::span(&stored, 1), "", std::nullopt);
  EXPECT_EQ(static_cast<unsigned char>(bytes[0]), 0x92u);
  auto batch = DecodeKvEventBatch(bytes);
  ASSERT_TRUE(batch.ok());
  EXPECT_FALSE(batch->events[0].parent_block_hash.has_value());
  EXPECT_FALSE(batch->data_parallel_rank.has_value());
  EXPECT_EQ(batch->medium, "");
}

TEST(KvEventCodec, MalformedInputIsAClearError) {
  auto not_msgpack = DecodeKvEventBatch(std::string("\xc1", 1));
  EXPECT_FALSE(not_msgpack.ok());
  auto unknown_tag = DecodeKvEventBatch(std::string("\x92\x00\x91\x91\xa4Nope", 9));
  ASSERT_FALSE(unknown_tag.ok());
  EXPECT_NE(unknown_tag.status().message().find("unknown event tag 'Nope'"), std::string::npos);
  auto not_array = DecodeKvEventBatch(std::string("\x05", 1));
  ASSERT_FALSE(not_array.ok());
  EXPECT_NE(not_array.status().message().find("event batch is not an array"), std::string::npos);
}

}  // namespace
}  // namespace radixlm::events
