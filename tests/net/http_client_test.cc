// The HTTP client (net/http_client.h) and PostStreaming over it, against a
// raw-socket server on 127.0.0.1 (fake_http_server.h): a good stream, HTTP
// errors, a stall and a trickle (both end at the deadline, which the trickle
// cannot stretch), the run's deadline (cancelled), kept and fresh connections,
// a refused connection, plain GET and POST with their own deadlines, an answer
// over the size limit, and many requests at once (run under TSan by
// scripts/test.sh's sanitizer pass).
#include "net/http_client.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <mutex>
#include <thread>

#include "loadgen/completion_stream.h"
#include "net/fake_http_server.h"

namespace radixlm::net {
namespace {

using loadgen::FailureKind;
using loadgen::PostStreaming;
using loadgen::StreamResult;
using testing::FakeHttpServer;

std::string Response(int status, std::string_view type, std::string_view body) {
  return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: " + std::string(type) +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
}

class HttpClientTest : public ::testing::Test {
 protected:
  HttpClientTest()
      : server_([this](const FakeHttpServer::Request& req, const FakeHttpServer::Write& write) {
          return Answer(req, write);
        }) {
    target_.host = "127.0.0.1";
    target_.port = server_.port();
    target_.prefix = "/v1";
    target_.keep_alive = false;  // but in the tests of keeping
  }

  bool Answer(const FakeHttpServer::Request& req, const FakeHttpServer::Write& write) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      peer_ports_.push_back(req.peer_port);
    }
    const std::string& mode = req.body;
    if (req.path == "/metrics") return write(Response(200, "text/plain", "up 1\n"));
    if (req.path == "/big") return write(Response(200, "text/plain", std::string(5000, 'x')));
    if (req.path == "/nowhere" || req.path == "/v1/nowhere")
      return write(Response(404, "text/plain", "no"));
    if (mode == "good") {
      return write(Response(
          200, "text/event-stream",
          "data: {\"choices\":[{\"text\":\"a\"}]}\n\ndata: {\"choices\":[{\"text\":\"b\"}],"
          "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2,"
          "\"prompt_tokens_details\":{\"cached_tokens\":3}}}\n\ndata: [DONE]\n\n"));
    }
    if (mode == "teapot")
      return write(
          Response(418, "application/json", "{\"error\":{\"message\":\"short and stout\"}}"));
    if (mode == "cut") {  // a status line and half a stream, then the connection is closed
      write(
          "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 500\r\n\r\ndata: "
          "{");
      return false;
    }
    // "stall" or "trickle" (a body or a stream): a byte now and then until the server stops.
    const bool stream = mode != "trickle-body";
    write(stream ? "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: "
                   "chunked\r\n\r\n"
                   "22\r\ndata: {\"choices\":[{\"text\":\"a\"}]}\n\n\r\n"
                 : "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                   "100000\r\n\r\n{");
    while (!server_.stopping()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      if (mode == "stall") continue;
      if (!write(stream ? "4\r\n: .\n\r\n" : " ")) return false;
    }
    return false;
  }

  FakeHttpServer server_;
  HttpTarget target_;
  std::mutex mu_;
  std::vector<int> peer_ports_;  // the client's port, per request
};

double SecondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

TEST_F(HttpClientTest, AGoodStream) {
  const StreamResult r = PostStreaming(target_, "/completions", "good");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.http_status, 200);
  EXPECT_EQ(r.text, "ab");
  EXPECT_EQ(r.cached_tokens, 3);
  EXPECT_GT(r.ttft_s, 0);
  EXPECT_LE(r.ttft_s, r.e2e_s);
}

TEST_F(HttpClientTest, AThreadKeepsItsConnectionUnlessAFailureOrTheTargetSaysNot) {
  target_.keep_alive = true;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(PostStreaming(target_, "/completions", "good").ok);
  EXPECT_EQ(PostStreaming(target_, "/completions", "teapot").failure, FailureKind::kHttpStatus);
  ASSERT_TRUE(PostStreaming(target_, "/completions", "good").ok);
  HttpTarget fresh = target_;
  fresh.keep_alive = false;
  ASSERT_TRUE(PostStreaming(fresh, "/completions", "good").ok);
  ASSERT_TRUE(PostStreaming(fresh, "/completions", "good").ok);
  std::lock_guard<std::mutex> lock(mu_);
  ASSERT_EQ(peer_ports_.size(), 7u);
  EXPECT_EQ(peer_ports_[0], peer_ports_[1]);
  EXPECT_EQ(peer_ports_[1], peer_ports_[2]);
  EXPECT_EQ(peer_ports_[2], peer_ports_[3]);  // the failure came on the kept connection...
  EXPECT_NE(peer_ports_[3], peer_ports_[4]);  // ...which was then dropped
  EXPECT_NE(peer_ports_[5], peer_ports_[6]);
}

TEST_F(HttpClientTest, AnHttpErrorAndACutStream) {
  const StreamResult r = PostStreaming(target_, "/completions", "teapot");
  EXPECT_EQ(r.failure, FailureKind::kHttpStatus);
  EXPECT_EQ(r.http_status, 418);
  EXPECT_NE(r.error.find("short and stout"), std::string::npos) << r.error;
  const StreamResult missing = PostStreaming(target_, "/nowhere", "good");
  EXPECT_EQ(missing.failure, FailureKind::kHttpStatus);
  EXPECT_EQ(missing.http_status, 404);
  const StreamResult cut = PostStreaming(target_, "/completions", "cut");
  EXPECT_EQ(cut.failure, FailureKind::kConnect) << cut.error;
  EXPECT_NE(cut.error.find("broke"), std::string::npos) << cut.error;
}

TEST_F(HttpClientTest, StallsAndTricklesEndAtTheDeadline) {
  for (const char* mode : {"stall", "trickle"}) {
    const auto t0 = Clock::now();
    const StreamResult r = PostStreaming(target_, "/completions", mode, {.timeout_s = 0.3});
    const double took = SecondsSince(t0);
    EXPECT_EQ(r.failure, FailureKind::kTimeout) << mode << ": " << r.error;
    EXPECT_EQ(r.token_times_s.size(), 1u) << mode;
    EXPECT_GE(took, 0.29);
    EXPECT_LT(took, 2.0) << mode;
  }
  // The run's deadline before the request's: cancelled, not timed out.
  const StreamResult r = PostStreaming(
      target_, "/completions", "stall",
      {.timeout_s = 60, .run_deadline = Clock::now() + std::chrono::milliseconds(200)});
  EXPECT_EQ(r.failure, FailureKind::kCancelled) << r.error;
  const StreamResult late = PostStreaming(target_, "/completions", "good",
                                          {.run_deadline = Clock::now() - std::chrono::seconds(1)});
  EXPECT_EQ(late.failure, FailureKind::kCancelled);
}

TEST_F(HttpClientTest, PlainRequestsHaveARealDeadlineAndASizeLimit) {
  auto metrics = Get(target_, "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status().ToString();
  EXPECT_EQ(metrics->status, 200);
  EXPECT_EQ(metrics->body, "up 1\n");
  auto missing = Post(target_, "/v1/nowhere", "{}");
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->status, 404);
  // A body trickled a byte every 20 ms: the read timeout of a socket would
  // restart with every byte; the deadline does not.
  const auto t0 = Clock::now();
  auto trickled = Post(target_, "/v1/embeddings", "trickle-body", 0.3);
  const double took = SecondsSince(t0);
  ASSERT_FALSE(trickled.ok());
  EXPECT_EQ(trickled.status().code(), StatusCode::kDeadlineExceeded)
      << trickled.status().ToString();
  EXPECT_GE(took, 0.29);
  EXPECT_LT(took, 2.0);
  HttpRequest big;
  big.path = "/big";
  big.max_body_bytes = 4096;
  const HttpResult r = Send(target_, big);
  EXPECT_EQ(r.error, HttpError::kTooLarge) << r.message;
  big.max_body_bytes = 5000;
  EXPECT_TRUE(Send(target_, big).ok());
}

TEST_F(HttpClientTest, ManyAtOnce) {
  // Sixteen threads, three requests each on a kept connection; the last
  // thread's requests stall.
  target_.keep_alive = true;
  std::vector<std::thread> threads;
  std::vector<StreamResult> results(48);
  for (size_t t = 0; t < 16; ++t) {
    threads.emplace_back([&, t] {
      for (size_t k = 0; k < 3; ++k) {
        const bool stall = t == 15;
        results[t * 3 + k] = PostStreaming(target_, "/completions", stall ? "stall" : "good",
                                           {.timeout_s = stall ? 0.3 : 10});
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (size_t i = 0; i < results.size(); ++i) {
    EXPECT_EQ(results[i].failure, i >= 45 ? FailureKind::kTimeout : FailureKind::kNone)
        << i << ": " << results[i].error;
  }
}

TEST(HttpClientConnectTest, RefusedAndBadUrls) {
  // Bind a port, then close it: nothing listens there.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const int port = ntohs(addr.sin_port);
  close(fd);
  auto target = ParseBaseUrl("http://127.0.0.1:" + std::to_string(port));
  ASSERT_TRUE(target.ok());
  EXPECT_EQ(target->prefix, "/v1");
  const StreamResult r = PostStreaming(*target, "/completions", "good", {.timeout_s = 5});
  EXPECT_EQ(r.failure, FailureKind::kConnect);
  EXPECT_NE(r.error.find("cannot connect"), std::string::npos) << r.error;
  auto plain = Get(*target, "/health", 5);
  EXPECT_EQ(plain.status().code(), StatusCode::kUnavailable);
  EXPECT_FALSE(ParseBaseUrl("https://example.com").ok());
  EXPECT_FALSE(ParseBaseUrl("http://:80").ok());
  EXPECT_FALSE(ParseBaseUrl("http://host:99999").ok());
  EXPECT_FALSE(ParseBaseUrl("http://host:80x").ok());
  EXPECT_FALSE(ParseBaseUrl("http://host:").ok());
  EXPECT_EQ(ParseBaseUrl("http://h:8/api/")->prefix, "/api");
}

}  // namespace
}  // namespace radixlm::net
