// The radixlm subcommands. main.cc parses the command line (CLI11 stays in that
// one file) and calls these with plain options structs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace radixlm::tools {

struct DemoOptions {
  int32_t page_size = 16;
  int64_t num_pages = 240;  // small enough that the third turn evicts
  std::string eviction = "lru";
};
// Runs a small multi-tenant chat workload through the prefix cache and prints what
// the cache did. Returns the process exit code.
int RunDemo(const DemoOptions& options);

struct BenchCacheOptions {
  bool json = false;
  // A small workload that finishes in seconds (CI); its figures are not the benchmark's.
  bool quick = false;
  std::string eviction = "lru";
  // Only these page sizes (default 1 and 16) and cache kinds (default radix and hash).
  std::vector<int32_t> page_sizes;
  std::vector<std::string> kinds;
};
int RunBenchCache(const BenchCacheOptions& options);

}  // namespace radixlm::tools
