#include "model/tokenizer_added.h"

#include "model/tokenizer_utf8.h"

namespace radixlm::model {

void AddedTokenMatcher::Add(const AddedToken* token) {
  if (token->content.empty()) return;
  uint32_t node = 0;
  for (char c : token->content) {
    const uint32_t key = (node << 8) | uint8_t(c);
    auto it = edges_.find(key);
    if (it == edges_.end()) {
      it = edges_.emplace(key, uint32_t(token_.size())).first;
      token_.push_back(-1);
    }
    node = it->second;
  }
  // A content listed twice keeps its first entry, like HF's map by content.
  if (token_[node] < 0) {
    token_[node] = int32_t(tokens_.size());
    tokens_.push_back(token);
  }
  first_byte_[uint8_t(token->content[0])] = true;
}

namespace {

// The code point ending just before `end` (which must be > 0), and its start.
char32_t PreviousChar(std::string_view s, size_t end, size_t* start) {
  size_t i = end - 1;
  while (i > 0 && (uint8_t(s[i]) & 0xC0) == 0x80 && end - i < 4) --i;
  const size_t len = Utf8SequenceLength(s, i);
  *start = len == end - i ? i : end - 1;
  return len == end - i ? Utf8Decode(s, i, len) : kReplacementChar;
}

char32_t NextChar(std::string_view s, size_t begin, size_t* len) {
  *len = Utf8SequenceLength(s, begin);
  if (*len == 0) {
    *len = 1;
    return kReplacementChar;
  }
  return Utf8Decode(s, begin, *len);
}

// HF tests char::is_alphanumeric; without Unicode tables here, every non-ASCII
// character that is not whitespace counts as a word character. No supported
// tokenizer sets single_word, so this only matters for hand-made ones.
bool IsWordChar(char32_t c) {
  if (c < 0x80)
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || c == '_';
  return !IsUnicodeWhitespace(c);
}

}  // namespace

void AddedTokenMatcher::Split(std::string_view text, std::vector<Piece>* pieces) const {
  pieces->clear();
  size_t start_offset = 0;  // first byte not yet assigned to a piece
  for (size_t i = 0; i < text.size();) {
    if (!first_byte_[uint8_t(text[i])]) {
      ++i;
      continue;
    }
    uint32_t node = 0;
    int32_t found = -1;
    size_t found_end = 0;
    for (size_t j = i; j < text.size(); ++j) {
      auto it = edges_.find((node << 8) | uint8_t(text[j]));
      if (it == edges_.end()) break;
      node = it->second;
      if (token_[node] >= 0) {
        found = token_[node];
        found_end = j + 1;
      }
    }
    if (found < 0) {
      ++i;
      continue;
    }
    const AddedToken& token = *tokens_[found];
    size_t begin = i, end = found_end;
    if (token.single_word) {
      size_t unused;
      const bool left_ok = begin == 0 || !IsWordChar(PreviousChar(text, begin, &unused));
      const bool right_ok = end == text.size() || !IsWordChar(NextChar(text, end, &unused));
      if (!left_ok || !right_ok) {
        i = end;  // HF's matcher resumes after the rejected match
        continue;
      }
    }
    if (token.lstrip) {
      size_t b = begin, prev;
      while (b > start_offset && IsUnicodeWhitespace(PreviousChar(text, b, &prev))) b = prev;
      begin = b < start_offset ? start_offset : b;
    }
    if (token.rstrip) {
      size_t len;
      while (end < text.size() && IsUnicodeWhitespace(NextChar(text, end, &len))) end += len;
    }
    if (start_offset < begin) pieces->push_back({start_offset, begin, -1});
    pieces->push_back({begin, end, token.id});
    start_offset = end;
    i = end;
  }
  if (start_offset < text.size()) pieces->push_back({start_offset, text.size(), -1});
}

}  // namespace radixlm::model
