#include "model/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

namespace radixlm::model {
namespace {

std::vector<uint8_t> FileBytes(const std::string& header, size_t data_bytes) {
  std::vector<uint8_t> bytes;
  bytes.reserve(8 + header.size() + data_bytes);
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) bytes.push_back(static_cast<uint8_t>(n >> (8 * i)));
  for (char c : header) bytes.push_back(static_cast<uint8_t>(c));
  bytes.resize(bytes.size() + data_bytes, 0xab);
  return bytes;
}

std::string TempPath(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("radixlm_" + name)).string();
}

TEST(SafetensorsTest, WritesAndMapsTensors) {
  std::vector<float> a = {1, 2, 3, 4, 5, 6};
  std::vector<uint16_t> b = {0x3f80, 0x4000};  // BF16 1.0, 2.0
  std::string path = TempPath("roundtrip.safetensors");
  ASSERT_TRUE(WriteSafetensors(path,
                               {{"layer.weight",
                                 DType::kF32,
                                 {2, 3},
                                 {reinterpret_cast<const uint8_t*>(a.data()), a.size() * 4}},
                                {"layer.bias",
                                 DType::kBF16,
                                 {2},
                                 {reinterpret_cast<const uint8_t*>(b.data()), b.size() * 2}}},
                               {{"format", "pt"}})
                  .ok());
  auto file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  ASSERT_EQ((*file)->tensors().size(), 2u);
  EXPECT_EQ((*file)->metadata().at("format"), "pt");
  const TensorInfo* w = (*file)->Find("layer.weight");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->dtype, DType::kF32);
  EXPECT_EQ(w->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(w->elements(), 6);
  std::span<const uint8_t> data = (*file)->Data(*w);
  ASSERT_EQ(data.size(), 24u);
  EXPECT_EQ(std::memcmp(data.data(), a.data(), 24), 0);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(data.data()) % 8, 0u) << "data is 8-byte aligned";
  const TensorInfo* bias = (*file)->Find("layer.bias");
  ASSERT_NE(bias, nullptr);
  EXPECT_EQ(std::memcmp((*file)->Data(*bias).data(), b.data(), 4), 0);
  EXPECT_EQ((*file)->Find("missing"), nullptr);
  std::filesystem::remove(path);
}

TEST(SafetensorsTest, HostileHeadersAreErrorsNamingTheProblem) {
  struct Case {
    std::vector<uint8_t> bytes;
    const char* expect;
  };
  std::vector<uint8_t> huge(8, 0xff);
  std::vector<uint8_t> past = FileBytes("{}", 0);
  past[0] = 200;  // claims 200 header bytes, the file has 2
  std::vector<Case> cases = {
      {{1, 2, 3}, "shorter than the 8-byte header size"},
      {huge, "absurd"},
      {past, "truncated: the header claims 200 bytes"},
      {FileBytes("{\"a\": ", 0), "malformed header JSON"},
      {FileBytes("[1, 2]", 0), "not a JSON object"},
      {FileBytes(R"({"t": {"dtype": "Q4", "shape": [1], "data_offsets": [0, 1]}})", 1),
       "unknown dtype \"Q4\""},
      {FileBytes(R"({"t": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}})", 4),
       "shape entries must be integers >= 0"},
      {FileBytes(R"({"t": {"dtype": "F32", "shape": [2], "data_offsets": [0, 99]}})", 8),
       "out of the data section"},
      {FileBytes(R"({"t": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", 8),
       "need 12 bytes, data_offsets span 8"},
      {FileBytes(
           R"({"t": {"dtype": "F32", "shape": [4294967296, 4294967296, 4], "data_offsets": [0, 4]}})",
           4),
       "absurdly large"},
      {FileBytes(R"({"t": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})", 8),
       "leave a hole"},
      {FileBytes(R"({"t": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})", 8),
       "cover 4 of 8"},
      {FileBytes(R"({"t": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                    "u": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})",
                 4),
       "overlap"},
      {FileBytes(R"({"t": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                    "t": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
                 8),
       "appears twice"},
      {FileBytes(R"({"t": {"dtype": "F32", "shape": [1], "data_offsets": [0]}})", 4),
       "data_offsets must be [begin, end]"},
      {FileBytes(R"({"__metadata__": {"a": 1}})", 0), "values must be strings"},
  };
  for (const Case& c : cases) {
    auto header = ParseSafetensorsHeader(c.bytes, "bad.safetensors");
    ASSERT_FALSE(header.ok()) << c.expect;
    EXPECT_EQ(header.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(header.status().message().find("bad.safetensors: "), std::string::npos);
    EXPECT_NE(header.status().message().find(c.expect), std::string::npos)
        << header.status().message();
  }
}

TEST(SafetensorsTest, EmptyTensorsAndMetadataOnlyFilesAreValid) {
  auto header = ParseSafetensorsHeader(
      FileBytes(
          R"({"__metadata__": {"format": "pt"}, "e": {"dtype": "F16", "shape": [0, 4], "data_offsets": [0, 0]}})",
          0),
      "ok");
  ASSERT_TRUE(header.ok()) << header.status().ToString();
  EXPECT_EQ(header->tensors.size(), 1u);
  EXPECT_EQ(header->tensors[0].elements(), 0);
}

TEST(SafetensorsTest, MissingAndTruncatedFiles) {
  EXPECT_EQ(SafetensorsFile::Open("/nonexistent/model.safetensors").status().code(),
            StatusCode::kNotFound);
  std::string path = TempPath("truncated.safetensors");
  std::vector<float> a(16, 1.0f);
  ASSERT_TRUE(
      WriteSafetensors(path,
                       {{"w", DType::kF32, {16}, {reinterpret_cast<const uint8_t*>(a.data()), 64}}})
          .ok());
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 10);
  auto file = SafetensorsFile::Open(path);
  ASSERT_FALSE(file.ok());
  EXPECT_NE(file.status().message().find("out of the data section"), std::string::npos)
      << file.status().message();
  std::filesystem::remove(path);
}

TEST(SafetensorsTest, WriterRefusesInconsistentTensors) {
  std::vector<uint8_t> bytes(6);
  EXPECT_FALSE(WriteSafetensors(TempPath("x.safetensors"), {{"w", DType::kF32, {2}, bytes}}).ok());
}

}  // namespace
}  // namespace radixlm::model
