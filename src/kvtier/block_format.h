// The stored form of a KV block: one full page of every layer (its bytes as the
// backend lays them out, block_bytes of them, given by the caller) behind a
// 64-byte header. The same frame is a file of the directory store and a value
// of the Redis store.
//
// Header (little-endian):
//   offset  size  field
//        0     4  magic "RLKB"
//        4     2  format version (kBlockFormatVersion)
//        6     2  header size (64)
//        8    16  KV fingerprint digest (kv_fingerprint.h), lo then hi
//       24    16  block hash (kvcache/block_hash.h), lo then hi
//       40     8  payload length in bytes
//       48    16  checksum: Hash128Chained(Hash128Of(bytes 0..48), payload),
//                 xxh3-128 over the header fields and the payload, lo then hi
//
// Decoding verifies everything before a byte is served: a frame shorter than
// its header says (torn, truncated), a bad magic or version, another
// fingerprint, another block's hash (a file under the wrong name), a length
// other than expected, trailing bytes, or a checksum mismatch is a DATA_LOSS
// Status naming the defect, which the stores count and treat as a miss.
// Verifying costs one xxh3-128 pass over the block (~30 GB/s: ~70 us for 2 MiB).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "core/hash.h"
#include "core/status.h"
#include "kvcache/types.h"

namespace radixlm::kvtier {

using kvcache::BlockHash;

inline constexpr size_t kBlockHeaderBytes = 64;
inline constexpr uint32_t kBlockMagic = 0x424b4c52;  // "RLKB" in file order
inline constexpr uint16_t kBlockFormatVersion = 1;

// Why a stored block was refused.
enum class BlockDefect : uint8_t {
  kTruncated,         // shorter than its header or its declared payload
  kBadMagic,          // not a block
  kBadVersion,        // a format version (or header size) this build does not read
  kWrongFingerprint,  // KV of another model, format or geometry
  kWrongHash,         // another block's bytes (a file under the wrong name)
  kWrongLength,       // payload length other than the store's, or trailing bytes
  kChecksum,          // corrupt header or payload
};
inline constexpr int kBlockDefectCount = 7;
std::string_view BlockDefectName(BlockDefect defect);

// Writes the header of `frame` (kBlockHeaderBytes + payload bytes, the payload
// already in place after the header): fields and checksum.
void SealBlockFrame(const Hash128& fingerprint, const BlockHash& hash, std::span<std::byte> frame);
// A sealed frame holding a copy of `payload`.
std::string EncodeBlock(const Hash128& fingerprint, const BlockHash& hash,
                        std::span<const std::byte> payload);

// Checks the header's fields (all but the checksum) for a frame of
// `frame_bytes` in all that should hold `payload_bytes` of block `hash` under
// `fingerprint`. On failure *defect names why.
Status CheckBlockHeader(std::span<const std::byte> header, uint64_t frame_bytes,
                        const Hash128& fingerprint, const BlockHash& hash, uint64_t payload_bytes,
                        BlockDefect* defect);
// Checks the checksum of a header (already checked by CheckBlockHeader) and its
// payload, for readers that read the payload in place.
Status CheckBlockChecksum(std::span<const std::byte> header, std::span<const std::byte> payload,
                          const BlockHash& hash, BlockDefect* defect);
// Both checks on a whole frame, then copies the payload into `out` (whose size
// is the expected payload length). On failure `out` is unchanged.
Status DecodeBlock(std::span<const std::byte> frame, const Hash128& fingerprint,
                   const BlockHash& hash, std::span<std::byte> out, BlockDefect* defect);

inline std::span<const std::byte> AsBytes(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

}  // namespace radixlm::kvtier
