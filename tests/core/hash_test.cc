#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "core/hash.h"

namespace radixlm {
namespace {

std::vector<unsigned char> Concat(const Hash128& prefix, const std::vector<unsigned char>& data) {
  std::vector<unsigned char> out(sizeof(Hash128) + data.size());
  std::memcpy(out.data(), &prefix, sizeof(Hash128));
  if (!data.empty()) std::memcpy(out.data() + sizeof(Hash128), data.data(), data.size());
  return out;
}

std::vector<unsigned char> Bytes(size_t n, unsigned seed) {
  std::vector<unsigned char> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<unsigned char>((i * 131 + seed * 7) & 0xff);
  return v;
}

TEST(HashTest, Hash64IsDeterministic) {
  EXPECT_EQ(Hash64("radixlm"), Hash64("radixlm"));
  std::string s = "radixlm";
  EXPECT_EQ(Hash64(s.data(), s.size()), Hash64("radixlm"));
  EXPECT_EQ(Hash64("radixlm", 9), Hash64("radixlm", 9));
}

TEST(HashTest, Hash64DependsOnContentLengthAndSeed) {
  EXPECT_NE(Hash64("radixlm"), Hash64("radixln"));
  EXPECT_NE(Hash64("radixlm"), Hash64("radixl"));
  EXPECT_NE(Hash64(""), Hash64(std::string_view("\0", 1)));
  EXPECT_NE(Hash64("radixlm", 0), Hash64("radixlm", 1));
  std::set<uint64_t> seen;
  for (uint64_t seed = 0; seed < 64; ++seed) seen.insert(Hash64("page", seed));
  EXPECT_EQ(seen.size(), 64u);
}

TEST(HashTest, Hash128OfIsDeterministicAndSeedSensitive) {
  std::vector<unsigned char> data = Bytes(100, 1);
  Hash128 a = Hash128Of(data.data(), data.size());
  EXPECT_EQ(a, Hash128Of(data.data(), data.size()));
  EXPECT_FALSE(a == Hash128Of(data.data(), data.size(), 1));
  data[99] ^= 1;
  EXPECT_FALSE(a == Hash128Of(data.data(), data.size()));
  EXPECT_NE(a.lo, a.hi);
}

TEST(HashTest, ChainedIsHashOfPrefixThenData) {
  std::vector<unsigned char> data = Bytes(64, 3);
  Hash128 prefix{0x0123456789abcdefULL, 0xfedcba9876543210ULL};
  std::vector<unsigned char> joined = Concat(prefix, data);
  EXPECT_EQ(Hash128Chained(prefix, data.data(), data.size()),
            Hash128Of(joined.data(), joined.size()));
  // Empty data hashes the prefix alone.
  EXPECT_EQ(Hash128Chained(prefix, data.data(), 0), Hash128Of(&prefix, sizeof(prefix)));
}

TEST(HashTest, ChainedAcceptsNullEmptyData) {
  // An empty span's data() may be null; under UBSan a memcpy from it would fail.
  Hash128 prefix{7, 8};
  EXPECT_EQ(Hash128Chained(prefix, nullptr, 0), Hash128Of(&prefix, sizeof(prefix)));
}

TEST(HashTest, ChainedOneShotAndStreamingPathsAgree) {
  // 4096 bytes in all fit the stack buffer; one more byte takes the streaming path.
  for (size_t n : {size_t{4080}, size_t{4081}, size_t{10000}}) {
    std::vector<unsigned char> data = Bytes(n, 5);
    Hash128 prefix{42, 43};
    std::vector<unsigned char> joined = Concat(prefix, data);
    EXPECT_EQ(Hash128Chained(prefix, data.data(), data.size()),
              Hash128Of(joined.data(), joined.size()))
        << "n=" << n;
  }
}

TEST(HashTest, ChainedDiffersFromOtherPrefixes) {
  std::vector<unsigned char> data = Bytes(64, 7);
  Hash128 prefix{1, 2};
  Hash128 chained = Hash128Chained(prefix, data.data(), data.size());
  Hash128 other{3, 4};
  std::vector<unsigned char> joined = Concat(other, data);
  EXPECT_FALSE(chained == Hash128Of(joined.data(), joined.size()));
  EXPECT_FALSE(chained == Hash128Of(data.data(), data.size()));
}

TEST(HashTest, ChainedDependsOnEveryBitOfThePrefix) {
  std::vector<unsigned char> data = Bytes(64, 9);
  Hash128 prefix{0x1111111111111111ULL, 0x2222222222222222ULL};
  Hash128 base = Hash128Chained(prefix, data.data(), data.size());
  std::set<std::pair<uint64_t, uint64_t>> seen = {{base.lo, base.hi}};
  for (int bit = 0; bit < 128; ++bit) {
    Hash128 flipped = prefix;
    if (bit < 64) {
      flipped.lo ^= uint64_t{1} << bit;
    } else {
      flipped.hi ^= uint64_t{1} << (bit - 64);
    }
    Hash128 h = Hash128Chained(flipped, data.data(), data.size());
    EXPECT_FALSE(h == base) << "bit " << bit;
    seen.insert({h.lo, h.hi});
  }
  EXPECT_EQ(seen.size(), 129u);
}

TEST(HashTest, ChainIsOrderSensitive) {
  std::vector<unsigned char> a = Bytes(16, 1), b = Bytes(16, 2);
  Hash128 root{};
  Hash128 ab = Hash128Chained(Hash128Chained(root, a.data(), a.size()), b.data(), b.size());
  Hash128 ba = Hash128Chained(Hash128Chained(root, b.data(), b.size()), a.data(), a.size());
  EXPECT_FALSE(ab == ba);
}

TEST(HashTest, MixBitsIsABijectionOnSamples) {
  EXPECT_EQ(MixBits(0), 0u);  // the fmix64 finalizer fixes zero
  std::set<uint64_t> seen;
  for (uint64_t i = 1; i <= 1000; ++i) seen.insert(MixBits(i));
  EXPECT_EQ(seen.size(), 1000u);
  EXPECT_NE(MixBits(1), 1u);
  EXPECT_EQ(MixBits(12345), MixBits(12345));
}

TEST(HashTest, Hex128WritesTheNumberAndParsesBack) {
  const Hash128 h{0x0123456789abcdefULL, 0xfedcba9876543210ULL};
  EXPECT_EQ(Hex128(h), "fedcba98765432100123456789abcdef");
  Hash128 back;
  ASSERT_TRUE(ParseHex128(Hex128(h), &back));
  EXPECT_EQ(back, h);
  ASSERT_TRUE(ParseHex128("FEDCBA98765432100123456789ABCDEF", &back));
  EXPECT_EQ(back, h);
  EXPECT_EQ(Hex128(Hash128{}), std::string(32, '0'));
  EXPECT_FALSE(ParseHex128("fedcba98765432100123456789abcde", &back));    // 31 digits
  EXPECT_FALSE(ParseHex128("fedcba98765432100123456789abcdeg", &back));   // not hex
  EXPECT_FALSE(ParseHex128("fedcba98765432100123456789abcdef0", &back));  // 33 digits
}

}  // namespace
}  // namespace radixlm
