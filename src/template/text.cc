#include "template/text.h"

#include <algorithm>

#include "core/unicode.h"
#include "core/utf8.h"

namespace radixlm::tmpl {

std::vector<char32_t> DecodeUtf8(std::string_view s) {
  std::vector<char32_t> out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    int len = 0;
    char32_t cp = 0;
    if (b < 0x80) {
      len = 1;
      cp = b;
    } else if ((b & 0xE0) == 0xC0 && b >= 0xC2) {
      len = 2;
      cp = b & 0x1F;
    } else if ((b & 0xF0) == 0xE0) {
      len = 3;
      cp = b & 0x0F;
    } else if ((b & 0xF8) == 0xF0 && b <= 0xF4) {
      len = 4;
      cp = b & 0x07;
    }
    bool ok = len > 0 && i + static_cast<size_t>(len) <= s.size();
    for (int k = 1; ok && k < len; ++k) {
      const auto c = static_cast<unsigned char>(s[i + static_cast<size_t>(k)]);
      if ((c & 0xC0) != 0x80) ok = false;
      cp = (cp << 6) | (c & 0x3F);
    }
    if (ok && len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ok = false;
    if (ok && len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ok = false;
    if (!ok) {
      out.push_back(0xDC80 + b);  // one invalid byte
      ++i;
      continue;
    }
    out.push_back(cp);
    i += static_cast<size_t>(len);
  }
  return out;
}

void AppendUtf8(char32_t cp, std::string* out) {
  if (cp >= 0xDC80 && cp <= 0xDCFF) {
    out->push_back(static_cast<char>(cp - 0xDC80));  // an invalid byte, restored
  } else {
    radixlm::AppendUtf8(cp, out);
  }
}

std::string EncodeUtf8(const std::vector<char32_t>& cps, size_t begin, size_t end) {
  std::string out;
  end = std::min(end, cps.size());
  for (size_t i = begin; i < end; ++i) AppendUtf8(cps[i], &out);
  return out;
}

size_t CodePointCount(std::string_view s) {
  if (IsAscii(s)) return s.size();
  return DecodeUtf8(s).size();
}

bool IsAscii(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

bool IsPythonSpace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

namespace {

template <typename Pred>
std::string Strip(std::string_view s, bool left, bool right, Pred drop) {
  const std::vector<char32_t> cps = DecodeUtf8(s);
  size_t b = 0, e = cps.size();
  if (left) {
    while (b < e && drop(cps[b])) ++b;
  }
  if (right) {
    while (e > b && drop(cps[e - 1])) --e;
  }
  return EncodeUtf8(cps, b, e);
}

}  // namespace

std::string StripSpace(std::string_view s, bool left, bool right) {
  return Strip(s, left, right, IsPythonSpace);
}

std::string StripChars(std::string_view s, std::string_view chars, bool left, bool right) {
  const std::vector<char32_t> set = DecodeUtf8(chars);
  return Strip(s, left, right,
               [&](char32_t c) { return std::find(set.begin(), set.end(), c) != set.end(); });
}

std::vector<std::string> SplitSpace(std::string_view s, int64_t maxsplit, bool from_right) {
  std::vector<char32_t> cps = DecodeUtf8(s);
  if (from_right) std::reverse(cps.begin(), cps.end());
  std::vector<std::string> parts;
  size_t i = 0;
  int64_t splits = 0;
  while (i < cps.size()) {
    while (i < cps.size() && IsPythonSpace(cps[i])) ++i;
    if (i == cps.size()) break;
    if (maxsplit >= 0 && splits == maxsplit) {
      parts.push_back(EncodeUtf8(cps, i, cps.size()));  // the rest, as it is
      break;
    }
    size_t j = i;
    while (j < cps.size() && !IsPythonSpace(cps[j])) ++j;
    parts.push_back(EncodeUtf8(cps, i, j));
    ++splits;
    i = j;
  }
  if (from_right) {
    for (std::string& p : parts) {
      std::vector<char32_t> r = DecodeUtf8(p);
      std::reverse(r.begin(), r.end());
      p = EncodeUtf8(r);
    }
    std::reverse(parts.begin(), parts.end());
  }
  return parts;
}

std::vector<std::string> SplitSep(std::string_view s, std::string_view sep, int64_t maxsplit,
                                  bool from_right) {
  std::vector<std::string> parts;
  if (!from_right) {
    size_t start = 0;
    int64_t splits = 0;
    while (maxsplit < 0 || splits < maxsplit) {
      const size_t pos = s.find(sep, start);
      if (pos == std::string_view::npos) break;
      parts.emplace_back(s.substr(start, pos - start));
      start = pos + sep.size();
      ++splits;
    }
    parts.emplace_back(s.substr(start));
    return parts;
  }
  size_t end = s.size();
  int64_t splits = 0;
  while (maxsplit < 0 || splits < maxsplit) {
    if (end < sep.size()) break;
    const size_t pos = s.rfind(sep, end - sep.size());
    if (pos == std::string_view::npos) break;
    parts.emplace_back(s.substr(pos + sep.size(), end - pos - sep.size()));
    end = pos;
    ++splits;
  }
  parts.emplace_back(s.substr(0, end));
  std::reverse(parts.begin(), parts.end());
  return parts;
}

std::vector<std::string> SplitLines(std::string_view s) {
  const std::vector<char32_t> cps = DecodeUtf8(s);
  std::vector<std::string> lines;
  size_t start = 0, i = 0;
  while (i < cps.size()) {
    const char32_t c = cps[i];
    const bool boundary = c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || c == 0x1C ||
                          c == 0x1D || c == 0x1E || c == 0x85 || c == 0x2028 || c == 0x2029;
    if (!boundary) {
      ++i;
      continue;
    }
    lines.push_back(EncodeUtf8(cps, start, i));
    i += (c == '\r' && i + 1 < cps.size() && cps[i + 1] == '\n') ? 2 : 1;
    start = i;
  }
  if (start < cps.size()) lines.push_back(EncodeUtf8(cps, start, cps.size()));
  return lines;
}

char32_t ToUpperCp(char32_t c) { return SimpleUppercase(c); }

char32_t ToLowerCp(char32_t c) { return SimpleLowercase(c); }

char32_t ToTitleCp(char32_t c) { return SimpleTitlecase(c); }

bool IsCased(char32_t c) { return ::radixlm::IsCased(c); }

std::string Upper(std::string_view s) {
  std::string out;
  for (char32_t c : DecodeUtf8(s)) {
    if (c == 0xDF) {
      out += "SS";
      continue;
    }
    AppendUtf8(ToUpperCp(c), &out);
  }
  return out;
}

std::string Lower(std::string_view s) {
  const std::vector<char32_t> cps = DecodeUtf8(s);
  const std::u32string lower = Lowercase(std::u32string_view(cps.data(), cps.size()));
  return EncodeUtf8(std::vector<char32_t>(lower.begin(), lower.end()));
}

}  // namespace radixlm::tmpl
