// A generated model loaded for tests: config, checkpoint, weights and a CPU
// backend over a page pool.
#pragma once

#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "backend/cpu/cpu_backend.h"
#include "model/checkpoint.h"
#include "model/make_model.h"
#include "model/weights.h"

namespace radixlm::testing {

struct TestModel {
  std::string dir;
  model::ModelConfig config;
  std::unique_ptr<model::Checkpoint> ckpt;
  model::ModelWeights weights;
  std::unique_ptr<backend::cpu::CpuBackend> backend;
};

// Writes (once per name) and loads a tiny model; `edit_config` may rewrite
// config.json's text before loading (e.g. to add rope scaling).
inline std::unique_ptr<TestModel> MakeTestModel(const model::MakeModelOptions& base,
                                                const std::string& name, int64_t page_size = 16,
                                                int64_t num_pages = 256,
                                                const std::string& config_replace_from = "",
                                                const std::string& config_replace_to = "") {
  auto m = std::make_unique<TestModel>();
  model::MakeModelOptions options = base;
  options.out_dir = std::filesystem::path(::testing::TempDir()) / ("radixlm_" + name);
  m->dir = options.out_dir;
  auto made = model::MakeModel(options);
  EXPECT_TRUE(made.ok()) << made.status().ToString();
  if (!made.ok()) return nullptr;
  const std::string config_path = m->dir + "/config.json";
  if (!config_replace_from.empty()) {
    std::ifstream in(config_path);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const size_t at = text.find(config_replace_from);
    EXPECT_NE(at, std::string::npos);
    text.replace(at, config_replace_from.size(), config_replace_to);
    std::ofstream(config_path) << text;
  }
  auto config = model::ReadModelConfig(config_path);
  EXPECT_TRUE(config.ok()) << config.status().ToString();
  m->config = *config;
  auto ckpt = model::Checkpoint::Open(m->dir);
  EXPECT_TRUE(ckpt.ok()) << ckpt.status().ToString();
  m->ckpt = std::move(ckpt).value();
  auto weights = model::BindWeights(m->config, *m->ckpt);
  EXPECT_TRUE(weights.ok()) << weights.status().ToString();
  m->weights = std::move(weights).value();
  auto be = backend::cpu::CpuBackend::Create(m->weights, {page_size, num_pages, 2});
  EXPECT_TRUE(be.ok()) << be.status().ToString();
  m->backend = std::move(be).value();
  return m;
}

}  // namespace radixlm::testing
