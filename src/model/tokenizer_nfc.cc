#include "model/tokenizer_nfc.h"

#include <algorithm>
#include <unordered_map>
#include <utility>
#include <vector>

#include "model/tokenizer_utf8.h"

namespace radixlm::model {
namespace {

// Hangul syllables decompose and compose algorithmically (Unicode 3.12).
constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr int kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount,
              kSCount = kLCount * kNCount;

class NfcTables {
 public:
  NfcTables() : not_inert_((0x110000 + 63) / 64) {
    using namespace nfc_data;
    for (int i = 0; i < kCombiningClassSize; ++i) {
      for (uint32_t cp = kCombiningClass[i].first; cp <= kCombiningClass[i].last; ++cp) {
        ccc_[cp] = static_cast<uint8_t>(kCombiningClass[i].ccc);
        Mark(cp);
      }
    }
    std::unordered_map<char32_t, bool> primary;  // composites NFC leaves alone
    for (int i = 0; i < kCompositionSize; ++i) {
      compose_[Key(kComposition[i].first, kComposition[i].second)] = kComposition[i].composite;
      primary[kComposition[i].composite] = true;
      Mark(kComposition[i].second);  // a second can merge into what precedes it
    }
    for (int i = 0; i < kDecompositionSize; ++i) {
      decomp_[kDecomposition[i].cp] = {kDecomposition[i].first, kDecomposition[i].second};
      // Singletons and exclusions change under NFC; primary composites do not
      // (their decomposition composes back), so those stay inert.
      if (!primary.count(kDecomposition[i].cp)) Mark(kDecomposition[i].cp);
    }
    // Hangul syllables are primary composites too; the jamo that compose are not.
    for (char32_t cp = kVBase; cp < kVBase + kVCount; ++cp) Mark(cp);
    for (char32_t cp = kTBase + 1; cp < kTBase + kTCount; ++cp) Mark(cp);
  }

  // Inert: a starter that NFC keeps and that never merges into what precedes it.
  bool Inert(char32_t cp) const { return !((not_inert_[cp >> 6] >> (cp & 63)) & 1); }
  uint8_t Ccc(char32_t cp) const {
    auto it = ccc_.find(cp);
    return it == ccc_.end() ? 0 : it->second;
  }

  void Decompose(char32_t cp, std::u32string* out) const {
    if (cp >= kSBase && cp < kSBase + kSCount) {
      const int s = cp - kSBase;
      out->push_back(kLBase + s / kNCount);
      out->push_back(kVBase + (s % kNCount) / kTCount);
      if (s % kTCount != 0) out->push_back(kTBase + s % kTCount);
      return;
    }
    auto it = decomp_.find(cp);
    if (it == decomp_.end()) {
      out->push_back(cp);
      return;
    }
    Decompose(it->second.first, out);
    if (it->second.second != 0) Decompose(it->second.second, out);
  }

  // The primary composite of (a, b), or 0.
  char32_t Compose(char32_t a, char32_t b) const {
    if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount) {
      return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
    }
    if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase &&
        b < kTBase + kTCount) {
      return a + (b - kTBase);
    }
    auto it = compose_.find(Key(a, b));
    return it == compose_.end() ? 0 : it->second;
  }

 private:
  static uint64_t Key(char32_t a, char32_t b) { return (uint64_t{a} << 32) | b; }
  void Mark(char32_t cp) { not_inert_[cp >> 6] |= uint64_t{1} << (cp & 63); }

  std::vector<uint64_t> not_inert_;  // bit set: may change under NFC
  std::unordered_map<char32_t, uint8_t> ccc_;
  std::unordered_map<char32_t, std::pair<char32_t, char32_t>> decomp_;
  std::unordered_map<uint64_t, char32_t> compose_;
};

const NfcTables& Tables() {
  static const NfcTables tables;
  return tables;
}

}  // namespace

namespace {

// A code point NFC cannot change and that nothing before it can combine with:
// every code point below U+0300 (NFC-stable, a starter, never a composition's
// second), or one the tables mark inert. Text splits before such a point into
// parts that normalize independently.
bool IsBoundary(const NfcTables& t, char32_t cp) { return cp < 0x300 || t.Inert(cp); }

// Full NFC of `text` appended to `out`: decompose, order marks, recompose.
void NormalizeSlow(const NfcTables& t, std::string_view text, std::string* out) {
  std::u32string cps;
  cps.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const size_t len = Utf8SequenceLength(text, i);
    if (len == 0) {  // precondition broken: keep going rather than loop forever
      t.Decompose(kReplacementChar, &cps);
      ++i;
      continue;
    }
    t.Decompose(Utf8Decode(text, i, len), &cps);
    i += len;
  }
  for (size_t i = 0; i < cps.size();) {
    if (t.Ccc(cps[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < cps.size() && t.Ccc(cps[j]) != 0) ++j;
    std::stable_sort(cps.begin() + i, cps.begin() + j,
                     [&](char32_t a, char32_t b) { return t.Ccc(a) < t.Ccc(b); });
    i = j;
  }
  // Canonical composition: each character joins the last starter unless a
  // character of the same or higher class (or a starter) sits between them.
  size_t starter = std::u32string::npos, w = 0;
  int last_ccc = -1;
  for (size_t r = 0; r < cps.size(); ++r) {
    const char32_t c = cps[r];
    const int ccc = t.Ccc(c);
    if (starter != std::u32string::npos &&
        (last_ccc < ccc || (last_ccc == 0 && w == starter + 1))) {
      if (char32_t composite = t.Compose(cps[starter], c); composite != 0) {
        cps[starter] = composite;
        continue;
      }
    }
    if (ccc == 0) {
      starter = w;
      last_ccc = 0;
    } else {
      last_ccc = ccc;
    }
    cps[w++] = c;
  }
  cps.resize(w);
  for (size_t i = 0; i < w; ++i) AppendUtf8(cps[i], out);
}

// Calls on_part(begin, end, needs_work) over consecutive parts of `text`.
template <typename F>
bool ScanParts(std::string_view text, F on_part) {
  const NfcTables* t = nullptr;
  size_t done = 0, last_boundary = 0;
  for (size_t i = 0; i < text.size();) {
    // U+0300 is the first code point NFC can touch; its lead byte is 0xCC.
    if (uint8_t(text[i]) < 0xCC) {
      if ((uint8_t(text[i]) & 0xC0) != 0x80) last_boundary = i;
      ++i;
      continue;
    }
    if (t == nullptr) t = &Tables();
    size_t len = Utf8SequenceLength(text, i);
    if (len == 0) len = 1;
    if (len > 1 && IsBoundary(*t, Utf8Decode(text, i, len))) {
      last_boundary = i;
      i += len;
      continue;
    }
    // A part that needs work: from the boundary before it to the next boundary.
    size_t j = i + len;
    while (j < text.size()) {
      size_t n = Utf8SequenceLength(text, j);
      if (n == 0) n = 1;
      if (n == 1 ? uint8_t(text[j]) < 0x80 : IsBoundary(*t, Utf8Decode(text, j, n))) break;
      j += n;
    }
    const size_t begin = std::max(last_boundary, done);
    if (!on_part(done, begin, false) || !on_part(begin, j, true)) return false;
    done = last_boundary = i = j;
  }
  return on_part(done, text.size(), false);
}

}  // namespace

bool NfcQuickCheck(std::string_view text) {
  return ScanParts(text, [](size_t, size_t, bool needs_work) { return !needs_work; });
}

void NfcNormalize(std::string_view text, std::string* out) {
  out->clear();
  out->reserve(text.size());
  ScanParts(text, [&](size_t begin, size_t end, bool needs_work) {
    if (needs_work) {
      NormalizeSlow(Tables(), text.substr(begin, end - begin), out);
    } else {
      out->append(text.data() + begin, end - begin);
    }
    return true;
  });
}

std::string_view NfcUnicodeVersion() { return nfc_data::kUnicodeVersion; }

}  // namespace radixlm::model
