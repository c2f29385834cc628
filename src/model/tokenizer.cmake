# The tokenizer library (Hugging Face tokenizer.json). Kept in its own file: the
# tokenizer's sources and third-party dependencies (PCRE2) are listed here only;
# Unicode normalization and case mapping (utf8proc) come from core/unicode.h.
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
add_library(radixlm_tokenizer
  tokenizer.cc
  tokenizer_added.cc
  tokenizer_bpe.cc
  tokenizer_load.cc
  tokenizer_regex.cc
  tokenizer_utf8.cc
)
target_link_libraries(radixlm_tokenizer PUBLIC radixlm_core
  PRIVATE PkgConfig::PCRE2 simdjson::simdjson)
