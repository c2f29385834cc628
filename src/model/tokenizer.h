// Tokenizer: a Hugging Face tokenizer.json of the BPE kind, giving the same ids
// as the `tokenizers` library: byte-level BPE (GPT-2, Llama 3, Qwen2/2.5/3) and
// SentencePiece-style BPE (Llama 2, TinyLlama, Mistral, Gemma, Yi).
//
// Supported, and everything else refused by name with INVALID_ARGUMENT:
//   model          BPE; merges as "a b" strings or ["a", "b"] pairs;
//                  ignore_merges; byte_fallback (a character missing from the
//                  vocab becomes its <0xNN> byte tokens), unk_token, fuse_unk.
//                  With a ByteLevel pre-tokenizer the BPE's symbols are bytes,
//                  without one they are characters. Not dropout, subword
//                  prefixes/suffixes.
//   normalizer     null, NFC, NFD, NFKC, NFKD (utf8proc), Lowercase (full
//                  mapping), Prepend, Replace (String or Regex), Sequence.
//   pre_tokenizer  null, Sequence, Split (Regex or String pattern; Removed,
//                  Isolated, MergedWithPrevious, MergedWithNext, Contiguous;
//                  invert), ByteLevel (add_prefix_space, use_regex; trim_offsets
//                  only affects offsets, which radixlm does not produce), and
//                  Metaspace (replacement; prepend_scheme always / first / never,
//                  "first" meaning the piece at the start of the input; split;
//                  the legacy add_prefix_space: false means "never").
//   post_processor null, ByteLevel, TemplateProcessing (single template), Sequence.
//   decoder        null (the tokens' text joined with spaces, as HF does),
//                  ByteLevel, ByteFallback, Replace, Metaspace (as HF's Rust
//                  decoder: every replacement in the first token is dropped
//                  unless prepend_scheme is "never"), Strip, Fuse, Sequence.
//                  Steps before a Fuse work token by token; after a Fuse only a
//                  Strip (of the whole text) may follow.
//   added_tokens   matched in the raw text before normalization (normalized:
//                  false) or in the normalized text (normalized: true), longest
//                  first, with lstrip / rstrip / single_word; special tokens in
//                  the text are always parsed as special tokens. The pieces
//                  between them are normalized and pre-tokenized one by one
//                  (Llama 2's Prepend adds its "\u2581" to each).
//
// Invalid UTF-8 given to Encode: each maximal invalid subpart is replaced by
// U+FFFD first, exactly as WHATWG TextDecoder (transformers.js) and Python's
// bytes.decode("utf-8", "replace") do, so raw bytes encode like the string an
// HF front end would have received. Decode output is repaired the same way
// (HF's ByteLevel decoder uses String::from_utf8_lossy); a run of byte-fallback
// tokens that is not valid UTF-8 therefore gives one U+FFFD per maximal invalid
// subpart, as transformers.js's TextDecoder does, where HF's Rust ByteFallback
// turns every byte of such a run into U+FFFD, valid characters in it included
// (models emit such runs only by mistake; streaming needs the prefix-stable rule).
//
// Thread safety: a Tokenizer is immutable after loading except for an internal,
// locked word cache; Encode and Decode may run concurrently from any threads.
// An IncrementalDecoder belongs to one stream (one thread at a time) and must
// not outlive its Tokenizer.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace radixlm::model {

struct TokenizerImpl;  // tokenizer_impl.h

class Tokenizer {
 public:
  // Reads tokenizer.json; errors name the file.
  static StatusOr<std::unique_ptr<Tokenizer>> FromFile(const std::string& path);
  // Parses tokenizer.json text; `name` labels errors.
  static StatusOr<std::unique_ptr<Tokenizer>> FromJson(std::string_view json,
                                                       std::string_view name);
  ~Tokenizer();

  // The ids of `text`. Special tokens written in the text become their ids.
  // add_special_tokens applies the post-processor's template (e.g. Llama 3's
  // <|begin_of_text|> where tokenizer.json declares it), like HF's
  // encode(text, add_special_tokens=...).
  std::vector<int32_t> Encode(std::string_view text, bool add_special_tokens = false) const;

  // The text of `ids`, with special tokens left out if asked, through the
  // tokenizer.json's decoder. Ids outside the vocabulary are skipped, as in HF. No
  // clean_up_tokenization_spaces (that is a transformers option, off for the families supported
  // here except Llama 3's tokenizer_config, which radixlm does not apply).
  std::string Decode(std::span<const int32_t> ids, bool skip_special_tokens = false) const;

  // Largest id + 1 across the vocab and the added tokens.
  int64_t vocab_size() const;
  std::optional<int32_t> TokenToId(std::string_view token) const;
  // The token as written in tokenizer.json ("Ġthe"), or "" when out of range.
  std::string_view IdToToken(int32_t id) const;
  bool IsSpecial(int32_t id) const;

  // The raw bytes that `id` stands for in decoded text ("" when out of range):
  // a byte-fallback token's byte, a SentencePiece token with "\u2581" as spaces.
  // As any token but the first: the decoder may treat the first one apart.
  std::string_view TokenBytes(int32_t id) const;

 private:
  friend class IncrementalDecoder;
  explicit Tokenizer(std::unique_ptr<TokenizerImpl> impl);
  std::unique_ptr<TokenizerImpl> impl_;
};

// Streaming decode: feed generated ids one at a time, get back the text they
// complete. A character split across tokens (emoji, CJK; byte-level tokens or
// <0xNN> byte-fallback tokens) is held back until its last byte arrives, so no
// call returns half a UTF-8 character. Bytes that can no longer become a valid
// character come out as U+FFFD at once, so nothing is held forever; the
// concatenation of all Add() results and Flush() equals Decode() of all ids
// (the decoder's first-token rules and its Strip of the whole text included:
// a leading space Strip removes never shows; trailing copies that a Strip's
// stop may remove are held until more text follows, and Flush drops them).
// Flush also starts a new stream. `keep_special` lists special tokens decoded
// even when skip_special_tokens drops the others (a tool-call parser's markers).
class IncrementalDecoder {
 public:
  explicit IncrementalDecoder(const Tokenizer& tokenizer, bool skip_special_tokens = false,
                              std::vector<int32_t> keep_special = {});
  // The text newly completed by `id` (often "").
  std::string Add(int32_t id);
  // Whatever is still held (an incomplete sequence, as U+FFFD); then resets.
  std::string Flush();

 private:
  // The decoder's Strip of the whole text, applied as the text streams out.
  std::string Strip(std::string text, bool at_end);

  const Tokenizer& tokenizer_;
  bool skip_special_tokens_;
  std::vector<int32_t> keep_special_;
  bool first_ = true;    // no token decoded yet (Metaspace's first-token rule)
  int strip_left_;       // leading copies of the Strip content still to drop
  std::string held_;     // trailing copies of it that may yet be stripped
  std::string pending_;  // at most 3 bytes: a proper prefix of one character
};

// The text of a minimal byte-level tokenizer.json for generated models
// (`radixlm make-model`): the 256 byte tokens in GPT-2's byte-to-unicode
// spelling as ids 0..255, no merges, ByteLevel pre-tokenizer and decoder, then
// `special_tokens` as ids 256.. in order (special: true). Hugging Face
// transformers' PreTrainedTokenizerFast loads it.
std::string MakeByteLevelTokenizerJson(const std::vector<std::string>& special_tokens);

}  // namespace radixlm::model
