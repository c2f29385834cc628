// PageBitmap: one bit per pool page (which pages a cache holds). O(1) test and
// set; 1 bit of memory per page.
#pragma once

#include <cstdint>
#include <vector>

#include "kvcache/types.h"

namespace radixlm::kvcache {

class PageBitmap {
 public:
  explicit PageBitmap(int64_t num_pages) : words_((num_pages + 63) / 64, 0) {}

  bool test(PageId page) const { return (words_[page >> 6] >> (page & 63)) & 1; }
  void set(PageId page, bool value) {
    uint64_t bit = uint64_t{1} << (page & 63);
    if (value) {
      words_[page >> 6] |= bit;
    } else {
      words_[page >> 6] &= ~bit;
    }
  }
  int64_t count() const {
    int64_t n = 0;
    for (uint64_t word : words_) n += __builtin_popcountll(word);
    return n;
  }
  size_t MemoryBytes() const { return words_.capacity() * sizeof(uint64_t); }

 private:
  std::vector<uint64_t> words_;
};

}  // namespace radixlm::kvcache
