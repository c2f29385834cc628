#include "kvtier/block_format.h"

#include <bit>
#include <cstring>

namespace radixlm::kvtier {
namespace {

static_assert(std::endian::native == std::endian::little,
              "the block header is written in the host's order, which must be little-endian");

constexpr size_t kMagicAt = 0;
constexpr size_t kVersionAt = 4;
constexpr size_t kHeaderSizeAt = 6;
constexpr size_t kFingerprintAt = 8;
constexpr size_t kHashAt = 24;
constexpr size_t kLengthAt = 40;
constexpr size_t kChecksumAt = 48;
static_assert(kChecksumAt + sizeof(Hash128) == kBlockHeaderBytes);

template <typename T>
void Store(std::span<std::byte> header, size_t at, const T& v) {
  std::memcpy(header.data() + at, &v, sizeof(T));
}

template <typename T>
T Load(std::span<const std::byte> header, size_t at) {
  T v;
  std::memcpy(&v, header.data() + at, sizeof(T));
  return v;
}

Hash128 Checksum(std::span<const std::byte> header, std::span<const std::byte> payload) {
  const Hash128 fields = Hash128Of(header.data(), kChecksumAt);
  return Hash128Chained(fields, payload.data(), payload.size());
}

Status Defect(BlockDefect defect, const BlockHash& hash, const std::string& detail,
              BlockDefect* out) {
  *out = defect;
  return Status(StatusCode::kDataLoss, "KV block " + Hex128(hash) + ": " +
                                           std::string(BlockDefectName(defect)) + ": " + detail);
}

}  // namespace

std::string_view BlockDefectName(BlockDefect defect) {
  switch (defect) {
    case BlockDefect::kTruncated:
      return "truncated";
    case BlockDefect::kBadMagic:
      return "bad_magic";
    case BlockDefect::kBadVersion:
      return "bad_version";
    case BlockDefect::kWrongFingerprint:
      return "wrong_fingerprint";
    case BlockDefect::kWrongHash:
      return "wrong_hash";
    case BlockDefect::kWrongLength:
      return "wrong_length";
    case BlockDefect::kChecksum:
      return "checksum";
  }
  return "unknown";
}

void SealBlockFrame(const Hash128& fingerprint, const BlockHash& hash, std::span<std::byte> frame) {
  CHECK_GE(frame.size(), kBlockHeaderBytes);
  const std::span<std::byte> header = frame.first(kBlockHeaderBytes);
  Store(header, kMagicAt, kBlockMagic);
  Store(header, kVersionAt, kBlockFormatVersion);
  Store(header, kHeaderSizeAt, static_cast<uint16_t>(kBlockHeaderBytes));
  Store(header, kFingerprintAt, fingerprint);
  Store(header, kHashAt, hash);
  Store(header, kLengthAt, static_cast<uint64_t>(frame.size() - kBlockHeaderBytes));
  Store(header, kChecksumAt, Checksum(header, frame.subspan(kBlockHeaderBytes)));
}

std::string EncodeBlock(const Hash128& fingerprint, const BlockHash& hash,
                        std::span<const std::byte> payload) {
  std::string frame(kBlockHeaderBytes + payload.size(), '\0');
  if (!payload.empty())
    std::memcpy(frame.data() + kBlockHeaderBytes, payload.data(), payload.size());
  SealBlockFrame(fingerprint, hash, {reinterpret_cast<std::byte*>(frame.data()), frame.size()});
  return frame;
}

Status CheckBlockHeader(std::span<const std::byte> header, uint64_t frame_bytes,
                        const Hash128& fingerprint, const BlockHash& hash, uint64_t payload_bytes,
                        BlockDefect* defect) {
  if (header.size() < kBlockHeaderBytes || frame_bytes < kBlockHeaderBytes) {
    return Defect(BlockDefect::kTruncated, hash,
                  std::to_string(frame_bytes) + " bytes, shorter than the header", defect);
  }
  if (Load<uint32_t>(header, kMagicAt) != kBlockMagic)
    return Defect(BlockDefect::kBadMagic, hash, "not a KV block", defect);
  const auto version = Load<uint16_t>(header, kVersionAt);
  const auto header_size = Load<uint16_t>(header, kHeaderSizeAt);
  if (version != kBlockFormatVersion || header_size != kBlockHeaderBytes) {
    return Defect(BlockDefect::kBadVersion, hash,
                  "format " + std::to_string(version) + " with a " + std::to_string(header_size) +
                      "-byte header; this build reads format " +
                      std::to_string(kBlockFormatVersion),
                  defect);
  }
  const auto stored_fingerprint = Load<Hash128>(header, kFingerprintAt);
  if (!(stored_fingerprint == fingerprint)) {
    return Defect(BlockDefect::kWrongFingerprint, hash,
                  "written under KV fingerprint " + Hex128(stored_fingerprint) + ", not " +
                      Hex128(fingerprint),
                  defect);
  }
  const auto stored_hash = Load<Hash128>(header, kHashAt);
  if (!(stored_hash == hash))
    return Defect(BlockDefect::kWrongHash, hash, "holds block " + Hex128(stored_hash), defect);
  const auto length = Load<uint64_t>(header, kLengthAt);
  if (length != payload_bytes) {
    return Defect(BlockDefect::kWrongLength, hash,
                  "payload of " + std::to_string(length) + " bytes, expected " +
                      std::to_string(payload_bytes),
                  defect);
  }
  if (frame_bytes < kBlockHeaderBytes + length) {
    return Defect(BlockDefect::kTruncated, hash,
                  std::to_string(frame_bytes - kBlockHeaderBytes) + " of " +
                      std::to_string(length) + " payload bytes",
                  defect);
  }
  if (frame_bytes > kBlockHeaderBytes + length) {
    return Defect(
        BlockDefect::kWrongLength, hash,
        std::to_string(frame_bytes - kBlockHeaderBytes - length) + " bytes after the payload",
        defect);
  }
  return OkStatus();
}

Status CheckBlockChecksum(std::span<const std::byte> header, std::span<const std::byte> payload,
                          const BlockHash& hash, BlockDefect* defect) {
  CHECK_GE(header.size(), kBlockHeaderBytes);
  if (!(Checksum(header, payload) == Load<Hash128>(header, kChecksumAt)))
    return Defect(BlockDefect::kChecksum, hash, "checksum mismatch", defect);
  return OkStatus();
}

Status DecodeBlock(std::span<const std::byte> frame, const Hash128& fingerprint,
                   const BlockHash& hash, std::span<std::byte> out, BlockDefect* defect) {
  RETURN_IF_ERROR(CheckBlockHeader(frame, frame.size(), fingerprint, hash, out.size(), defect));
  const std::span<const std::byte> header = frame.first(kBlockHeaderBytes);
  const std::span<const std::byte> payload = frame.subspan(kBlockHeaderBytes);
  RETURN_IF_ERROR(CheckBlockChecksum(header, payload, hash, defect));
  if (!payload.empty()) std::memcpy(out.data(), payload.data(), payload.size());
  return OkStatus();
}

}  // namespace radixlm::kvtier
