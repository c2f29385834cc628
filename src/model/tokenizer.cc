#include "model/tokenizer.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <utility>

#include "model/tokenizer_impl.h"
#include "model/tokenizer_nfc.h"
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

void TokenizerImpl::PreTokenizeAndMerge(std::string_view text, std::vector<int32_t>* ids) const {
  thread_local std::vector<std::string_view> pieces, next;
  thread_local std::deque<std::string> prefixed;  // pieces given a leading space
  pieces.assign(1, text);
  prefixed.clear();
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
              std::string& spaced = prefixed.emplace_back(1, ' ');
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
    }
  }
  for (std::string_view p : pieces) bpe->Encode(p, ids);
}

void TokenizerImpl::EncodeNormalized(std::string_view text, std::vector<int32_t>* ids) const {
  if (normalized_matcher.empty()) {
    PreTokenizeAndMerge(text, ids);
    return;
  }
  std::vector<AddedTokenMatcher::Piece> pieces;
  normalized_matcher.Split(text, &pieces);
  for (const auto& p : pieces) {
    if (p.id >= 0) {
      ids->push_back(p.id);
    } else {
      PreTokenizeAndMerge(text.substr(p.begin, p.end - p.begin), ids);
    }
  }
}

void TokenizerImpl::EncodeText(std::string_view text, std::vector<int32_t>* ids) const {
  auto encode_segment = [&](std::string_view segment) {
    if (nfc && !NfcQuickCheck(segment)) {
      std::string normalized;
      NfcNormalize(segment, &normalized);
      EncodeNormalized(normalized, ids);
    } else {
      EncodeNormalized(segment, ids);
    }
  };
  if (raw_matcher.empty()) {
    encode_segment(text);
    return;
  }
  std::vector<AddedTokenMatcher::Piece> pieces;
  raw_matcher.Split(text, &pieces);
  for (const auto& p : pieces) {
    if (p.id >= 0) {
      ids->push_back(p.id);
    } else {
      encode_segment(text.substr(p.begin, p.end - p.begin));
    }
  }
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
  std::string bytes;
  for (int32_t id : ids) {
    if (id < 0 || id >= vocab_size() || (skip_special_tokens && impl_->special[id])) continue;
    bytes += impl_->token_bytes[id];
  }
  if (IsValidUtf8(bytes)) return bytes;
  std::string text;
  AppendUtf8Lossy(bytes, &text);
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

IncrementalDecoder::IncrementalDecoder(const Tokenizer& tokenizer, bool skip_special_tokens)
    : tokenizer_(tokenizer), skip_special_tokens_(skip_special_tokens) {}

std::string IncrementalDecoder::Add(int32_t id) {
  if (skip_special_tokens_ && tokenizer_.IsSpecial(id)) return "";
  pending_ += tokenizer_.TokenBytes(id);
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
  return out;
}

std::string IncrementalDecoder::Flush() {
  std::string out;
  AppendUtf8Lossy(pending_, &out);
  pending_.clear();
  return out;
}

}  // namespace radixlm::model
