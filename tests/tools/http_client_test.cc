// PostStreaming against an in-process HTTP server on 127.0.0.1: a good stream,
// a stall and a trickle (both end at the request's deadline, by the watchdog),
// the run's deadline (cancelled), a refused connection, and many requests at
// once (run under TSan by scripts/test.sh's sanitizer pass).
#include "tools/http_client.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <thread>

namespace radixlm::tools {
namespace {

using Clock = std::chrono::steady_clock;

class HttpClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
      const std::string mode = req.body;
      {
        std::lock_guard<std::mutex> lock(mu_);
        remote_ports_.push_back(req.remote_port);
      }
      if (mode == "good") {
        res.set_content(
            "data: {\"choices\":[{\"text\":\"a\"}]}\n\ndata: {\"choices\":[{\"text\":\"b\"}],"
            "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2,\"prompt_tokens_details\":{\"cached_tokens\":3}}}"
            "\n\ndata: [DONE]\n\n",
            "text/event-stream");
      } else if (mode == "teapot") {
        res.status = 418;
        res.set_content("{\"error\":{\"message\":\"short and stout\"}}", "application/json");
      } else {  // "stall" or "trickle": stream until the test ends
        res.set_chunked_content_provider("text/event-stream", [this, mode](size_t, httplib::DataSink& sink) {
          const std::string first = "data: {\"choices\":[{\"text\":\"a\"}]}\n\n";
          sink.write(first.data(), first.size());
          std::unique_lock<std::mutex> lock(mu_);
          while (!done_) {
            cv_.wait_for(lock, std::chrono::milliseconds(20));
            if (!sink.is_writable()) return false;  // the client gave up: free the worker
            if (mode == "trickle" && !done_) {
              lock.unlock();
              const bool alive = sink.write(": .\n", 4);
              lock.lock();
              if (!alive) return false;
            }
          }
          return false;
        });
      }
    });
    // A kept connection holds a server thread until this timeout, and stop()
    // waits for it.
    server_.set_keep_alive_timeout(1);
    port_ = server_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    // Bound and listening already: connections wait in the backlog until the accept loop runs.
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    target_.host = "127.0.0.1";
    target_.port = port_;
    target_.prefix = "/v1";
    target_.keep_alive = false;  // but in the test of keeping
  }
  void TearDown() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    server_.stop();
    thread_.join();
  }

  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  HttpTarget target_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::vector<int> remote_ports_;  // the client's port, per request
};

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
  ASSERT_EQ(remote_ports_.size(), 7u);
  EXPECT_EQ(remote_ports_[0], remote_ports_[1]);
  EXPECT_EQ(remote_ports_[1], remote_ports_[2]);
  EXPECT_EQ(remote_ports_[2], remote_ports_[3]);  // the failure came on the kept connection...
  EXPECT_NE(remote_ports_[3], remote_ports_[4]);  // ...which was then dropped
  EXPECT_NE(remote_ports_[5], remote_ports_[6]);
}

TEST_F(HttpClientTest, AnHttpError) {
  const StreamResult r = PostStreaming(target_, "/completions", "teapot");
  EXPECT_EQ(r.failure, FailureKind::kHttpStatus);
  EXPECT_EQ(r.http_status, 418);
  EXPECT_NE(r.error.find("short and stout"), std::string::npos) << r.error;
  const StreamResult missing = PostStreaming(target_, "/nowhere", "good");
  EXPECT_EQ(missing.failure, FailureKind::kHttpStatus);
  EXPECT_EQ(missing.http_status, 404);
}

TEST_F(HttpClientTest, StallsAndTricklesEndAtTheDeadline) {
  for (const char* mode : {"stall", "trickle"}) {
    const auto t0 = Clock::now();
    const StreamResult r = PostStreaming(target_, "/completions", mode, {.timeout_s = 0.3});
    const double took = std::chrono::duration<double>(Clock::now() - t0).count();
    EXPECT_EQ(r.failure, FailureKind::kTimeout) << mode << ": " << r.error;
    EXPECT_EQ(r.token_times_s.size(), 1u);
    EXPECT_GE(took, 0.29);
    EXPECT_LT(took, 2.0) << mode;
  }
  // The run's deadline before the request's: cancelled, not timed out.
  const StreamResult r = PostStreaming(target_, "/completions", "stall",
                                       {.timeout_s = 60, .run_deadline = Clock::now() + std::chrono::milliseconds(200)});
  EXPECT_EQ(r.failure, FailureKind::kCancelled) << r.error;
  const StreamResult late =
      PostStreaming(target_, "/completions", "good", {.run_deadline = Clock::now() - std::chrono::seconds(1)});
  EXPECT_EQ(late.failure, FailureKind::kCancelled);
}

TEST_F(HttpClientTest, ManyAtOnce) {
  // Five threads (httplib 0.11 listens with a backlog of 5: a larger burst of
  // connects can lose handshakes to the test server), three requests each on a
  // kept connection; the last thread's requests stall.
  target_.keep_alive = true;
  std::vector<std::thread> threads;
  std::vector<StreamResult> results(15);
  for (size_t t = 0; t < 5; ++t) {
    threads.emplace_back([&, t] {
      for (size_t k = 0; k < 3; ++k) {
        const bool stall = t == 4;
        results[t * 3 + k] =
            PostStreaming(target_, "/completions", stall ? "stall" : "good", {.timeout_s = stall ? 0.3 : 10});
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (size_t i = 0; i < results.size(); ++i) {
    EXPECT_EQ(results[i].failure, i >= 12 ? FailureKind::kTimeout : FailureKind::kNone) << i << ": " << results[i].error;
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
  EXPECT_FALSE(ParseBaseUrl("https://example.com").ok());
  EXPECT_FALSE(ParseBaseUrl("http://:80").ok());
  EXPECT_FALSE(ParseBaseUrl("http://host:99999").ok());
  EXPECT_EQ(ParseBaseUrl("http://h:8/api/")->prefix, "/api");
}

}  // namespace
}  // namespace radixlm::tools
