# The tokenizer library (Hugging Face tokenizer.json). Kept in its own file: the
# tokenizer's sources and third-party dependencies (PCRE2) are listed here only.
add_library(radixlm_tokenizer
  tokenizer.cc
)
target_link_libraries(radixlm_tokenizer PUBLIC radixlm_core)
