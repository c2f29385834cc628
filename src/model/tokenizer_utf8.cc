#include "model/tokenizer_utf8.h"

#include <array>

namespace radixlm::model {

namespace {

// Scans the sequence at s[i]: returns its length when valid, else 0 and sets
// `prefix` to how many bytes form a valid prefix of some sequence (0 for a byte
// that cannot start one). The second byte's range excludes overlongs (E0, F0),
// surrogates (ED) and code points past U+10FFFF (F4), as in Unicode table 3-7.
size_t ScanUtf8(std::string_view s, size_t i, size_t* prefix) {
  const auto b0 = static_cast<uint8_t>(s[i]);
  *prefix = 0;
  if (b0 < 0x80) return 1;
  size_t len;
  uint8_t lo = 0x80, hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  for (size_t k = 1; k < len; ++k) {
    *prefix = k;
    if (i + k >= s.size()) return 0;
    const auto b = static_cast<uint8_t>(s[i + k]);
    if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF)) return 0;
  }
  return len;
}

}  // namespace

size_t Utf8SequenceLength(std::string_view s, size_t i, bool* incomplete) {
  size_t prefix;
  const size_t len = ScanUtf8(s, i, &prefix);
  if (incomplete != nullptr) *incomplete = len == 0 && prefix > 0 && i + prefix == s.size();
  return len;
}

char32_t Utf8Decode(std::string_view s, size_t i, size_t len) {
  const auto b0 = static_cast<uint8_t>(s[i]);
  if (len == 1) return b0;
  char32_t cp = b0 & (0x7F >> len);
  for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<uint8_t>(s[i + k]) & 0x3F);
  return cp;
}

bool IsValidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    if (static_cast<uint8_t>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    const size_t len = Utf8SequenceLength(s, i);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

void AppendUtf8Lossy(std::string_view s, std::string* out) {
  out->reserve(out->size() + s.size());
  size_t run = 0;  // start of the pending run of valid bytes
  for (size_t i = 0; i < s.size();) {
    if (static_cast<uint8_t>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    size_t prefix;
    const size_t len = ScanUtf8(s, i, &prefix);
    if (len != 0) {
      i += len;
      continue;
    }
    out->append(s.data() + run, i - run);
    AppendUtf8(kReplacementChar, out);
    i += prefix > 0 ? prefix : 1;  // the maximal subpart becomes one U+FFFD
    run = i;
  }
  out->append(s.data() + run, s.size() - run);
}

bool IsUnicodeWhitespace(char32_t cp) {
  if (cp <= 0x20) return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D);
  if (cp < 0x85) return false;
  return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
         cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

namespace {

struct ByteMap {
  std::array<char32_t, 256> to_char;
  ByteMap() {
    char32_t next = 0x100;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      to_char[b] = printable ? static_cast<char32_t>(b) : next++;
    }
  }
};
const ByteMap& GetByteMap() {
  static const ByteMap map;
  return map;
}

}  // namespace

char32_t ByteToChar(uint8_t b) { return GetByteMap().to_char[b]; }

int CharToByte(char32_t cp) {
  if (cp < 0x100) {
    return GetByteMap().to_char[cp] == cp ? static_cast<int>(cp) : -1;
  }
  if (cp >= 0x100 + 68) return -1;
  // The 68 remapped bytes in increasing order.
  static const std::array<uint8_t, 68> kRemapped = [] {
    std::array<uint8_t, 68> r{};
    for (int b = 0; b < 256; ++b) {
      const char32_t c = GetByteMap().to_char[b];
      if (c >= 0x100) r[c - 0x100] = static_cast<uint8_t>(b);
    }
    return r;
  }();
  return kRemapped[cp - 0x100];
}

// The bytes a byte-level token stands for, or nullopt when some character of it
// is not one of the 256 byte characters.
std::optional<std::string> ByteLevelBytes(std::string_view token) {
  std::string bytes;
  bytes.reserve(token.size());
  for (size_t i = 0; i < token.size();) {
    const size_t len = Utf8SequenceLength(token, i);
    if (len == 0) return std::nullopt;
    const int b = CharToByte(Utf8Decode(token, i, len));
    if (b < 0) return std::nullopt;
    bytes.push_back(char(b));
    i += len;
  }
  return bytes;
}

}  // namespace radixlm::model
