// Throughput of the KV tiers' block stores (src/kvtier) with 2 MiB blocks:
// Put (the caller's cost, and until the writer thread has stored every block)
// and Get, for the directory store and the Redis store.
//
//   kvtier_store_bench [--dir DIR] [--blocks N] [--block-mib M] [--redis-port P]
//
// The directory defaults to a fresh one under $TMPDIR (removed at the end);
// reads hit the page cache (the blocks were just written), which is what a
// restarted server does not get. Without --redis-port the benchmark starts its
// own redis-server on a free 127.0.0.1 port (and skips Redis if it cannot).
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "kvtier/directory_block_store.h"
#include "kvtier/redis_block_store.h"

namespace radixlm::kvtier {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

bool Accepts(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

// redis-server on `port`, no persistence; -1 if it does not come up.
pid_t StartRedis(int port) {
  std::fflush(stdout);  // or the child would print what is buffered again
  const pid_t pid = fork();
  if (pid == 0) {
    freopen("/dev/null", "w", stdout);
    const std::string p = std::to_string(port);
    execlp("redis-server", "redis-server", "--port", p.c_str(), "--bind", "127.0.0.1", "--save", "",
           "--appendonly", "no", static_cast<char*>(nullptr));
    _exit(127);
  }
  for (int i = 0; i < 200; ++i) {
    if (waitpid(pid, nullptr, WNOHANG) == pid) return -1;
    if (Accepts(port)) return pid;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return -1;
}

KvFingerprint BenchFingerprint() {
  KvFingerprint f;
  f.model_digest = "kvtier-bench";
  f.kv_format = "bf16";
  f.page_size = 16;
  f.layers = 32;
  f.kv_heads = 8;
  f.head_dim = 128;  // Llama-3-8B: 16 tokens x 128 KiB = 2 MiB a page
  return f;
}

void Run(const char* name, BlockStore* store, const std::vector<std::vector<std::byte>>& blocks) {
  const double mb = static_cast<double>(blocks.size() * blocks[0].size()) / 1e6;
  const auto start = Clock::now();
  int dropped = 0;
  for (size_t i = 0; i < blocks.size(); ++i) {
    const BlockHash hash{i + 1, 0x6b7674};
    if (store->Put(hash, blocks[i]) == BlockPut::kDropped) ++dropped;
  }
  const double put_calls = Seconds(start);
  store->Flush();
  const double put_stored = Seconds(start);
  std::vector<std::byte> out(blocks[0].size());
  const auto read_start = Clock::now();
  int misses = 0;
  for (size_t i = 0; i < blocks.size(); ++i) {
    const BlockHash hash{i + 1, 0x6b7674};
    if (!store->Get(hash, out).ok()) ++misses;
  }
  const double get = Seconds(read_start);
  std::printf(
      "%-10s put calls %8.0f MB/s   put stored %8.0f MB/s   get %8.0f MB/s   "
      "(%zu blocks, %d dropped, %d misses)\n",
      name, mb / put_calls, mb / put_stored, mb / get, blocks.size(), dropped, misses);
}

int Main(int argc, char** argv) {
  std::string dir;
  int blocks = 64;
  int block_mib = 2;
  int redis_port = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--dir") {
      dir = argv[i + 1];
    } else if (flag == "--blocks") {
      blocks = std::atoi(argv[i + 1]);
    } else if (flag == "--block-mib") {
      block_mib = std::atoi(argv[i + 1]);
    } else if (flag == "--redis-port") {
      redis_port = std::atoi(argv[i + 1]);
    } else {
      std::fprintf(stderr, "unknown flag %s\n", argv[i]);
      return 2;
    }
  }
  const int64_t block_bytes = int64_t{block_mib} << 20;
  std::vector<std::vector<std::byte>> payloads(static_cast<size_t>(blocks));
  std::mt19937_64 rng(1);
  for (auto& p : payloads) {
    p.resize(static_cast<size_t>(block_bytes));
    for (size_t i = 0; i + 8 <= p.size(); i += 8) {
      const uint64_t v = rng();
      std::memcpy(p.data() + i, &v, 8);
    }
  }
  bool remove_dir = false;
  if (dir.empty()) {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "radixlm-kvtier-bench-XXXXXX").string();
    dir = mkdtemp(pattern.data());
    remove_dir = true;
  }
  std::printf("%d blocks of %d MiB; directory %s\n", blocks, block_mib, dir.c_str());
  for (bool fsync : {false, true}) {
    DirectoryBlockStoreOptions o;
    o.dir = dir + (fsync ? "/fsync" : "/plain");
    o.fingerprint = BenchFingerprint();
    o.block_bytes = block_bytes;
    o.capacity_bytes = (blocks + 1) * (block_bytes + static_cast<int64_t>(kBlockHeaderBytes));
    o.queue_blocks = blocks;  // the whole burst fits: the writer's speed is measured
    o.fsync = fsync;
    auto store = DirectoryBlockStore::Create(o);
    if (!store.ok()) {
      std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
      return 1;
    }
    Run(fsync ? "dir+fsync" : "directory", store->get(), payloads);
  }
  if (remove_dir) std::filesystem::remove_all(dir);

  pid_t redis_pid = -1;
  if (redis_port == 0) {
    redis_port = FreePort();
    redis_pid = StartRedis(redis_port);
    if (redis_pid < 0) {
      std::printf("redis      skipped: no redis-server\n");
      return 0;
    }
  }
  {
    RedisBlockStoreOptions o;
    o.redis.port = redis_port;
    o.fingerprint = BenchFingerprint();
    o.block_bytes = block_bytes;
    o.queue_blocks = blocks;
    auto store = RedisBlockStore::Create(o);
    if (!store.ok()) {
      std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
      return 1;
    }
    Run("redis", store->get(), payloads);
    if (redis_pid < 0) (*store)->DeleteAll().status().IgnoreError();
  }
  if (redis_pid > 0) {
    kill(redis_pid, SIGKILL);
    waitpid(redis_pid, nullptr, 0);
  }
  return 0;
}

}  // namespace
}  // namespace radixlm::kvtier

int main(int argc, char** argv) { return radixlm::kvtier::Main(argc, argv); }
