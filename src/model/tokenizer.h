// Tokenizer: a Hugging Face tokenizer.json of the byte-level BPE kind (GPT-2,
// Llama 3, Qwen2/2.5/3), giving the same ids as the `tokenizers` library.
//
// Supported, and everything else refused by name with INVALID_ARGUMENT:
//   model          BPE over byte-level symbols; merges as "a b" strings or
//                  ["a", "b"] pairs; ignore_merges. Not byte_fallback, dropout,
//                  subword prefixes/suffixes (SentencePiece-style BPE, Llama 2).
//   normalizer     null, NFC, or a Sequence of NFC.
//   pre_tokenizer  Sequence, Split (Regex or String pattern; Removed, Isolated,
//                  MergedWithPrevious, MergedWithNext, Contiguous; invert), and
//                  ByteLevel (add_prefix_space, use_regex; trim_offsets only
//                  affects offsets, which radixlm does not produce).
//   post_processor null, ByteLevel, TemplateProcessing (single template), Sequence.
//   decoder        ByteLevel (or a Sequence holding only ByteLevel).
//   added_tokens   matched in the raw text before normalization (normalized:
//                  false) or in the normalized text (normalized: true), longest
//                  first, with lstrip / rstrip / single_word; special tokens in
//                  the text are always parsed as special tokens.
//
// Invalid UTF-8 given to Encode: each maximal invalid subpart is replaced by
// U+FFFD first, exactly as WHATWG TextDecoder (transformers.js) and Python's
// bytes.decode("utf-8", "replace") do, so raw bytes encode like the string an
// HF front end would have received. Decode output is repaired the same way
// (HF's ByteLevel decoder uses String::from_utf8_lossy).
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

  // The text of `ids`, with special tokens left out if asked. Ids outside the
  // vocabulary are skipped, as in HF. No clean_up_tokenization_spaces (that is a
  // transformers option, off for the families supported here except Llama 3's
  // tokenizer_config, which radixlm does not apply).
  std::string Decode(std::span<const int32_t> ids, bool skip_special_tokens = false) const;

  // Largest id + 1 across the vocab and the added tokens.
  int64_t vocab_size() const;
  std::optional<int32_t> TokenToId(std::string_view token) const;
  // The token as written in tokenizer.json ("Ġthe"), or "" when out of range.
  std::string_view IdToToken(int32_t id) const;
  bool IsSpecial(int32_t id) const;

  // The raw bytes that `id` stands for in decoded text ("" when out of range).
  std::string_view TokenBytes(int32_t id) const;

 private:
  explicit Tokenizer(std::unique_ptr<TokenizerImpl> impl);
  std::unique_ptr<TokenizerImpl> impl_;
};

// Streaming decode: feed generated ids one at a time, get back the text they
// complete. A character split across tokens (emoji, CJK) is held back until its
// last byte arrives, so no call returns half a UTF-8 character. Bytes that can
// no longer become a valid character come out as U+FFFD at once, so nothing is
// held forever; the concatenation of all Add() results and Flush() equals
// Decode() of all ids.
class IncrementalDecoder {
 public:
  explicit IncrementalDecoder(const Tokenizer& tokenizer, bool skip_special_tokens = false);
  // The text newly completed by `id` (often "").
  std::string Add(int32_t id);
  // Whatever is still held (an incomplete sequence, as U+FFFD); then resets.
  std::string Flush();

 private:
  const Tokenizer& tokenizer_;
  bool skip_special_tokens_;
  std::string pending_;  // at most 3 bytes: a proper prefix of one character
};

// The text of a minimal byte-level tokenizer.json for generated models
// (`radixlm make-model`): the 256 byte tokens in GPT-2's byte-to-unicode
// spelling as ids 0..255, no merges, ByteLevel pre-tokenizer and decoder, then
// `special_tokens` as ids 256.. in order (special: true). Hugging Face
// transformers' PreTrainedTokenizerFast loads it.
std::string MakeByteLevelTokenizerJson(const std::vector<std::string>& special_tokens);

}  // namespace radixlm::model
