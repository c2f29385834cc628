#include "template/lexer.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "template/text.h"

namespace radixlm::tmpl {
namespace {

bool IsSpaceTab(char c) { return c == ' ' || c == '\t'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsNameStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsNameChar(char c) { return IsNameStart(c) || IsDigit(c); }

// Python's \s over UTF-8: the length of the whitespace run at `pos`.
size_t SpaceRun(std::string_view s, size_t pos) {
  size_t end = pos;
  while (end < s.size()) {
    const auto b = static_cast<unsigned char>(s[end]);
    if (b < 0x80) {
      if (!IsPythonSpace(b)) break;
      ++end;
      continue;
    }
    size_t len = (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 1;
    if (end + len > s.size()) break;
    const std::vector<char32_t> cp = DecodeUtf8(s.substr(end, len));
    if (cp.size() != 1 || !IsPythonSpace(cp[0])) break;
    end += len;
  }
  return end - pos;
}

class Lexer {
 public:
  Lexer(std::string source, const LexOptions& options) : src_(std::move(source)), o_(options) {
    line_starts_.push_back(0);
    for (size_t i = 0; i < src_.size(); ++i) {
      if (src_[i] == '\n') line_starts_.push_back(i + 1);
    }
  }

  StatusOr<std::vector<Token>> Run() {
    bool line_starting = true;
    size_t pos = 0;
    while (pos < src_.size()) {
      const size_t start = FindTagStart(pos);
      std::string text = src_.substr(pos, start - pos);
      if (start == src_.size()) {
        Emit(TokenType::kText, std::move(text), pos);
        break;
      }
      const char kind = src_[start + 1];  // '{', '%' or '#'
      char modifier = 0;
      size_t after = start + 2;
      if (after < src_.size() && (src_[after] == '-' || src_[after] == '+'))
        modifier = src_[after++];
      ApplyLeftStrip(&text, modifier, kind != '{', line_starting);
      Emit(TokenType::kText, std::move(text), pos);
      if (kind == '#') {
        RETURN_IF_ERROR(Comment(start, after, &pos, &line_starting));
      } else if (kind == '%' && IsRaw(after)) {
        RETURN_IF_ERROR(Raw(start, after, &pos, &line_starting));
      } else {
        RETURN_IF_ERROR(Tag(kind == '{', start, after, &pos, &line_starting));
      }
    }
    Token eof;
    eof.type = TokenType::kEof;
    SetPosition(&eof, src_.size());
    tokens_.push_back(std::move(eof));
    return std::move(tokens_);
  }

 private:
  size_t FindTagStart(size_t pos) const {
    size_t i = pos;
    while ((i = src_.find('{', i)) != std::string::npos) {
      if (i + 1 < src_.size() && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#'))
        return i;
      ++i;
    }
    return src_.size();
  }

  void ApplyLeftStrip(std::string* text, char modifier, bool block_or_comment,
                      bool line_starting) const {
    if (modifier == '-') {
      *text = StripSpace(*text, false, true);
      return;
    }
    if (modifier == '+' || !o_.lstrip_blocks || !block_or_comment) return;
    const size_t nl = text->rfind('\n');
    const size_t l_pos = nl == std::string::npos ? 0 : nl + 1;
    if (l_pos == 0 && !line_starting) return;
    for (size_t i = l_pos; i < text->size(); ++i) {
      if (!IsSpaceTab((*text)[i])) return;
    }
    text->resize(l_pos);
  }

  // After a closing tag: `-` drops all following whitespace; otherwise
  // trim_blocks drops one newline after block and comment tags (not `+`).
  size_t AfterClose(size_t pos, char modifier, bool block_or_comment) const {
    if (modifier == '-') return pos + SpaceRun(src_, pos);
    if (modifier != '+' && block_or_comment && o_.trim_blocks && pos < src_.size() &&
        src_[pos] == '\n') {
      return pos + 1;
    }
    return pos;
  }

  Status Comment(size_t start, size_t after, size_t* pos, bool* line_starting) {
    const size_t end = src_.find("#}", after);
    if (end == std::string::npos) return ErrorAt(start, "unclosed comment: missing '#}'");
    const char modifier =
        end > after && (src_[end - 1] == '-' || src_[end - 1] == '+') ? src_[end - 1] : 0;
    *pos = AfterClose(end + 2, modifier, true);
    *line_starting = src_[*pos - 1] == '\n';
    return OkStatus();
  }

  bool IsRaw(size_t after) const {
    size_t i = after + SpaceRun(src_, after);
    if (src_.compare(i, 3, "raw") != 0) return false;
    i += 3;
    i += SpaceRun(src_, i);
    return src_.compare(i, 2, "%}") == 0 || src_.compare(i, 3, "-%}") == 0;
  }

  Status Raw(size_t start, size_t after, size_t* pos, bool* line_starting) {
    size_t i = after + SpaceRun(src_, after) + 3;
    i += SpaceRun(src_, i);
    i = src_[i] == '-' ? i + 3 + SpaceRun(src_, i + 3) : i + 2;  // no trim_blocks after {% raw %}
    // Find {% endraw %} with any whitespace control.
    size_t search = i;
    while (true) {
      const size_t tag = src_.find("{%", search);
      if (tag == std::string::npos)
        return ErrorAt(start, "unclosed {% raw %}: missing {% endraw %}");
      size_t j = tag + 2;
      char open_mod = 0;
      if (j < src_.size() && (src_[j] == '-' || src_[j] == '+')) open_mod = src_[j++];
      j += SpaceRun(src_, j);
      if (src_.compare(j, 6, "endraw") != 0) {
        search = tag + 2;
        continue;
      }
      j += 6;
      j += SpaceRun(src_, j);
      char close_mod = 0;
      if (j < src_.size() && (src_[j] == '-' || src_[j] == '+')) close_mod = src_[j++];
      if (src_.compare(j, 2, "%}") != 0) return ErrorAt(tag, "malformed {% endraw %}");
      std::string text = src_.substr(i, tag - i);
      ApplyLeftStrip(&text, open_mod, true, false);
      Emit(TokenType::kText, std::move(text), i);
      *pos = AfterClose(j + 2, close_mod, true);
      *line_starting = src_[*pos - 1] == '\n';
      return OkStatus();
    }
  }

  Status Tag(bool variable, size_t start, size_t after, size_t* pos, bool* line_starting) {
    Emit(variable ? TokenType::kVarBegin : TokenType::kBlockBegin, "", start);
    const char close = variable ? '}' : '%';
    int balance = 0;
    size_t i = after;
    while (true) {
      i += SpaceRun(src_, i);
      if (i >= src_.size()) {
        return ErrorAt(start,
                       variable ? "unclosed '{{': missing '}}'" : "unclosed '{%': missing '%}'");
      }
      if (balance == 0) {
        char modifier = 0;
        size_t j = i;
        if (src_[j] == '-' || src_[j] == '+') modifier = src_[j++];
        if (j + 1 < src_.size() && src_[j] == close && src_[j + 1] == '}' &&
            (modifier != '+' || !variable)) {
          Emit(variable ? TokenType::kVarEnd : TokenType::kBlockEnd, "", i);
          *pos = AfterClose(j + 2, modifier, !variable);
          *line_starting = src_[*pos - 1] == '\n';
          return OkStatus();
        }
      }
      RETURN_IF_ERROR(ExpressionToken(&i, &balance));
    }
  }

  Status ExpressionToken(size_t* pos, int* balance) {
    const size_t i = *pos;
    const char c = src_[i];
    if (c == '\'' || c == '"') return StringToken(pos);
    if (IsDigit(c)) return NumberToken(pos);
    if (IsNameStart(c)) {
      size_t j = i;
      while (j < src_.size() && IsNameChar(src_[j])) ++j;
      Emit(TokenType::kName, src_.substr(i, j - i), i);
      *pos = j;
      return OkStatus();
    }
    static const char* const kOps[] = {"//", "**", "==", "!=", ">=", "<=", "+", "-", "/",
                                       "*",  "%",  "~",  "[",  "]",  "(",  ")", "{", "}",
                                       "<",  ">",  "=",  ".",  ":",  "|",  ",", ";"};
    for (const char* op : kOps) {
      const size_t n = std::char_traits<char>::length(op);
      if (src_.compare(i, n, op) == 0) {
        if (op[0] == '(' || op[0] == '[' || op[0] == '{') {
          if (++*balance > 256) return ErrorAt(i, "brackets nested deeper than 256 levels");
        }
        if (op[0] == ')' || op[0] == ']' || op[0] == '}') {
          if (*balance == 0) return ErrorAt(i, std::string("unexpected '") + op + "'");
          --*balance;
        }
        Emit(TokenType::kOperator, op, i);
        *pos = i + n;
        return OkStatus();
      }
    }
    return ErrorAt(i, std::string("unexpected character '") + c + "'");
  }

  // `foo.0.1` is two integer subscripts, not a float (Jinja2's (?<!\.) rule).
  bool AfterDot() const {
    return !tokens_.empty() && tokens_.back().type == TokenType::kOperator &&
           tokens_.back().text == ".";
  }

  Status NumberToken(size_t* pos) {
    const size_t i = *pos;
    size_t j = i;
    auto digits = [&](bool need) -> bool {
      const size_t s = j;
      while (j < src_.size() &&
             (IsDigit(src_[j]) ||
              (src_[j] == '_' && j > s && j + 1 < src_.size() && IsDigit(src_[j + 1])))) {
        ++j;
      }
      return !need || j > s;
    };
    if (src_[i] == '0' && i + 1 < src_.size() &&
        (src_[i + 1] == 'x' || src_[i + 1] == 'X' || src_[i + 1] == 'o' || src_[i + 1] == 'O' ||
         src_[i + 1] == 'b' || src_[i + 1] == 'B')) {
      const int base = (src_[i + 1] == 'x' || src_[i + 1] == 'X')   ? 16
                       : (src_[i + 1] == 'o' || src_[i + 1] == 'O') ? 8
                                                                    : 2;
      j = i + 2;
      std::string clean;
      while (j < src_.size() &&
             (std::isxdigit(static_cast<unsigned char>(src_[j])) || src_[j] == '_')) {
        if (src_[j] != '_') clean.push_back(src_[j]);
        ++j;
      }
      errno = 0;
      char* end = nullptr;
      const long long v = std::strtoll(clean.c_str(), &end, base);
      if (clean.empty() || *end != '\0' || errno == ERANGE)
        return ErrorAt(i, "bad integer literal");
      Token t;
      t.type = TokenType::kInt;
      t.int_value = v;
      Emit(std::move(t), i);
      *pos = j;
      return OkStatus();
    }
    digits(false);
    bool is_float = false;
    const bool int_only = AfterDot();
    if (!int_only && j < src_.size() && src_[j] == '.' && j + 1 < src_.size() &&
        IsDigit(src_[j + 1])) {
      ++j;
      digits(true);
      is_float = true;
    }
    if (!int_only && j < src_.size() && (src_[j] == 'e' || src_[j] == 'E')) {
      size_t k = j + 1;
      if (k < src_.size() && (src_[k] == '+' || src_[k] == '-')) ++k;
      if (k < src_.size() && IsDigit(src_[k])) {
        j = k;
        digits(true);
        is_float = true;
      }
    }
    std::string clean;
    for (size_t k = i; k < j; ++k) {
      if (src_[k] != '_') clean.push_back(src_[k]);
    }
    Token t;
    if (is_float) {
      t.type = TokenType::kFloat;
      t.float_value = std::strtod(clean.c_str(), nullptr);
    } else {
      t.type = TokenType::kInt;
      errno = 0;
      t.int_value = std::strtoll(clean.c_str(), nullptr, 10);
      if (errno == ERANGE) return ErrorAt(i, "integer literal out of the 64-bit range");
    }
    Emit(std::move(t), i);
    *pos = j;
    return OkStatus();
  }

  // Python string literal escapes (the lexer's unicode-escape decoding).
  Status StringToken(size_t* pos) {
    const size_t i = *pos;
    const char quote = src_[i];
    std::string value;
    size_t j = i + 1;
    while (true) {
      if (j >= src_.size()) return ErrorAt(i, "unterminated string literal");
      const char c = src_[j];
      if (c == quote) break;
      if (c != '\\') {
        value.push_back(c);
        ++j;
        continue;
      }
      if (j + 1 >= src_.size()) return ErrorAt(i, "unterminated string literal");
      const char e = src_[j + 1];
      j += 2;
      switch (e) {
        case 'n':
          value.push_back('\n');
          break;
        case 't':
          value.push_back('\t');
          break;
        case 'r':
          value.push_back('\r');
          break;
        case '\\':
          value.push_back('\\');
          break;
        case '\'':
          value.push_back('\'');
          break;
        case '"':
          value.push_back('"');
          break;
        case 'a':
          value.push_back('\a');
          break;
        case 'b':
          value.push_back('\b');
          break;
        case 'f':
          value.push_back('\f');
          break;
        case 'v':
          value.push_back('\v');
          break;
        case '\n':
          break;  // line continuation
        case 'x':
        case 'u':
        case 'U': {
          const size_t n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          if (j + n > src_.size())
            return ErrorAt(j - 2, "truncated \\" + std::string(1, e) + " escape");
          uint32_t cp = 0;
          for (size_t k = 0; k < n; ++k) {
            const char h = src_[j + k];
            if (!std::isxdigit(static_cast<unsigned char>(h))) {
              return ErrorAt(j - 2, "truncated \\" + std::string(1, e) + " escape");
            }
            cp = cp * 16 +
                 static_cast<uint32_t>(IsDigit(h) ? h - '0' : (std::tolower(h) - 'a' + 10));
          }
          if (cp > 0x10FFFF) return ErrorAt(j - 2, "escape outside the Unicode range");
          AppendUtf8(cp, &value);
          j += n;
          break;
        }
        default:
          if (e >= '0' && e <= '7') {
            uint32_t cp = static_cast<uint32_t>(e - '0');
            for (int k = 0; k < 2 && j < src_.size() && src_[j] >= '0' && src_[j] <= '7';
                 ++k, ++j) {
              cp = cp * 8 + static_cast<uint32_t>(src_[j] - '0');
            }
            AppendUtf8(cp, &value);
          } else {
            value.push_back('\\');  // unknown escapes stay as written
            value.push_back(e);
          }
      }
    }
    Token t;
    t.type = TokenType::kString;
    t.text = std::move(value);
    Emit(std::move(t), i);
    *pos = j + 1;
    return OkStatus();
  }

  void SetPosition(Token* t, size_t offset) const {
    const auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
    const size_t line = static_cast<size_t>(it - line_starts_.begin());
    t->line = static_cast<int>(line);
    t->column = static_cast<int>(offset - line_starts_[line - 1]) + 1;
  }

  void Emit(TokenType type, std::string text, size_t offset) {
    if (type == TokenType::kText && text.empty()) return;
    Token t;
    t.type = type;
    t.text = std::move(text);
    Emit(std::move(t), offset);
  }
  void Emit(Token t, size_t offset) {
    SetPosition(&t, offset);
    tokens_.push_back(std::move(t));
  }

  Status ErrorAt(size_t offset, const std::string& message) const {
    Token t;
    SetPosition(&t, offset);
    return InvalidArgumentError("line " + std::to_string(t.line) + ", column " +
                                std::to_string(t.column) + ": " + message);
  }

  std::string src_;
  LexOptions o_;
  std::vector<size_t> line_starts_;
  std::vector<Token> tokens_;
};

}  // namespace

StatusOr<std::vector<Token>> Tokenize(std::string_view source, const LexOptions& options) {
  std::string normalized;
  normalized.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      normalized.push_back('\n');
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      normalized.push_back(source[i]);
    }
  }
  if (!normalized.empty() && normalized.back() == '\n') normalized.pop_back();
  Lexer lexer(std::move(normalized), options);
  return lexer.Run();
}

}  // namespace radixlm::tmpl
