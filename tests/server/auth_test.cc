#include "server/auth.h"

#include <gtest/gtest.h>

#include "server/error.h"

namespace radixlm::server {
namespace {

TEST(Auth, OpenServerHasNoTenant) {
  ApiKeys keys({});
  EXPECT_FALSE(keys.enabled());
  auto t = keys.Authenticate("");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, "");
  EXPECT_EQ(RequestNamespace("", std::nullopt), "");
  EXPECT_EQ(RequestNamespace("", "salt"), "salt");
}

TEST(Auth, KeysMapToTheirOwnNamespaces) {
  ApiKeys keys({"alpha-key", "beta-key"});
  ASSERT_TRUE(keys.enabled());
  auto a = keys.Authenticate("Bearer alpha-key");
  auto b = keys.Authenticate("Bearer beta-key");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
  EXPECT_EQ(*a, TenantOfKey("alpha-key"));
  EXPECT_EQ(a->rfind("key:", 0), 0u);
  EXPECT_EQ(a->size(), 4u + 32u);
  EXPECT_EQ(a->find("alpha"), std::string::npos);  // never the key in clear
  EXPECT_EQ(RequestNamespace(*a, std::nullopt), *a);
  EXPECT_EQ(RequestNamespace(*a, "s"), *a + "/salt:s");
  EXPECT_NE(RequestNamespace(*a, "s"), RequestNamespace(*b, "s"));
}

TEST(Auth, RefusesMissingMalformedAndWrongKeys) {
  ApiKeys keys({"k1"});
  for (const char* header :
       {"", "k1", "Bearer", "Bearer ", "Basic k1", "Bearer k2", "Bearer k1 ", "bearer k1"}) {
    auto t = keys.Authenticate(header);
    ASSERT_FALSE(t.ok()) << header;
    EXPECT_EQ(t.status().code(), StatusCode::kUnauthenticated);
    EXPECT_EQ(ApiError::FromStatus(t.status()).http_status, 401);
    EXPECT_EQ(ApiError::FromStatus(t.status()).type, "authentication_error");
  }
}

TEST(ErrorTable, MapsEveryCode) {
  EXPECT_EQ(ClassifyStatus(StatusCode::kInvalidArgument).http_status, 400);
  EXPECT_EQ(ClassifyStatus(StatusCode::kInvalidArgument).type, "invalid_request_error");
  EXPECT_EQ(ClassifyStatus(StatusCode::kUnauthenticated).http_status, 401);
  EXPECT_EQ(ClassifyStatus(StatusCode::kNotFound).http_status, 404);
  EXPECT_EQ(ClassifyStatus(StatusCode::kResourceExhausted).http_status, 429);
  EXPECT_EQ(ClassifyStatus(StatusCode::kUnavailable).http_status, 503);
  EXPECT_EQ(ClassifyStatus(StatusCode::kInternal).http_status, 500);
  EXPECT_EQ(ClassifyStatus(StatusCode::kInternal).type, "server_error");
}

TEST(ErrorTable, BodyShape) {
  ApiError e = ApiError::FromStatus(InvalidArgumentError("bad \"n\""), "n");
  EXPECT_EQ(
      e.Body(),
      R"({"error":{"message":"bad \"n\"","type":"invalid_request_error","param":"n","code":null}})");
  e = ApiError::FromStatus(Status(StatusCode::kUnauthenticated, "no"), "", "invalid_api_key");
  EXPECT_EQ(
      e.Body(),
      R"({"error":{"message":"no","type":"authentication_error","param":null,"code":"invalid_api_key"}})");
  EXPECT_EQ(ApiError::Http(413, "big").http_status, 413);
}

}  // namespace
}  // namespace radixlm::server
