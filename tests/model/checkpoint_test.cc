// Model directories, good and bad: every bad one is a clear error naming the
// problem, never a crash.
#include "model/checkpoint.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>

#include "model/make_model.h"
#include "model/weights.h"

namespace radixlm::model {
namespace {

namespace fs = std::filesystem;

std::string Read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

class CheckpointTest : public ::testing::Test {
 protected:
  // A fresh copy of a good tiny model directory for each test to damage.
  void SetUp() override {
    good_ = fs::path(::testing::TempDir()) / "radixlm_ckpt_good";
    if (!fs::exists(good_ / "config.json")) {
      MakeModelOptions o;
      o.arch = "llama";
      o.preset = "tiny";
      o.out_dir = good_;
      ASSERT_TRUE(MakeModel(o).ok());
    }
    dir_ = fs::path(::testing::TempDir()) /
           ("radixlm_ckpt_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::copy(good_, dir_);
  }

  // Loads the directory the way the server does and returns the error text.
  std::string LoadError() {
    auto config = ReadModelConfig((dir_ / "config.json").string());
    if (!config.ok()) return config.status().ToString();
    auto ckpt = Checkpoint::Open(dir_.string());
    if (!ckpt.ok()) return ckpt.status().ToString();
    auto weights = BindWeights(*config, **ckpt);
    if (!weights.ok()) return weights.status().ToString();
    return "";
  }

  // Rewrites model.safetensors through `edit` on the list of tensors to write.
  void Rewrite(const std::function<void(std::vector<TensorToWrite>&)>& edit) {
    auto file = SafetensorsFile::Open((dir_ / "model.safetensors").string()).value();
    std::vector<TensorToWrite> tensors;
    for (const TensorInfo& t : file->tensors())
      tensors.push_back({t.name, t.dtype, t.shape, file->Data(t)});
    edit(tensors);
    ASSERT_TRUE(WriteSafetensors((dir_ / "model.safetensors.new").string(), tensors).ok());
    file.reset();
    fs::rename(dir_ / "model.safetensors.new", dir_ / "model.safetensors");
  }

  fs::path good_, dir_;
};

TEST_F(CheckpointTest, GoodDirectoryLoads) { EXPECT_EQ(LoadError(), ""); }

TEST_F(CheckpointTest, ShardedDirectoryHoldsTheSameTensors) {
  MakeModelOptions o;
  o.arch = "llama";
  o.preset = "tiny";
  o.shard_bytes = 40000;
  o.out_dir = (dir_ / "sharded").string();
  auto made = MakeModel(o);
  ASSERT_TRUE(made.ok());
  ASSERT_TRUE(fs::exists(dir_ / "sharded" / "model.safetensors.index.json"));
  ASSERT_GT(made->files.size(), 5u);
  auto sharded = Checkpoint::Open((dir_ / "sharded").string()).value();
  auto single = Checkpoint::Open(good_.string()).value();
  ASSERT_EQ(sharded->names(), single->names());
  for (const std::string& name : single->names()) {
    const TensorRef* a = single->Find(name);
    const TensorRef* b = sharded->Find(name);
    ASSERT_EQ(a->data.size(), b->data.size());
    EXPECT_EQ(0, std::memcmp(a->data.data(), b->data.data(), a->data.size())) << name;
  }
}

TEST_F(CheckpointTest, MissingTensor) {
  Rewrite([](auto& t) {
    std::erase_if(t, [](const auto& x) { return x.name == "model.layers.1.mlp.up_proj.weight"; });
  });
  EXPECT_NE(LoadError().find("missing tensor model.layers.1.mlp.up_proj.weight"), std::string::npos)
      << LoadError();
}

TEST_F(CheckpointTest, UnexpectedTensor) {
  static const float extra[2] = {1, 2};
  Rewrite([](auto& t) {
    t.push_back({"model.layers.0.self_attn.surprise",
                 DType::kF32,
                 {2},
                 {reinterpret_cast<const uint8_t*>(extra), 8}});
  });
  EXPECT_NE(LoadError().find("unexpected tensor model.layers.0.self_attn.surprise"),
            std::string::npos)
      << LoadError();
}

TEST_F(CheckpointTest, WrongShape) {
  Rewrite([](auto& t) {
    for (auto& x : t) {
      if (x.name == "model.norm.weight") {
        x.shape = {x.shape[0] / 2};
        x.data = x.data.first(x.data.size() / 2);
      }
    }
  });
  EXPECT_NE(LoadError().find("model.norm.weight has shape [32], the config needs [64]"),
            std::string::npos)
      << LoadError();
}

TEST_F(CheckpointTest, WrongDType) {
  Rewrite([](auto& t) {
    for (auto& x : t) {
      if (x.name == "model.norm.weight") x.dtype = DType::kI16;  // same bytes as BF16
    }
  });
  EXPECT_NE(LoadError().find("model.norm.weight has dtype I16"), std::string::npos) << LoadError();
}

TEST_F(CheckpointTest, TruncatedFile) {
  fs::resize_file(dir_ / "model.safetensors", fs::file_size(dir_ / "model.safetensors") - 100);
  const std::string error = LoadError();
  EXPECT_NE(error.find("model.safetensors"), std::string::npos) << error;
  EXPECT_NE(error.find("INVALID_ARGUMENT"), std::string::npos) << error;
}

TEST_F(CheckpointTest, NoWeights) {
  fs::remove(dir_ / "model.safetensors");
  EXPECT_NE(LoadError().find("no model.safetensors or model.safetensors.index.json"),
            std::string::npos);
}

TEST_F(CheckpointTest, IndexNamingAMissingShard) {
  fs::rename(dir_ / "model.safetensors", dir_ / "part.safetensors");
  std::ofstream(dir_ / "model.safetensors.index.json")
      << R"({"weight_map": {"model.norm.weight": "part.safetensors", "lm_head.weight": "gone.safetensors"}})";
  EXPECT_NE(LoadError().find("gone.safetensors"), std::string::npos) << LoadError();
}

TEST_F(CheckpointTest, IndexLeavingTheDirectory) {
  fs::rename(dir_ / "model.safetensors", dir_ / "part.safetensors");
  std::ofstream(dir_ / "model.safetensors.index.json")
      << R"({"weight_map": {"model.norm.weight": "../x.safetensors"}})";
  EXPECT_NE(LoadError().find("is not a file in the model directory"), std::string::npos)
      << LoadError();
}

TEST_F(CheckpointTest, ShardHoldingUnlistedTensors) {
  fs::rename(dir_ / "model.safetensors", dir_ / "part.safetensors");
  std::ofstream(dir_ / "model.safetensors.index.json")
      << R"({"weight_map": {"model.norm.weight": "part.safetensors"}})";
  EXPECT_NE(LoadError().find("is not listed in model.safetensors.index.json"), std::string::npos)
      << LoadError();
}

TEST_F(CheckpointTest, UnsupportedArchitectureAndOptions) {
  std::string config = Read(dir_ / "config.json");
  std::string bad = config;
  bad.replace(bad.find("LlamaForCausalLM"), 16, "MixtralForCausalLM");
  std::ofstream(dir_ / "config.json") << bad;
  EXPECT_NE(LoadError().find("unsupported architecture MixtralForCausalLM"), std::string::npos)
      << LoadError();
  bad = config;
  bad.replace(bad.find("\"mlp_bias\":false"), 16, "\"mlp_bias\":true");
  std::ofstream(dir_ / "config.json") << bad;
  EXPECT_NE(LoadError().find("mlp_bias is not supported"), std::string::npos) << LoadError();
  bad = config;
  bad.replace(bad.find("LlamaForCausalLM"), 16, "MistralForCausalLM");
  bad.replace(bad.find("\"attention_bias\":false"), 22, "\"sliding_window\":0");
  std::ofstream(dir_ / "config.json") << bad;
  EXPECT_NE(LoadError().find("sliding_window must be positive"), std::string::npos) << LoadError();
}

}  // namespace
}  // namespace radixlm::model
