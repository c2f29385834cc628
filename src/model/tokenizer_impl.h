// Tokenizer's internals, shared by tokenizer.cc (the encode/decode pipeline)
// and tokenizer_load.cc (building it from tokenizer.json). Not a public header.
#pragma once

#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "model/tokenizer.h"
#include "model/tokenizer_added.h"
#include "model/tokenizer_bpe.h"
#include "model/tokenizer_regex.h"

namespace radixlm::model {

enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

struct PreTokenizerStep {
  enum class Kind { kSplit, kByteLevel };
  Kind kind = Kind::kSplit;
  std::unique_ptr<Regex> regex;  // Split on a Regex; ByteLevel with use_regex
  std::string literal;           // Split on a String
  SplitBehavior behavior = SplitBehavior::kIsolated;
  bool invert = false;
  bool add_prefix_space = false;  // ByteLevel
};

struct TokenizerImpl {
  // Vocab and added tokens, indexed by id; holes (ids nobody uses) are "".
  std::vector<std::string> token_text;   // as written in tokenizer.json
  std::vector<std::string> token_bytes;  // what the id decodes to
  std::vector<bool> special;
  StringIdMap token_to_id;

  bool nfc = false;
  std::vector<PreTokenizerStep> pre_tokenizer;
  std::unique_ptr<BpeModel> bpe;

  std::deque<AddedToken> added;          // deque: the matchers point into it
  AddedTokenMatcher raw_matcher;         // normalized: false, matched in raw text
  AddedTokenMatcher normalized_matcher;  // normalized: true, matched after NFC

  // TemplateProcessing's single template around the text.
  std::vector<int32_t> template_prefix, template_suffix;

  void EncodeText(std::string_view text, std::vector<int32_t>* ids) const;
  void EncodeNormalized(std::string_view text, std::vector<int32_t>* ids) const;
  void PreTokenizeAndMerge(std::string_view text, std::vector<int32_t>* ids) const;

  static StatusOr<std::unique_ptr<TokenizerImpl>> Load(std::string_view json,
                                                       std::string_view name);
};

}  // namespace radixlm::model
