#include "kvtier/block_format.h"

#include <gtest/gtest.h>

#include <cstring>

#include "kv_test_util.h"

namespace radixlm::kvtier {
namespace {

using testing::HashOf;
using testing::Payload;

std::span<std::byte> Mutable(std::string& s) {
  return {reinterpret_cast<std::byte*>(s.data()), s.size()};
}

class BlockFormatTest : public ::testing::Test {
 protected:
  const Hash128 fingerprint_ = testing::Fingerprint().Digest();
  const BlockHash hash_ = HashOf(7);
  const std::vector<std::byte> payload_ = Payload(7, 4096);

  // Decodes `frame` as block hash_ of 4096 bytes; the defect on failure.
  Status Decode(const std::string& frame, BlockDefect* defect, const Hash128* fingerprint = nullptr,
                const BlockHash* hash = nullptr) {
    std::vector<std::byte> out(payload_.size());
    return DecodeBlock(AsBytes(frame), fingerprint ? *fingerprint : fingerprint_,
                       hash ? *hash : hash_, out, defect);
  }
};

TEST_F(BlockFormatTest, RoundTrip) {
  const std::string frame = EncodeBlock(fingerprint_, hash_, payload_);
  ASSERT_EQ(frame.size(), kBlockHeaderBytes + payload_.size());
  EXPECT_EQ(frame.substr(0, 4), "RLKB");
  std::vector<std::byte> out(payload_.size());
  BlockDefect defect{};
  ASSERT_TRUE(DecodeBlock(AsBytes(frame), fingerprint_, hash_, out, &defect).ok());
  EXPECT_EQ(out, payload_);
}

TEST_F(BlockFormatTest, EmptyPayloadRoundTrips) {
  const std::string frame = EncodeBlock(fingerprint_, hash_, {});
  BlockDefect defect{};
  EXPECT_TRUE(DecodeBlock(AsBytes(frame), fingerprint_, hash_, {}, &defect).ok());
}

TEST_F(BlockFormatTest, SealInPlaceMatchesEncode) {
  std::string frame(kBlockHeaderBytes + payload_.size(), '\0');
  std::memcpy(frame.data() + kBlockHeaderBytes, payload_.data(), payload_.size());
  SealBlockFrame(fingerprint_, hash_, Mutable(frame));
  EXPECT_EQ(frame, EncodeBlock(fingerprint_, hash_, payload_));
}

TEST_F(BlockFormatTest, EveryTruncationIsAMiss) {
  const std::string frame = EncodeBlock(fingerprint_, hash_, payload_);
  for (size_t size :
       {size_t{0}, size_t{1}, size_t{63}, size_t{64}, size_t{65}, size_t{2048}, frame.size() - 1}) {
    BlockDefect defect{};
    const Status s = Decode(frame.substr(0, size), &defect);
    EXPECT_EQ(s.code(), StatusCode::kDataLoss) << size;
    EXPECT_EQ(defect, BlockDefect::kTruncated) << size << ": " << s.message();
  }
}

TEST_F(BlockFormatTest, TrailingBytesAreAMiss) {
  BlockDefect defect{};
  EXPECT_FALSE(Decode(EncodeBlock(fingerprint_, hash_, payload_) + "x", &defect).ok());
  EXPECT_EQ(defect, BlockDefect::kWrongLength);
}

TEST_F(BlockFormatTest, EachHeaderFieldIsChecked) {
  struct Case {
    size_t offset;
    BlockDefect expect;
  };
  // A flipped bit in each field: the field's own check, else the checksum's.
  for (const Case& c : {Case{0, BlockDefect::kBadMagic}, Case{4, BlockDefect::kBadVersion},
                        Case{6, BlockDefect::kBadVersion}, Case{8, BlockDefect::kWrongFingerprint},
                        Case{23, BlockDefect::kWrongFingerprint}, Case{24, BlockDefect::kWrongHash},
                        Case{39, BlockDefect::kWrongHash}, Case{40, BlockDefect::kWrongLength},
                        Case{48, BlockDefect::kChecksum}, Case{63, BlockDefect::kChecksum}}) {
    std::string frame = EncodeBlock(fingerprint_, hash_, payload_);
    frame[c.offset] = static_cast<char>(frame[c.offset] ^ 0x01);
    BlockDefect defect{};
    const Status s = Decode(frame, &defect);
    EXPECT_EQ(s.code(), StatusCode::kDataLoss) << c.offset;
    EXPECT_EQ(defect, c.expect) << "offset " << c.offset << ": " << s.message();
    EXPECT_NE(s.message().find(BlockDefectName(c.expect)), std::string::npos) << s.message();
  }
}

TEST_F(BlockFormatTest, AnyPayloadBitFlipFailsTheChecksum) {
  const std::string good = EncodeBlock(fingerprint_, hash_, payload_);
  for (size_t at : {kBlockHeaderBytes, kBlockHeaderBytes + 1000, good.size() - 1}) {
    std::string frame = good;
    frame[at] = static_cast<char>(frame[at] ^ 0x80);
    BlockDefect defect{};
    EXPECT_FALSE(Decode(frame, &defect).ok());
    EXPECT_EQ(defect, BlockDefect::kChecksum) << at;
  }
}

TEST_F(BlockFormatTest, AnotherFingerprintOrHashIsAMiss) {
  const std::string frame = EncodeBlock(fingerprint_, hash_, payload_);
  const Hash128 bf16 = testing::Fingerprint("bf16").Digest();
  BlockDefect defect{};
  EXPECT_FALSE(Decode(frame, &defect, &bf16).ok());
  EXPECT_EQ(defect, BlockDefect::kWrongFingerprint);
  const BlockHash other = HashOf(8);
  EXPECT_FALSE(Decode(frame, &defect, nullptr, &other).ok());
  EXPECT_EQ(defect, BlockDefect::kWrongHash);
}

TEST_F(BlockFormatTest, AnotherPayloadSizeIsAMiss) {
  const std::string frame = EncodeBlock(fingerprint_, hash_, payload_);
  std::vector<std::byte> out(payload_.size() * 2);
  BlockDefect defect{};
  EXPECT_FALSE(DecodeBlock(AsBytes(frame), fingerprint_, hash_, out, &defect).ok());
  EXPECT_EQ(defect, BlockDefect::kWrongLength);
}

TEST(BlockDefectTest, EveryDefectHasAName) {
  for (int d = 0; d < kBlockDefectCount; ++d)
    EXPECT_NE(BlockDefectName(static_cast<BlockDefect>(d)), "unknown") << d;
}

}  // namespace
}  // namespace radixlm::kvtier
