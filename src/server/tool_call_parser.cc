#include "server/tool_call_parser.h"

#include <algorithm>

namespace radixlm::server {
namespace {

constexpr std::string_view kPythonTag = "<|python_tag|>";
constexpr std::string_view kDeepSeekCallsBegin = "<｜tool▁calls▁begin｜>";
constexpr std::string_view kDeepSeekCallBegin = "<｜tool▁call▁begin｜>";
constexpr std::string_view kDeepSeekSep = "<｜tool▁sep｜>";
constexpr std::string_view kDeepSeekCallEnd = "<｜tool▁call▁end｜>";
constexpr std::string_view kDeepSeekCallsEnd = "<｜tool▁calls▁end｜>";

// A head longer than this without a decision is not a call (names are at most
// 64 bytes; the rest of a head is a few dozen).
constexpr size_t kMaxHeadBytes = 1024;

bool IsWs(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

// `s` is a proper, non-empty prefix of `lit`.
bool ProperPrefixOf(std::string_view s, std::string_view lit) {
  return !s.empty() && s.size() < lit.size() && lit.compare(0, s.size(), s) == 0;
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Reads a head piece by piece; each step says kMore when the text ends before
// it can decide (kFail instead at the end of the output).
class Cursor {
 public:
  using Match = int;  // 0 more, 1 fail, 2 ok
  static constexpr Match kMore = 0, kFail = 1, kOk = 2;

  Cursor(std::string_view s, size_t at, bool at_end) : s_(s), i_(at), at_end_(at_end) {}

  size_t pos() const { return i_; }
  Match End() const { return at_end_ ? kFail : kMore; }

  // Whitespace, then at least one more byte to look at.
  Match Ws() {
    while (i_ < s_.size() && IsWs(s_[i_])) ++i_;
    return i_ < s_.size() ? kOk : End();
  }
  Match Lit(std::string_view lit) {
    const std::string_view rest = s_.substr(i_);
    if (StartsWith(rest, lit)) {
      i_ += lit.size();
      return kOk;
    }
    return ProperPrefixOf(rest, lit) || rest.empty() ? End() : kFail;
  }
  Match Peek(char c) const {
    if (i_ >= s_.size()) return End();
    return s_[i_] == c ? kOk : kFail;
  }
  // A JSON string, decoded.
  Match Str(std::string* out) {
    out->clear();
    if (i_ >= s_.size()) return End();
    if (s_[i_] != '"') return kFail;
    size_t j = i_ + 1;
    while (j < s_.size()) {
      const char c = s_[j];
      if (c == '"') {
        i_ = j + 1;
        return kOk;
      }
      if (static_cast<unsigned char>(c) < 0x20) return kFail;
      if (c != '\\') {
        out->push_back(c);
        ++j;
        continue;
      }
      if (j + 1 >= s_.size()) return End();
      const char e = s_[j + 1];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out->push_back(e);
          break;
        case 'n':
          out->push_back('\n');
          break;
        case 't':
          out->push_back('\t');
          break;
        case 'r':
          out->push_back('\r');
          break;
        case 'b':
          out->push_back('\b');
          break;
        case 'f':
          out->push_back('\f');
          break;
        case 'u': {
          if (j + 6 > s_.size()) return End();
          uint32_t cp = 0;
          for (size_t k = j + 2; k < j + 6; ++k) {
            const char h = s_[k];
            cp <<= 4;
            if (h >= '0' && h <= '9') {
              cp |= static_cast<uint32_t>(h - '0');
            } else if (h >= 'a' && h <= 'f') {
              cp |= static_cast<uint32_t>(h - 'a' + 10);
            } else if (h >= 'A' && h <= 'F') {
              cp |= static_cast<uint32_t>(h - 'A' + 10);
            } else {
              return kFail;
            }
          }
          if (cp >= 0xD800 && cp < 0xE000) return kFail;  // surrogates: not in a name
          AppendUtf8(cp, out);
          j += 4;
          break;
        }
        default:
          return kFail;
      }
      j += 2;
    }
    return End();
  }
  // Text up to `delim` (not included; the cursor moves past it), at most
  // `max` bytes, without a newline unless `delim` is one.
  Match Until(std::string_view delim, size_t max, std::string* out) {
    const size_t at = s_.find(delim, i_);
    if (at == std::string_view::npos) {
      const std::string_view rest = s_.substr(i_);
      if (rest.size() > max + delim.size()) return kFail;
      if (delim != "\n" && rest.find('\n') != std::string_view::npos) return kFail;
      return End();
    }
    if (at - i_ > max) return kFail;
    out->assign(s_.substr(i_, at - i_));
    if (delim != "\n" && out->find('\n') != std::string::npos) return kFail;
    i_ = at + delim.size();
    return kOk;
  }

 private:
  std::string_view s_;
  size_t i_;
  bool at_end_;
};

#define RADIXLM_MATCH(expr)                   \
  do {                                        \
    const Cursor::Match m_ = (expr);          \
    if (m_ == Cursor::kMore) return kMoreOut; \
    if (m_ == Cursor::kFail) return kFailOut; \
  } while (0)

std::string Trimmed(std::string s) {
  size_t b = 0, e = s.size();
  while (b < e && IsWs(s[b])) ++b;
  while (e > b && IsWs(s[e - 1])) --e;
  return s.substr(b, e - b);
}

}  // namespace

ToolCallParser::ToolCallParser(const ToolCallFormat& format, std::vector<std::string> tool_names)
    : format_(format), tool_names_(std::move(tool_names)) {
  switch (format_.family) {
    case ToolCallFamily::kQwen:
      openers_ = {"<tool_call>"};
      tail_ = {"}", "</tool_call>"};
      break;
    case ToolCallFamily::kDeepSeekV3:
      openers_ = {std::string(kDeepSeekCallsBegin), std::string(kDeepSeekCallBegin)};
      closers_ = {std::string(kDeepSeekCallsEnd)};
      tail_ = {"```", std::string(kDeepSeekCallEnd)};
      break;
    case ToolCallFamily::kLlama3Json:
    case ToolCallFamily::kGeneric:
      tail_ = {"}"};
      break;
  }
  state_ = Tagged() ? State::kContent : State::kStart;
}

bool ToolCallParser::Tagged() const { return !openers_.empty(); }

bool ToolCallParser::KnownName(const std::string& name) const {
  return std::find(tool_names_.begin(), tool_names_.end(), name) != tool_names_.end();
}

void ToolCallParser::Emit(std::string_view content, ToolCallDelta* out) {
  out->content.append(content);
}

void ToolCallParser::Add(std::string_view text, ToolCallDelta* out) {
  buf_.append(text);
  while (Step(false, out)) {
  }
}

void ToolCallParser::Finish(ToolCallDelta* out) {
  while (Step(true, out)) {
  }
  // Whatever a state still holds at the end is decided by its at_end rules;
  // kArgs keeps an open call (its arguments were handed out as they came).
  if (state_ != State::kArgs && !buf_.empty()) {
    Emit(buf_, out);
    buf_.clear();
  }
}

bool ToolCallParser::Step(bool at_end, ToolCallDelta* out) {
  switch (state_) {
    case State::kContent:
      return StepContent(at_end, out);
    case State::kStart:
      return StepStart(at_end, out);
    case State::kHead:
      return StepHead(at_end, out);
    case State::kArgs:
      return StepArgs(out);
    case State::kTail:
      return StepTail(at_end);
    case State::kAfterCall:
      return StepAfterCall(at_end, out);
    case State::kPassThrough:
      if (after_call_) {
        size_t b = 0;
        while (b < buf_.size() && IsWs(buf_[b])) ++b;
        buf_.erase(0, b);
        if (buf_.empty()) return false;
        after_call_ = false;
      }
      if (buf_.empty()) return false;
      Emit(buf_, out);
      buf_.clear();
      return false;
  }
  return false;
}

bool ToolCallParser::StepContent(bool at_end, ToolCallDelta* out) {
  if (buf_.empty()) return false;
  if (after_call_) {
    // Whitespace and the section's closing marker after a call are dropped.
    size_t b = 0;
    while (b < buf_.size() && IsWs(buf_[b])) ++b;
    const std::string_view rest = std::string_view(buf_).substr(b);
    for (const std::string& closer : closers_) {
      if (StartsWith(rest, closer)) {
        buf_.erase(0, b + closer.size());
        return true;
      }
      if (ProperPrefixOf(rest, closer) && !at_end) return false;
    }
    if (rest.empty()) {
      if (at_end) buf_.clear();
      return false;
    }
    // Another call right after this one keeps after_call_ (no content between).
    bool opener_next = false;
    for (const std::string& opener : openers_) {
      if (StartsWith(rest, opener) || (ProperPrefixOf(rest, opener) && !at_end)) opener_next = true;
    }
    if (!opener_next) {
      buf_.erase(0, b);
      after_call_ = false;
    }
  }
  size_t first = std::string::npos, len = 0;
  for (const std::string& opener : openers_) {
    const size_t at = buf_.find(opener);
    if (at != std::string::npos && (at < first || (at == first && opener.size() > len))) {
      first = at;
      len = opener.size();
    }
  }
  if (first != std::string::npos) {
    size_t q = first;
    while (q > 0 && IsWs(buf_[q - 1])) --q;
    Emit(std::string_view(buf_).substr(0, q), out);
    buf_.erase(0, q);
    head_start_ = first - q;
    opener_len_ = len;
    state_ = State::kHead;
    return true;
  }
  if (at_end) {
    Emit(buf_, out);
    buf_.clear();
    return false;
  }
  // Hold a trailing proper prefix of an opener and the whitespace before it.
  size_t hold = 0;
  for (const std::string& opener : openers_) {
    for (size_t k = std::min(opener.size() - 1, buf_.size()); k > hold; --k) {
      if (buf_.compare(buf_.size() - k, k, opener, 0, k) == 0) {
        hold = k;
        break;
      }
    }
  }
  size_t keep = buf_.size() - hold;
  while (keep > 0 && IsWs(buf_[keep - 1])) --keep;
  if (keep > 0) {
    Emit(std::string_view(buf_).substr(0, keep), out);
    buf_.erase(0, keep);
  }
  return false;
}

bool ToolCallParser::StepStart(bool at_end, ToolCallDelta* out) {
  // The whole output so far stays in buf_ until it is known to be a call, and
  // is looked at from its start each time (it is short: a head at most).
  (void)out;
  size_t i = 0;
  bool tag = false, array = false;
  for (;;) {
    while (i < buf_.size() && IsWs(buf_[i])) ++i;
    const std::string_view rest = std::string_view(buf_).substr(i);
    if (rest.empty()) {
      if (at_end) state_ = State::kPassThrough;
      return at_end;
    }
    if (format_.family == ToolCallFamily::kLlama3Json && !tag && !array) {
      if (StartsWith(rest, kPythonTag)) {
        i += kPythonTag.size();
        tag = true;
        continue;
      }
      if (ProperPrefixOf(rest, kPythonTag)) {
        if (at_end) state_ = State::kPassThrough;
        return at_end;
      }
    }
    if (rest[0] == '[' && !array) {
      array = true;
      ++i;
      continue;
    }
    if (rest[0] == '{') {
      head_start_ = i;
      opener_len_ = 0;
      array_ = array;
      state_ = State::kHead;
      return true;
    }
    state_ = State::kPassThrough;
    return true;
  }
}

ToolCallParser::Match ToolCallParser::MatchHead(bool at_end, size_t* consumed,
                                                std::string* name) const {
  constexpr Match kMoreOut = Match::kMore, kFailOut = Match::kFail;
  Cursor c(buf_, head_start_, at_end);
  if (format_.family == ToolCallFamily::kDeepSeekV3) {
    if (StartsWith(std::string_view(buf_).substr(head_start_), kDeepSeekCallsBegin)) {
      RADIXLM_MATCH(c.Lit(kDeepSeekCallsBegin));
      RADIXLM_MATCH(c.Ws());
    }
    RADIXLM_MATCH(c.Lit(kDeepSeekCallBegin));
    std::string type;
    RADIXLM_MATCH(c.Until(kDeepSeekSep, 64, &type));
    RADIXLM_MATCH(c.Until("\n", 256, name));
    *name = Trimmed(*name);
    if (name->empty() || name->find('<') != std::string::npos) return Match::kFail;
    RADIXLM_MATCH(c.Lit("```"));
    std::string lang;
    RADIXLM_MATCH(c.Until("\n", 16, &lang));
    RADIXLM_MATCH(c.Ws());
    RADIXLM_MATCH(c.Peek('{'));
    *consumed = c.pos() - head_start_;
    return Match::kOk;
  }
  if (opener_len_ > 0)
    RADIXLM_MATCH(c.Lit(std::string_view(buf_).substr(head_start_, opener_len_)));
  RADIXLM_MATCH(c.Ws());
  RADIXLM_MATCH(c.Lit("{"));
  RADIXLM_MATCH(c.Ws());
  std::string key;
  RADIXLM_MATCH(c.Str(&key));
  if (key != "name") return Match::kFail;
  RADIXLM_MATCH(c.Ws());
  RADIXLM_MATCH(c.Lit(":"));
  RADIXLM_MATCH(c.Ws());
  RADIXLM_MATCH(c.Str(name));
  if (name->empty()) return Match::kFail;
  if (!Tagged() && !KnownName(*name)) return Match::kFail;
  RADIXLM_MATCH(c.Ws());
  RADIXLM_MATCH(c.Lit(","));
  RADIXLM_MATCH(c.Ws());
  RADIXLM_MATCH(c.Str(&key));
  if (key != "arguments" && key != "parameters") return Match::kFail;
  RADIXLM_MATCH(c.Ws());
  RADIXLM_MATCH(c.Lit(":"));
  RADIXLM_MATCH(c.Ws());
  RADIXLM_MATCH(c.Peek('{'));
  *consumed = c.pos() - head_start_;
  return Match::kOk;
}

bool ToolCallParser::StepHead(bool at_end, ToolCallDelta* out) {
  size_t consumed = 0;
  std::string name;
  Match m = MatchHead(at_end, &consumed, &name);
  if (m == Match::kMore && buf_.size() - head_start_ > kMaxHeadBytes) m = Match::kFail;
  if (m == Match::kMore) return false;
  if (m == Match::kFail) {
    if (Tagged()) {
      // The marker and the whitespace before it are content; the rest is
      // scanned again (it may hold a real call).
      Emit(std::string_view(buf_).substr(0, head_start_ + opener_len_), out);
      buf_.erase(0, head_start_ + opener_len_);
      after_call_ = false;
      state_ = State::kContent;
    } else {
      array_ = false;
      after_call_ = false;
      state_ = State::kPassThrough;
    }
    return true;
  }
  buf_.erase(0, head_start_ + consumed);
  ToolCallDelta::Call call;
  call.index = calls_++;
  call.begins = true;
  call.name = std::move(name);
  out->calls.push_back(std::move(call));
  depth_ = 0;
  in_string_ = false;
  escape_ = false;
  state_ = State::kArgs;
  return true;
}

bool ToolCallParser::StepArgs(ToolCallDelta* out) {
  if (buf_.empty()) return false;
  size_t i = 0;
  bool done = false;
  for (; i < buf_.size() && !done; ++i) {
    const char ch = buf_[i];
    if (in_string_) {
      if (escape_) {
        escape_ = false;
      } else if (ch == '\\') {
        escape_ = true;
      } else if (ch == '"') {
        in_string_ = false;
      }
      continue;
    }
    if (ch == '"') {
      in_string_ = true;
    } else if (ch == '{' || ch == '[') {
      ++depth_;
    } else if (ch == '}' || ch == ']') {
      if (--depth_ == 0) done = true;
    }
  }
  const int32_t index = calls_ - 1;
  if (!out->calls.empty() && out->calls.back().index == index) {
    out->calls.back().arguments.append(buf_, 0, i);
  } else {
    ToolCallDelta::Call call;
    call.index = index;
    call.arguments.assign(buf_, 0, i);
    out->calls.push_back(std::move(call));
  }
  buf_.erase(0, i);
  if (done) {
    state_ = State::kTail;
    tail_step_ = 0;
  }
  return done;
}

void ToolCallParser::EndCall() {
  after_call_ = true;
  state_ = Tagged() ? State::kContent : State::kAfterCall;
}

bool ToolCallParser::StepTail(bool at_end) {
  while (tail_step_ < tail_.size()) {
    size_t b = 0;
    while (b < buf_.size() && IsWs(buf_[b])) ++b;
    const std::string_view rest = std::string_view(buf_).substr(b);
    const std::string& lit = tail_[tail_step_];
    if (StartsWith(rest, lit)) {
      buf_.erase(0, b + lit.size());
      ++tail_step_;
      continue;
    }
    if ((rest.empty() || ProperPrefixOf(rest, lit)) && !at_end) return false;
    if (rest.empty() || ProperPrefixOf(rest, lit)) buf_.clear();  // the end: a cut wrapper
    break;  // the wrapper ends early: what follows is decided by the next state
  }
  EndCall();
  return true;
}

bool ToolCallParser::StepAfterCall(bool at_end, ToolCallDelta* out) {
  size_t b = 0;
  while (b < buf_.size() && IsWs(buf_[b])) ++b;
  buf_.erase(0, b);
  if (buf_.empty()) return false;
  const char ch = buf_[0];
  if (ch == ';' || ch == ',') {
    // Another call may follow; the separator and whitespace are dropped, and
    // the head's rules decide (a head that fails is content from there).
    size_t i = 1;
    while (i < buf_.size() && IsWs(buf_[i])) ++i;
    if (i == buf_.size()) {
      if (at_end) buf_.clear();
      return false;
    }
    if (buf_[i] != '{') {
      buf_.erase(0, i);
      state_ = State::kPassThrough;
      after_call_ = true;
      return true;
    }
    buf_.erase(0, i);
    head_start_ = 0;
    opener_len_ = 0;
    state_ = State::kHead;
    return true;
  }
  if (ch == ']' && array_) {
    buf_.erase(0, 1);
    array_ = false;
    state_ = State::kPassThrough;
    after_call_ = true;
    return true;
  }
  if (ch == '{') {
    head_start_ = 0;
    opener_len_ = 0;
    state_ = State::kHead;
    return true;
  }
  state_ = State::kPassThrough;
  after_call_ = false;
  (void)out;
  return true;
}

#undef RADIXLM_MATCH

ParsedToolCalls ParseToolCalls(const ToolCallFormat& format, std::vector<std::string> tool_names,
                               std::string_view text) {
  ToolCallParser parser(format, std::move(tool_names));
  ToolCallDelta delta;
  parser.Add(text, &delta);
  parser.Finish(&delta);
  ParsedToolCalls out;
  out.content = std::move(delta.content);
  for (ToolCallDelta::Call& c : delta.calls) {
    if (c.begins) out.calls.push_back({std::move(c.name), {}});
    if (!out.calls.empty()) out.calls.back().arguments += c.arguments;
  }
  out.call_open = parser.call_open();
  return out;
}

}  // namespace radixlm::server
