// The server-sent-event framing at the client (net/sse.h) on hostile input:
// every line ending, split reads, comments and fields, cut streams, and events
// over the size limit.
#include "net/sse.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace radixlm::net {
namespace {

using Events = std::vector<std::pair<std::string, std::string>>;

Events FeedAll(SseParser& parser, const std::vector<std::string>& pieces) {
  Events events;
  for (const std::string& piece : pieces) {
    parser.Feed(piece, [&](std::string_view event, std::string_view data) {
      events.emplace_back(event, data);
    });
  }
  return events;
}

TEST(SseParserTest, LineEndingsCommentsFieldsAndSplitReads) {
  SseParser parser;
  // LF, CRLF split between reads, lone CR; a comment; "data:" with and without
  // the space; two data lines joined; a named event; an unknown field.
  const Events events =
      FeedAll(parser, {"data: one\n\n: comment\ndata:two\r", "\n\r\n", "data: a\rdata: b\r\r",
                       "event: error\nid: 7\ndata: {}\n\n", "retry: 5\n\n"});
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0], (std::pair<std::string, std::string>{"", "one"}));
  EXPECT_EQ(events[1], (std::pair<std::string, std::string>{"", "two"}));
  EXPECT_EQ(events[2], (std::pair<std::string, std::string>{"", "a\nb"}));
  EXPECT_EQ(events[3], (std::pair<std::string, std::string>{"error", "{}"}));
  EXPECT_FALSE(parser.has_partial_event());
}

TEST(SseParserTest, ByteAtATimeGivesTheSameEvents) {
  const std::string stream = "data: {\"x\": 1}\r\n\r\ndata: [DONE]\r\n\r\n";
  SseParser whole, bytes;
  std::vector<std::string> pieces;
  for (char c : stream) pieces.emplace_back(1, c);
  EXPECT_EQ(FeedAll(whole, {stream}), FeedAll(bytes, pieces));
}

TEST(SseParserTest, CutStreamAndOversizedEvents) {
  SseParser parser;
  EXPECT_TRUE(FeedAll(parser, {"data: unfinished"}).empty());
  EXPECT_TRUE(parser.has_partial_event());

  SseParser small(16);
  Events events;
  auto on = [&](std::string_view e, std::string_view d) { events.emplace_back(e, d); };
  EXPECT_TRUE(small.Feed("data: 0123456\n\n", on));
  EXPECT_FALSE(small.Feed("data: 0123456789abcdef", on));  // a line past the limit, no newline
  EXPECT_TRUE(small.overflowed());
  EXPECT_FALSE(small.Feed("\n\n", on));  // everything after is ignored
  EXPECT_EQ(events.size(), 1u);
  SseParser lines(16);
  EXPECT_FALSE(lines.Feed("data: 0123456\ndata: 0123456\n", on));  // data lines add up
}

}  // namespace
}  // namespace radixlm::net
