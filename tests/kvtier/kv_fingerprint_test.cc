#include "kvtier/kv_fingerprint.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "kv_test_util.h"

namespace radixlm::kvtier {
namespace {

TEST(KvFingerprintTest, EveryFieldChangesTheDigest) {
  const KvFingerprint base = testing::Fingerprint();
  ASSERT_TRUE(base.Validate().ok());
  EXPECT_EQ(base.Digest(), testing::Fingerprint().Digest());
  EXPECT_EQ(base.Hex(), Hex128(base.Digest()));
  std::set<std::string> seen = {base.Hex()};
  auto vary = [&](auto change) {
    KvFingerprint f = base;
    change(f);
    ASSERT_TRUE(f.Validate().ok()) << f.ToString();
    EXPECT_TRUE(seen.insert(f.Hex()).second) << f.ToString();
  };
  vary([](KvFingerprint& f) { f.model_digest = "ffeeddccbbaa99887766554433221100"; });
  vary([](KvFingerprint& f) { f.kv_format = "bf16"; });
  vary([](KvFingerprint& f) { f.page_size = 32; });
  vary([](KvFingerprint& f) { f.layers = 3; });
  vary([](KvFingerprint& f) { f.kv_heads = 4; });
  vary([](KvFingerprint& f) { f.head_dim = 16; });
  // Fields are length-prefixed: a character moved from one to the next is a change.
  vary([](KvFingerprint& f) {
    f.model_digest = "m";
    f.kv_format = "f32";
  });
  vary([](KvFingerprint& f) {
    f.model_digest = "mf";
    f.kv_format = "32";
  });
}

TEST(KvFingerprintTest, ValidateNamesTheMissingField) {
  KvFingerprint f = testing::Fingerprint();
  f.model_digest = "";
  EXPECT_NE(f.Validate().message().find("model_digest"), std::string::npos);
  f = testing::Fingerprint();
  f.kv_format = "b f16";
  EXPECT_NE(f.Validate().message().find("kv_format"), std::string::npos);
  f = testing::Fingerprint();
  f.head_dim = 0;
  EXPECT_EQ(f.Validate().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(f.ToString().find("head_dim=0"), std::string::npos);
}

TEST(KvFingerprintTest, ModelDigestFollowsTheFilesThatShapeTheModel) {
  testing::TempDir dir;
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir.path() + "/" + name, std::ios::binary) << text;
  };
  write("config.json", "{\"num_hidden_layers\": 2}");
  write("model.safetensors", "weights");
  write("README.md", "notes");
  auto a = KvFingerprint::ModelDigest(dir.path());
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_EQ(a->size(), 32u);
  EXPECT_EQ(*KvFingerprint::ModelDigest(dir.path()), *a);
  write("README.md", "other notes");  // not a model file
  EXPECT_EQ(*KvFingerprint::ModelDigest(dir.path()), *a);
  write("model.safetensors", "weightz");  // one weight byte
  const std::string b = *KvFingerprint::ModelDigest(dir.path());
  EXPECT_NE(b, *a);
  write("config.json", "{\"num_hidden_layers\": 3}");
  EXPECT_NE(*KvFingerprint::ModelDigest(dir.path()), b);
  EXPECT_EQ(KvFingerprint::ModelDigest(dir.path() + "/absent").status().code(),
            StatusCode::kNotFound);
}

}  // namespace
}  // namespace radixlm::kvtier
