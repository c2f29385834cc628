// Tokenizer's internals, shared by tokenizer.cc (the encode/decode pipeline)
// and tokenizer_load.cc (building it from tokenizer.json). Not a public header.
#pragma once

#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/unicode.h"
#include "model/tokenizer.h"
#include "model/tokenizer_added.h"
#include "model/tokenizer_bpe.h"
#include "model/tokenizer_regex.h"

namespace radixlm::model {

enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

// A literal or regex pattern and what replaces its matches (Replace normalizer
// and decoder). Matches do not overlap; the replacement is literal.
struct Replacement {
  std::unique_ptr<Regex> regex;  // a Regex pattern, or null for `literal`
  std::string literal;           // a String pattern ("" matches nothing)
  std::string content;
  void Apply(std::string_view text, std::string* out) const;
};

struct NormalizerStep {
  enum class Kind { kUnicode, kLowercase, kPrepend, kReplace };
  Kind kind = Kind::kUnicode;
  UnicodeForm form = UnicodeForm::kNfc;  // kUnicode
  std::string prepend;                   // kPrepend
  Replacement replace;                   // kReplace
};

enum class PrependScheme { kAlways, kFirst, kNever };

struct PreTokenizerStep {
  enum class Kind { kSplit, kByteLevel, kMetaspace };
  Kind kind = Kind::kSplit;
  std::unique_ptr<Regex> regex;  // Split on a Regex; ByteLevel with use_regex
  std::string literal;           // Split on a String; Metaspace's replacement
  SplitBehavior behavior = SplitBehavior::kIsolated;
  bool invert = false;
  bool add_prefix_space = false;                          // ByteLevel
  PrependScheme prepend_scheme = PrependScheme::kAlways;  // Metaspace
  bool split = true;                                      // Metaspace
};

// One decoder step that works on each token alone (HF's decode_chain before a
// Fuse): applied to every token's text once at load time (token_bytes), and
// again with first = true to the first decoded token (Metaspace drops its
// replacement characters there instead of turning them into spaces).
struct DecoderStep {
  enum class Kind { kByteLevel, kByteFallback, kReplace, kStrip, kMetaspace };
  Kind kind = Kind::kByteLevel;
  Replacement replace;                                    // kReplace
  std::string content;                                    // kStrip's char; kMetaspace's replacement
  int start = 0, stop = 0;                                // kStrip
  PrependScheme prepend_scheme = PrependScheme::kAlways;  // kMetaspace
};

struct TokenizerImpl {
  // Vocab and added tokens, indexed by id; holes (ids nobody uses) are "".
  std::vector<std::string> token_text;   // as written in tokenizer.json
  std::vector<std::string> token_bytes;  // what the id decodes to (not first)
  std::vector<bool> special;
  StringIdMap token_to_id;

  std::vector<NormalizerStep> normalizer;
  std::vector<PreTokenizerStep> pre_tokenizer;
  std::unique_ptr<BpeModel> bpe;

  std::deque<AddedToken> added;          // deque: the matchers point into it
  AddedTokenMatcher raw_matcher;         // normalized: false, matched in raw text
  AddedTokenMatcher normalized_matcher;  // normalized: true, matched after normalizing

  // TemplateProcessing's single template around the text.
  std::vector<int32_t> template_prefix, template_suffix;

  // The decoder: per-token steps, then (after a Fuse) a Strip of the whole text.
  std::vector<DecoderStep> decoder;
  bool first_token_differs = false;  // a Metaspace step treats the first token apart
  bool space_between = false;        // no decoder: HF joins the tokens with spaces
  std::string strip_content;         // the fused Strip's char ("" when none)
  int strip_start = 0, strip_stop = 0;

  void EncodeText(std::string_view text, std::vector<int32_t>* ids) const;
  void EncodeNormalized(std::string_view text, bool at_start, std::vector<int32_t>* ids) const;
  void PreTokenizeAndMerge(std::string_view text, bool at_start, std::vector<int32_t>* ids) const;
  // `text` through the normalizer steps (into `out`); false when none changed it.
  bool Normalize(std::string_view text, std::string* out) const;
  // What token `text` decodes to when it is / is not the first decoded token.
  std::string DecodeToken(std::string_view text, bool first) const;
  // The bytes of `id` as a decoded token at the given position.
  std::string_view TokenBytesAt(int32_t id, bool first, std::string* scratch) const;

  static StatusOr<std::unique_ptr<TokenizerImpl>> Load(std::string_view json,
                                                       std::string_view name);
};

}  // namespace radixlm::model
