#include "engine/stop_matcher.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace radixlm::engine {
namespace {

struct Outcome {
  std::string text;
  bool stopped = false;
  std::string matched;
};

// The answer over the whole text at once: the occurrence that ends first wins,
// the longest among those ending together.
Outcome Reference(const std::string& text, const std::vector<std::string>& stops,
                  bool include_stop) {
  size_t best_end = std::string::npos;
  std::string best;
  for (const std::string& s : stops) {
    if (s.empty()) continue;
    const size_t at = text.find(s);
    if (at == std::string::npos) continue;
    const size_t end = at + s.size();
    if (end < best_end || (end == best_end && s.size() > best.size())) {
      best_end = end;
      best = s;
    }
  }
  if (best_end == std::string::npos) return {text, false, ""};
  return {text.substr(0, include_stop ? best_end : best_end - best.size()), true, best};
}

// How much of `text` may be shown while no stop has matched: all but the longest
// suffix that is a proper prefix of a stop string.
size_t SafeLength(const std::string& text, const std::vector<std::string>& stops) {
  for (size_t hold = text.size(); hold > 0; --hold) {
    const std::string tail = text.substr(text.size() - hold);
    for (const std::string& s : stops) {
      if (s.size() > hold && s.compare(0, hold, tail) == 0) return text.size() - hold;
    }
  }
  return text.size();
}

// Feeds `pieces` and returns the concatenated output plus Flush.
Outcome Stream(const std::vector<std::string>& pieces, const std::vector<std::string>& stops,
               bool include_stop) {
  StopMatcher matcher(stops, include_stop);
  Outcome out;
  for (const std::string& p : pieces) {
    StopMatcher::Result r = matcher.Add(p);
    if (out.stopped) {
      EXPECT_TRUE(r.text.empty());
      EXPECT_TRUE(r.stopped);
      continue;
    }
    out.text += r.text;
    if (r.stopped) {
      out.stopped = true;
      out.matched = r.matched;
    }
    EXPECT_EQ(matcher.stopped(), out.stopped);
  }
  out.text += matcher.Flush();
  return out;
}

TEST(StopMatcherTest, NoStopsHoldsNothingBack) {
  StopMatcher m({}, false);
  StopMatcher::Result r = m.Add("hello");
  EXPECT_EQ(r.text, "hello");
  EXPECT_FALSE(r.stopped);
  EXPECT_EQ(m.Add(" world").text, " world");
  EXPECT_EQ(m.Flush(), "");
}

TEST(StopMatcherTest, EmptyStopStringsAreIgnored) {
  StopMatcher only_empty({""}, true);
  EXPECT_EQ(only_empty.Add("abc").text, "abc");
  EXPECT_FALSE(only_empty.stopped());
  StopMatcher m({"", "x", ""}, false);
  EXPECT_EQ(m.Add("ab").text, "ab");
  StopMatcher::Result r = m.Add("cxd");
  EXPECT_EQ(r.text, "c");
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.matched, "x");
}

TEST(StopMatcherTest, StopSpanningPieces) {
  StopMatcher m({"</s>"}, false);
  StopMatcher::Result r = m.Add("Hello <");
  EXPECT_EQ(r.text, "Hello ");
  EXPECT_FALSE(r.stopped);
  r = m.Add("/");
  EXPECT_EQ(r.text, "");
  EXPECT_FALSE(r.stopped);
  r = m.Add("s> world");
  EXPECT_EQ(r.text, "");
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.matched, "</s>");
  EXPECT_TRUE(m.stopped());
  // Nothing more is accepted.
  r = m.Add("more");
  EXPECT_EQ(r.text, "");
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(m.Flush(), "");
}

TEST(StopMatcherTest, IncludeStop) {
  StopMatcher m({"</s>"}, true);
  EXPECT_EQ(m.Add("Hello </").text, "Hello ");
  StopMatcher::Result r = m.Add("s>!");
  EXPECT_EQ(r.text, "</s>");
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.matched, "</s>");
}

TEST(StopMatcherTest, HeldTextIsReleasedWhenItTurnsOutNotToMatch) {
  StopMatcher m({"ab"}, false);
  EXPECT_EQ(m.Add("xa").text, "x");
  EXPECT_EQ(m.Add("c").text, "ac");
  EXPECT_EQ(m.Add("a").text, "");
  EXPECT_EQ(m.Add("a").text, "a");  // "aa": only the last 'a' may still begin "ab"
  EXPECT_EQ(m.Flush(), "a");
  EXPECT_EQ(m.Flush(), "");
}

TEST(StopMatcherTest, EarliestEndWinsWithinOnePiece) {
  {
    StopMatcher m({"c", "b"}, false);
    StopMatcher::Result r = m.Add("abc");
    EXPECT_EQ(r.text, "a");
    EXPECT_EQ(r.matched, "b");
  }
  {
    // "bc" is complete before "abcd" could be.
    StopMatcher m({"abcd", "bc"}, false);
    StopMatcher::Result r = m.Add("abcd");
    EXPECT_EQ(r.text, "a");
    EXPECT_EQ(r.matched, "bc");
  }
  {
    // Ending together, the longer one wins.
    StopMatcher m({"bc", "abc"}, false);
    StopMatcher::Result r = m.Add("xabcy");
    EXPECT_EQ(r.text, "x");
    EXPECT_EQ(r.matched, "abc");
  }
  {
    StopMatcher m({"ab", "abc"}, true);
    EXPECT_EQ(m.Add("xa").text, "x");
    StopMatcher::Result r = m.Add("bc");
    EXPECT_EQ(r.text, "ab");
    EXPECT_EQ(r.matched, "ab");
  }
}

TEST(StopMatcherTest, Utf8SplitInsideCharacters) {
  // "。" is E3 80 82; the pieces cut it between bytes.
  StopMatcher m({"。"}, false);
  EXPECT_EQ(m.Add("你好\xE3").text, "你好");
  EXPECT_EQ(m.Add("\x80").text, "");
  StopMatcher::Result r = m.Add("\x82后面");
  EXPECT_EQ(r.text, "");
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.matched, "。");

  // 😀 (F0 9F 98 80) shares three bytes with 😁 (F0 9F 98 81).
  StopMatcher e({"😀"}, false);
  EXPECT_EQ(e.Add("a\xF0\x9F\x98").text, "a");
  EXPECT_EQ(e.Add("\x81 ok").text, "\xF0\x9F\x98\x81 ok");
  StopMatcher::Result s = e.Add("b😀c");
  EXPECT_EQ(s.text, "b");
  EXPECT_EQ(s.matched, "😀");
}

TEST(StopMatcherTest, MatchesTheReferenceOnRandomSplits) {
  std::mt19937_64 rng(12345);
  auto uniform = [&](size_t lo, size_t hi) {
    return std::uniform_int_distribution<size_t>(lo, hi)(rng);
  };
  const std::string alphabets[] = {"ab", "abc", "a\xC3\xA9"};  // the last: 'a' and the bytes of é
  for (int iter = 0; iter < 5000; ++iter) {
    const std::string& alphabet = alphabets[iter % 3];
    auto random_string = [&](size_t max_len) {
      std::string s(uniform(0, max_len), ' ');
      for (char& c : s) c = alphabet[uniform(0, alphabet.size() - 1)];
      return s;
    };
    const std::string text = random_string(40);
    std::vector<std::string> stops(uniform(0, 4));
    for (std::string& s : stops) s = random_string(5);
    const bool include_stop = uniform(0, 1) == 1;
    std::vector<std::string> pieces;
    for (size_t at = 0; at < text.size() || uniform(0, 3) == 0;) {
      const size_t len = std::min(uniform(0, 6), text.size() - at);
      pieces.push_back(text.substr(at, len));
      at += len;
      if (at == text.size() && uniform(0, 1) == 0) break;
    }
    std::vector<std::string> real_stops;
    for (const std::string& s : stops) {
      if (!s.empty()) real_stops.push_back(s);
    }

    SCOPED_TRACE("text '" + text + "' iteration " + std::to_string(iter));
    const Outcome want = Reference(text, stops, include_stop);
    const Outcome got = Stream(pieces, stops, include_stop);
    EXPECT_EQ(got.text, want.text);
    EXPECT_EQ(got.stopped, want.stopped);
    EXPECT_EQ(got.matched, want.matched);

    // Before a stop, exactly the safe part of the text so far has been shown.
    StopMatcher m(stops, include_stop);
    std::string so_far, shown;
    for (const std::string& p : pieces) {
      so_far += p;
      StopMatcher::Result r = m.Add(p);
      shown += r.text;
      if (r.stopped) break;
      ASSERT_EQ(shown, so_far.substr(0, SafeLength(so_far, real_stops))) << "after " << so_far;
    }
  }
}

}  // namespace
}  // namespace radixlm::engine
