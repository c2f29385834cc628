// RemoteEmbedder against a raw-socket server on 127.0.0.1: a good answer, the
// request it sends, untrusted answers refused, and --semantic-embeddings-timeout
// as a real deadline (a server trickling its answer a byte at a time is cut off
// at it).
#include "respcache/remote_embedder.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "net/fake_http_server.h"

namespace radixlm::respcache {
namespace {

using testing::FakeHttpServer;

std::string Ok(std::string_view body) {
  return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
}

TEST(RemoteEmbedderTest, AsksOnceAndReadsTheVector) {
  std::string seen_path, seen_body, seen_headers;
  FakeHttpServer server(
      [&](const FakeHttpServer::Request& req, const FakeHttpServer::Write& write) {
        seen_path = req.path;
        seen_body = req.body;
        seen_headers = req.headers;
        return write(Ok(R"({"object":"list","data":[{"embedding":[0.5,-1,2e-3]}],"model":"e"})"));
      });
  auto target = net::ParseBaseUrl("http://127.0.0.1:" + std::to_string(server.port()) + "/v1");
  ASSERT_TRUE(target.ok());
  target->api_key = "k1";
  RemoteEmbedder embedder(*target, "http://x", "e5");
  auto v = embedder.Embed("hello", "ns");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(*v, (std::vector<float>{0.5f, -1.0f, 2e-3f}));
  EXPECT_EQ(seen_path, "/v1/embeddings");
  EXPECT_EQ(seen_body, R"({"model":"e5","input":"hello"})");
  EXPECT_NE(seen_headers.find("authorization: bearer k1"), std::string::npos) << seen_headers;
}

TEST(RemoteEmbedderTest, TheTimeoutIsADeadline) {
  FakeHttpServer server([&](const FakeHttpServer::Request&, const FakeHttpServer::Write& write) {
    write("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{");
    while (!server.stopping()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      if (!write(" ")) break;
    }
    return false;
  });
  auto target = net::ParseBaseUrl("http://127.0.0.1:" + std::to_string(server.port()));
  ASSERT_TRUE(target.ok());
  target->timeout_s = 0.3;
  RemoteEmbedder embedder(*target, "http://slow", "");
  const auto t0 = std::chrono::steady_clock::now();
  auto v = embedder.Embed("hello", "");
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), StatusCode::kDeadlineExceeded) << v.status().ToString();
  EXPECT_NE(v.status().message().find("http://slow"), std::string::npos) << v.status().ToString();
  EXPECT_GE(took, 0.29);
  EXPECT_LT(took, 2.0);
}

TEST(RemoteEmbedderTest, StatusErrorsAreFailures) {
  FakeHttpServer server([&](const FakeHttpServer::Request&, const FakeHttpServer::Write& write) {
    return write("HTTP/1.1 503 X\r\nContent-Length: 4\r\n\r\nbusy");
  });
  auto target = net::ParseBaseUrl("http://127.0.0.1:" + std::to_string(server.port()));
  ASSERT_TRUE(target.ok());
  RemoteEmbedder embedder(*target, "http://busy", "");
  auto v = embedder.Embed("hello", "");
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("HTTP 503: busy"), std::string::npos)
      << v.status().ToString();
}

// Another server's answers are untrusted: anything but a list of finite numbers is refused.
TEST(RemoteEmbedderTest, ResponsesAreChecked) {
  auto v = ParseEmbeddingResponse(
      R"({"object":"list","data":[{"embedding":[0.5,-1,2e-3]}],"model":"x"})");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(*v, (std::vector<float>{0.5f, -1.0f, 2e-3f}));
  for (const char* body :
       {"", "[]", R"({"data":[]})", R"({"data":[{"embedding":"AAAA"}]})",
        R"({"data":[{"embedding":[1,"x"]}]})", R"({"data":[{"embedding":[1e999]}]})",
        R"({"data":[{"embedding":[1e39]}]})", R"({"data":[{"embedding":[]}]})",
        R"({"data":{"embedding":[1]}})"}) {
    EXPECT_FALSE(ParseEmbeddingResponse(body).ok()) << body;
  }
}

}  // namespace
}  // namespace radixlm::respcache
