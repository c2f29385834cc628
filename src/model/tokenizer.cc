#include "model/tokenizer.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <utility>

#include "model/tokenizer_impl.h"
#include "model/tokenizer_utf8.h"

namespace radixlm::model {

namespace {

// Applies one Split step to `pieces`, following HF's NormalizedString::split:
// the pattern's matches and the gaps between them cover each piece, `invert`
// swaps which is which, the behavior decides where matches go, and empty pieces
// are dropped.
void SplitPieces(const PreTokenizerStep& step, std::vector<std::string_view>* pieces,
                 std::vector<std::string_view>* out) {
  thread_local std::vector<Regex::Span> matches;
  out->clear();
  for (std::string_view piece : *pieces) {
    matches.clear();
    if (step.regex != nullptr) {
      step.regex->FindAll(piece, &matches);
    } else if (!step.literal.empty()) {
      for (size_t at = piece.find(step.literal); at != std::string_view::npos;
           at = piece.find(step.literal, at + step.literal.size())) {
        matches.emplace_back(at, at + step.literal.size());
      }
    }
    // (span, is_match) runs covering the piece.
    size_t prev = 0;
    bool prev_match = false;
    const size_t first_out = out->size();
    auto emit = [&](size_t b, size_t e, bool is_match) {
      if (step.invert) is_match = !is_match;
      const std::string_view s = piece.substr(b, e - b);
      switch (step.behavior) {
        case SplitBehavior::kRemoved:
          if (!is_match) out->push_back(s);
          break;
        case SplitBehavior::kIsolated:
          out->push_back(s);
          break;
        case SplitBehavior::kMergedWithPrevious:
          if (is_match && !prev_match && out->size() > first_out) {
            out->back() = std::string_view(out->back().data(), out->back().size() + s.size());
          } else {
            out->push_back(s);
          }
          break;
        case SplitBehavior::kMergedWithNext:
          // A match joins the next run: handled by extending when the next arrives.
          if (!is_match && prev_match && out->size() > first_out) {
            out->back() = std::string_view(out->back().data(), out->back().size() + s.size());
          } else {
            out->push_back(s);
          }
          break;
        case SplitBehavior::kContiguous:
          if (is_match == prev_match && out->size() > first_out) {
            out->back() = std::string_view(out->back().data(), out->back().size() + s.size());
          } else {
            out->push_back(s);
          }
          break;
      }
      prev_match = is_match;
    };
    for (const auto& [b, e] : matches) {
      if (b > prev) emit(prev, b, false);
      emit(b, e, true);
      prev = e;
    }
    if (prev < piece.size()) emit(prev, piece.size(), false);
  }
  out->erase(std::remove_if(out->begin(), out->end(), [](std::string_view s) { return s.empty(); }),
             out->end());
}

}  // namespace

void Replacement::Apply(std::string_view text, std::string* out) const {
  out->clear();
  size_t prev = 0;
  auto emit = [&](size_t b, size_t e) {
    out->append(text.substr(prev, b - prev));
    *out += content;
    prev = e;
  };
  if (regex != nullptr) {
    thread_local std::vector<Regex::Span> matches;
    matches.clear();
    regex->FindAll(text, &matches);
    for (const auto& [b, e] : matches) {
      if (e > b) emit(b, e);  // an empty match replaces nothing
    }
  } else if (!literal.empty()) {
    for (size_t at = text.find(literal); at != std::string_view::npos;
         at = text.find(literal, at + literal.size())) {
      emit(at, at + literal.size());
    }
  }
  out->append(text.substr(prev));
}

bool TokenizerImpl::Normalize(std::string_view text, std::string* out) const {
  if (normalizer.empty()) return false;
  std::string scratch;
  out->assign(text);
  for (const NormalizerStep& step : normalizer) {
    switch (step.kind) {
      case NormalizerStep::Kind::kUnicode:
        UnicodeNormalize(step.form, *out, &scratch);
        break;
      case NormalizerStep::Kind::kLowercase: {
        std::u32string cps;
        for (size_t i = 0; i < out->size();) {
          const size_t len = std::max<size_t>(Utf8SequenceLength(*out, i), 1);  // valid: 1+
          cps += Utf8Decode(*out, i, len);
          i += len;
        }
        scratch.clear();
        for (char32_t c : Lowercase(cps)) AppendUtf8(c, &scratch);
        break;
      }
      case NormalizerStep::Kind::kPrepend:
        // HF's NormalizedString::prepend leaves an empty string empty.
        if (out->empty()) continue;
        scratch = step.prepend + *out;
        break;
      case NormalizerStep::Kind::kReplace:
        step.replace.Apply(*out, &scratch);
        break;
    }
    std::swap(*out, scratch);
  }
  return true;
}

void TokenizerImpl::PreTokenizeAndMerge(std::string_view text, bool at_start,
                                        std::vector<int32_t>* ids) const {
  thread_local std::vector<std::string_view> pieces, next;
  thread_local std::deque<std::string> rewritten;  // pieces given new text
  pieces.assign(1, text);
  rewritten.clear();
  for (const PreTokenizerStep& step : pre_tokenizer) {
    switch (step.kind) {
      case PreTokenizerStep::Kind::kSplit:
        SplitPieces(step, &pieces, &next);
        std::swap(pieces, next);
        break;
      case PreTokenizerStep::Kind::kByteLevel:
        // The byte-to-char mapping itself is implicit: the BPE works on bytes.
        if (step.add_prefix_space) {
          for (std::string_view& p : pieces) {
            if (!p.empty() && p[0] != ' ') {
              std::string& spaced = rewritten.emplace_back(1, ' ');
              spaced += p;
              p = spaced;
            }
          }
        }
        if (step.regex != nullptr) {
          SplitPieces(step, &pieces, &next);
          std::swap(pieces, next);
        }
        break;
      case PreTokenizerStep::Kind::kMetaspace: {
        // HF's Metaspace: spaces become the replacement; the replacement is
        // prepended (always, or only to the piece at the start of the input
        // with "first") unless the piece already starts with it; with split,
        // each replacement starts a new piece (MergedWithNext).
        const std::string& rep = step.literal;
        next.clear();
        for (std::string_view p : pieces) {
          std::string& r = rewritten.emplace_back();
          for (char c : p) {
            if (c == ' ') {
              r += rep;
            } else {
              r += c;
            }
          }
          const bool first = at_start && p.data() == text.data();
          if (!r.empty() && r.compare(0, rep.size(), rep) != 0 &&
              (step.prepend_scheme == PrependScheme::kAlways ||
               (step.prepend_scheme == PrependScheme::kFirst && first))) {
            r.insert(0, rep);
          }
          const std::string_view whole = r;
          if (!step.split) {
            if (!whole.empty()) next.push_back(whole);
            continue;
          }
          size_t begin = 0;
          for (size_t at = whole.find(rep, 1); at != std::string_view::npos;
               at = whole.find(rep, at + rep.size())) {
            next.push_back(whole.substr(begin, at - begin));
            begin = at;
          }
          if (begin < whole.size()) next.push_back(whole.substr(begin));
        }
        std::swap(pieces, next);
        break;
      }
    }
  }
  for (std::string_view p : pieces) bpe->Encode(p, ids);
}

void TokenizerImpl::EncodeNormalized(std::string_view text, bool at_start,
                                     std::vector<int32_t>* ids) const {
  if (normalized_matcher.empty()) {
    PreTokenizeAndMerge(text, at_start, ids);
    return;
  }
  std::vector<AddedTokenMatcher::Piece> pieces;
  normalized_matcher.Split(text, &pieces);
  for (const auto& p : pieces) {
    if (p.id >= 0) {
      ids->push_back(p.id);
    } else {
      PreTokenizeAndMerge(text.substr(p.begin, p.end - p.begin), at_start && p.begin == 0, ids);
    }
  }
}

void TokenizerImpl::EncodeText(std::string_view text, std::vector<int32_t>* ids) const {
  auto encode_segment = [&](std::string_view segment, bool at_start) {
    std::string normalized;
    if (Normalize(segment, &normalized)) {
      EncodeNormalized(normalized, at_start, ids);
    } else {
      EncodeNormalized(segment, at_start, ids);
    }
  };
  if (raw_matcher.empty()) {
    encode_segment(text, true);
    return;
  }
  std::vector<AddedTokenMatcher::Piece> pieces;
  raw_matcher.Split(text, &pieces);
  for (const auto& p : pieces) {
    if (p.id >= 0) {
      ids->push_back(p.id);
    } else {
      encode_segment(text.substr(p.begin, p.end - p.begin), p.begin == 0);
    }
  }
}

namespace {

// Token text "<0xNN>" -> NN, else -1 (HF's ByteFallback test: six characters).
int ByteFallbackValue(std::string_view t) {
  if (t.size() != 6 || t.substr(0, 3) != "<0x" || t[5] != '>') return -1;
  int v = 0;
  for (char c : t.substr(3, 2)) {
    v *= 16;
    if (c >= '0' && c <= '9') {
      v += c - '0';
    } else if (c >= 'A' && c <= 'F') {
      v += c - 'A' + 10;
    } else if (c >= 'a' && c <= 'f') {
      v += c - 'a' + 10;
    } else {
      return -1;
    }
  }
  return v;
}

// Removes up to `start` copies of `content` from the front of `s` and up to
// `stop` from the back (HF's Strip decoder).
void StripCopies(std::string* s, std::string_view content, int start, int stop) {
  if (content.empty()) return;
  size_t b = 0;
  for (int k = 0; k < start && s->compare(b, content.size(), content) == 0; ++k) {
    b += content.size();
  }
  size_t e = s->size();
  for (int k = 0; k < stop && e >= b + content.size() &&
                  s->compare(e - content.size(), content.size(), content) == 0;
       ++k) {
    e -= content.size();
  }
  *s = s->substr(b, e - b);
}

}  // namespace

std::string TokenizerImpl::DecodeToken(std::string_view text, bool first) const {
  std::string t(text), scratch;
  for (const DecoderStep& step : decoder) {
    switch (step.kind) {
      case DecoderStep::Kind::kByteLevel:
        t = ByteLevelBytes(t).value_or(t);
        break;
      case DecoderStep::Kind::kByteFallback:
        // A byte token becomes its raw byte; runs of them are repaired as one
        // UTF-8 string when the whole text is (see Decode).
        if (const int b = ByteFallbackValue(t); b >= 0) return std::string(1, char(b));
        break;
      case DecoderStep::Kind::kReplace:
        step.replace.Apply(t, &scratch);
        std::swap(t, scratch);
        break;
      case DecoderStep::Kind::kStrip:
        StripCopies(&t, step.content, step.start, step.stop);
        break;
      case DecoderStep::Kind::kMetaspace: {
        const bool drop = first && step.prepend_scheme != PrependScheme::kNever;
        scratch.clear();
        for (size_t at = 0; at < t.size();) {
          if (t.compare(at, step.content.size(), step.content) == 0) {
            if (!drop) scratch += ' ';
            at += step.content.size();
          } else {
            scratch += t[at++];
          }
        }
        std::swap(t, scratch);
        break;
      }
    }
  }
  return t;
}

std::string_view TokenizerImpl::TokenBytesAt(int32_t id, bool first, std::string* scratch) const {
  if (!first || !first_token_differs) return token_bytes[id];
  *scratch = DecodeToken(token_text[id], true);
  return *scratch;
}

Tokenizer::Tokenizer(std::unique_ptr<TokenizerImpl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;

StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromJson(std::string_view json,
                                                         std::string_view name) {
  ASSIGN_OR_RETURN(auto impl, TokenizerImpl::Load(json, name));
  return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(impl)));
}

StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFoundError(path + ": cannot open tokenizer file");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return InvalidArgumentError(path + ": read error");
  return FromJson(buffer.str(), path);
}

std::vector<int32_t> Tokenizer::Encode(std::string_view text, bool add_special_tokens) const {
  std::string repaired;
  if (!IsValidUtf8(text)) {
    AppendUtf8Lossy(text, &repaired);
    text = repaired;
  }
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);  // ~4 bytes a token on English text
  if (add_special_tokens) ids = impl_->template_prefix;
  impl_->EncodeText(text, &ids);
  if (add_special_tokens) {
    ids.insert(ids.end(), impl_->template_suffix.begin(), impl_->template_suffix.end());
  }
  return ids;
}

std::string Tokenizer::Decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  std::string bytes, scratch;
  bool first = true;
  for (int32_t id : ids) {
    if (id < 0 || id >= vocab_size() || (skip_special_tokens && impl_->special[id])) continue;
    if (!first && impl_->space_between) bytes += ' ';
    bytes += impl_->TokenBytesAt(id, first, &scratch);
    first = false;
  }
  std::string text;
  if (IsValidUtf8(bytes)) {
    text = std::move(bytes);
  } else {
    AppendUtf8Lossy(bytes, &text);
  }
  StripCopies(&text, impl_->strip_content, impl_->strip_start, impl_->strip_stop);
  return text;
}

int64_t Tokenizer::vocab_size() const { return int64_t(impl_->token_text.size()); }

std::optional<int32_t> Tokenizer::TokenToId(std::string_view token) const {
  auto it = impl_->token_to_id.find(token);
  if (it == impl_->token_to_id.end()) return std::nullopt;
  return it->second;
}

std::string_view Tokenizer::IdToToken(int32_t id) const {
  return id >= 0 && id < vocab_size() ? std::string_view(impl_->token_text[id]) : "";
}

std::string_view Tokenizer::TokenBytes(int32_t id) const {
  return id >= 0 && id < vocab_size() ? std::string_view(impl_->token_bytes[id]) : "";
}

bool Tokenizer::IsSpecial(int32_t id) const {
  return id >= 0 && id < vocab_size() && impl_->special[id];
}

IncrementalDecoder::IncrementalDecoder(const Tokenizer& tokenizer, bool skip_special_tokens,
                                       std::vector<int32_t> keep_special)
    : tokenizer_(tokenizer),
      skip_special_tokens_(skip_special_tokens),
      keep_special_(std::move(keep_special)),
      strip_left_(tokenizer.impl_->strip_start) {}

std::string IncrementalDecoder::Add(int32_t id) {
  const TokenizerImpl& impl = *tokenizer_.impl_;
  if (id < 0 || id >= tokenizer_.vocab_size()) return "";
  if (skip_special_tokens_ && impl.special[id] &&
      std::find(keep_special_.begin(), keep_special_.end(), id) == keep_special_.end()) {
    return "";
  }
  std::string scratch;
  if (!first_ && impl.space_between) pending_ += ' ';
  pending_ += impl.TokenBytesAt(id, first_, &scratch);
  first_ = false;
  // Hold back a trailing proper prefix of a valid sequence. It starts at a lead
  // byte, and a lead byte always starts a new unit of the lossy decode, so what
  // comes before it decodes the same now as it would with all bytes at hand.
  size_t cut = pending_.size();
  for (size_t back = 1; back <= 3 && back <= pending_.size(); ++back) {
    const size_t i = pending_.size() - back;
    if ((uint8_t(pending_[i]) & 0xC0) == 0x80) continue;
    bool incomplete = false;
    Utf8SequenceLength(pending_, i, &incomplete);
    if (incomplete) cut = i;
    break;
  }
  std::string out;
  AppendUtf8Lossy(std::string_view(pending_).substr(0, cut), &out);
  pending_.erase(0, cut);
  return Strip(std::move(out), /*at_end=*/false);
}

std::string IncrementalDecoder::Flush() {
  std::string out;
  AppendUtf8Lossy(pending_, &out);
  pending_.clear();
  out = Strip(std::move(out), /*at_end=*/true);
  first_ = true;
  strip_left_ = tokenizer_.impl_->strip_start;
  return out;
}

std::string IncrementalDecoder::Strip(std::string text, bool at_end) {
  const TokenizerImpl& impl = *tokenizer_.impl_;
  const std::string& c = impl.strip_content;
  if (c.empty()) return text;
  // Leading copies: up to strip_start of them, until the first other text.
  size_t b = 0;
  while (strip_left_ > 0 && text.compare(b, c.size(), c) == 0) {
    b += c.size();
    --strip_left_;
  }
  if (b < text.size()) strip_left_ = 0;
  text.erase(0, b);
  // Trailing copies: up to strip_stop stay held until more text shows they
  // were not at the end; Flush drops them.
  text.insert(0, held_);
  held_.clear();
  if (impl.strip_stop == 0) return text;
  size_t e = text.size();
  for (int k = 0;
       k < impl.strip_stop && e >= c.size() && text.compare(e - c.size(), c.size(), c) == 0; ++k) {
    e -= c.size();
  }
  if (!at_end) held_ = text.substr(e);
  text.erase(e);
  return text;
}

}  // namespace radixlm::model
