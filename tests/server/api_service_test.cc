// Routing, authentication and validation of ApiService, without an engine
// (requests that would reach it answer 503 "no engine").
#include "server/api_service.h"

#include <gtest/gtest.h>

#include "model/tokenizer.h"

namespace radixlm::server {
namespace {

class ApiServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto t =
        model::Tokenizer::FromJson(model::MakeByteLevelTokenizerJson({"<|endoftext|>"}), "test");
    ASSERT_TRUE(t.ok());
    tokenizer_ = std::move(*t);
  }
  std::unique_ptr<ApiService> Make(std::vector<std::string> keys = {}, ServiceOptions o = {}) {
    ModelInfo info;
    info.tokenizer = tokenizer_.get();
    info.max_context = 128;
    info.vocab_size = 300;
    info.chat_format = DetectChatFormat(*tokenizer_);
    o.model_name = "tiny";
    o.api_keys = std::move(keys);
    return std::make_unique<ApiService>(nullptr, info, o);
  }
  static ApiResponse Call(ApiService& s, std::string method, std::string path,
                          std::string body = "", std::string auth = "") {
    return s.Handle({std::move(method), std::move(path), std::move(body), std::move(auth)});
  }
  std::unique_ptr<model::Tokenizer> tokenizer_;
};

TEST_F(ApiServiceTest, Routes) {
  auto s = Make();
  EXPECT_EQ(Call(*s, "GET", "/health").status, 200);
  EXPECT_EQ(Call(*s, "GET", "/health").body, R"({"status":"ok"})");
  ApiResponse r = Call(*s, "GET", "/v1/models");
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find(R"("id":"tiny")"), std::string::npos);
  EXPECT_NE(r.body.find(R"("max_model_len":128)"), std::string::npos);
  r = Call(*s, "GET", "/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type.rfind("text/plain; version=0.0.4", 0), 0u);

  r = Call(*s, "POST", "/v1/nothing");
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(r.body.find("Invalid URL (POST /v1/nothing)"), std::string::npos);
  r = Call(*s, "GET", "/v1/completions");
  EXPECT_EQ(r.status, 405);
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers[0], (std::pair<std::string, std::string>{"Allow", "POST"}));
  EXPECT_EQ(Call(*s, "DELETE", "/health").status, 405);
  EXPECT_EQ(Call(*s, "GET", "/v1/models?x=1").status, 200);
}

TEST_F(ApiServiceTest, ValidationHappensBeforeTheEngine) {
  auto s = Make();
  ApiResponse r = Call(*s, "POST", "/v1/completions", R"({"prompt":"x","max_tokens":"ten"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find(R"("param":"max_tokens")"), std::string::npos);
  r = Call(*s, "POST", "/v1/completions", R"({"prompt":"x","model":"gpt-4"})");
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(r.body.find(R"("code":"model_not_found")"), std::string::npos);
  r = Call(*s, "POST", "/v1/chat/completions",
           R"({"messages":[{"role":"user","content":"hi"}],"max_tokens":500})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("maximum context length is 128 tokens"), std::string::npos);
  r = Call(*s, "POST", "/v1/completions", R"({"prompt":"x"})");
  EXPECT_EQ(r.status, 503);  // valid, but no engine here
  // More prompts than one request's share of the queue: 400, before the engine.
  std::string many = R"({"prompt":[)";
  for (int i = 0; i < 2049; ++i) many += std::string(i ? "," : "") + R"([1,2])";
  many += "]}";
  r = Call(*s, "POST", "/v1/completions", many);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("2049 prompts in one request; this server takes at most 2048"),
            std::string::npos)
      << r.body;
  EXPECT_NE(r.body.find(R"("param":"prompt")"), std::string::npos);
}

TEST_F(ApiServiceTest, PinRoutes) {
  auto s = Make({"secret"});
  ApiResponse r = Call(*s, "PUT", "/v1/cache/pins");
  EXPECT_EQ(r.status, 405);
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers[0], (std::pair<std::string, std::string>{"Allow", "GET, DELETE"}));
  EXPECT_EQ(Call(*s, "GET", "/v1/cache/pins/pin-1").status, 405);
  EXPECT_EQ(Call(*s, "GET", "/v1/cache/pins").status, 401);  // a tenant's route
  EXPECT_EQ(Call(*s, "DELETE", "/v1/cache/pins/pin-1").status, 401);
  EXPECT_EQ(Call(*s, "GET", "/v1/cache/pins", "", "Bearer secret").status, 503);  // no engine here
  EXPECT_EQ(Call(*s, "DELETE", "/v1/cache/pins/pin-1", "", "Bearer secret").status, 503);
  // Bad retention fields are refused before the engine.
  r = Call(*s, "POST", "/v1/completions", R"({"prompt":"x","retention_priority":1000})",
           "Bearer secret");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find(R"("param":"retention_priority")"), std::string::npos) << r.body;
  r = Call(*s, "POST", "/v1/completions", R"({"prompt":"x","cache_control":{"prefix_tokens":99}})",
           "Bearer secret");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find(R"("param":"cache_control.prefix_tokens")"), std::string::npos) << r.body;
}

TEST_F(ApiServiceTest, ApiKeysGuardV1Only) {
  auto s = Make({"secret"});
  EXPECT_EQ(Call(*s, "GET", "/health").status, 200);
  EXPECT_EQ(Call(*s, "GET", "/metrics").status, 200);
  ApiResponse r = Call(*s, "GET", "/v1/models");
  EXPECT_EQ(r.status, 401);
  EXPECT_NE(r.body.find(R"("code":"invalid_api_key")"), std::string::npos);
  EXPECT_EQ(Call(*s, "GET", "/v1/models", "", "Bearer wrong").status, 401);
  EXPECT_EQ(Call(*s, "GET", "/v1/models", "", "Bearer secret").status, 200);
}

TEST_F(ApiServiceTest, MetricsKeyGuardsMetricsOnly) {
  ServiceOptions o;
  o.metrics_api_keys = {"operator"};
  auto made = Make({"tenant"}, o);
  ApiService& s = *made;
  ApiResponse r = Call(s, "GET", "/metrics");
  EXPECT_EQ(r.status, 401);
  EXPECT_NE(r.body.find(R"("code":"invalid_api_key")"), std::string::npos);
  EXPECT_EQ(Call(s, "GET", "/metrics", "", "Bearer tenant").status,
            401);  // a tenant's key is not the operator's
  EXPECT_EQ(Call(s, "GET", "/metrics", "", "Bearer operator").status, 200);
  EXPECT_EQ(Call(s, "GET", "/health").status, 200);
  EXPECT_EQ(Call(s, "GET", "/v1/models", "", "Bearer operator").status, 401);  // and not a tenant's
  EXPECT_EQ(Call(s, "GET", "/v1/models", "", "Bearer tenant").status, 200);
  // but it opens the cache's stats (past authentication: no engine here, 503).
  EXPECT_EQ(Call(s, "GET", "/v1/cache/stats", "", "Bearer operator").status, 503);
  EXPECT_EQ(Call(s, "GET", "/v1/cache/stats", "", "Bearer nope").status, 401);
}

TEST_F(ApiServiceTest, ShutdownAnswers503) {
  auto s = Make();
  s->BeginShutdown();
  EXPECT_EQ(Call(*s, "GET", "/health").status, 503);
  EXPECT_EQ(Call(*s, "POST", "/v1/completions", R"({"prompt":"x"})").status, 503);
  EXPECT_EQ(Call(*s, "GET", "/metrics").status, 200);
}

TEST_F(ApiServiceTest, CountsResponses) {
  auto s = Make();
  s->CountResponse(200);
  s->CountResponse(200);
  s->CountResponse(404);
  const std::string text = Call(*s, "GET", "/metrics").body;
  EXPECT_NE(text.find("radixlm:http_requests_total{code=\"200\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("radixlm:http_requests_total{code=\"404\"} 1\n"), std::string::npos);
}

}  // namespace
}  // namespace radixlm::server

namespace radixlm::server {
namespace {

// /tokenize needs no engine: the prompt a chat or completion body would run.
TEST_F(ApiServiceTest, TokenizesChatAndCompletionBodies) {
  auto s = Make();
  ApiResponse r =
      Call(*s, "POST", "/tokenize", R"({"messages": [{"role": "user", "content": "hi"}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  // The built-in plain format: "User: hi\n\nAssistant:", one byte token each.
  EXPECT_NE(r.body.find(R"("count":20,)"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find(R"("max_model_len":128)"), std::string::npos);
  r = Call(*s, "POST", "/tokenize", R"({"prompt": "ab"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, R"({"count":2,"max_model_len":128,"tokens":[97,98]})");
  r = Call(*s, "POST", "/tokenize", R"({"prompt": ["a", "b"]})");
  EXPECT_EQ(r.status, 400);
  r = Call(*s, "POST", "/tokenize", R"({"messages": [{"role": "nobody", "content": "x"}]})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Call(*s, "GET", "/tokenize").status, 405);
  auto keyed = Make({"k1"});
  EXPECT_EQ(Call(*keyed, "POST", "/tokenize", R"({"prompt": "ab"})").status, 401);
  EXPECT_EQ(Call(*keyed, "POST", "/tokenize", R"({"prompt": "ab"})", "Bearer k1").status, 200);
}

}  // namespace
}  // namespace radixlm::server
