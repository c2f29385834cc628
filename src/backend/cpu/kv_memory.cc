#include "backend/cpu/kv_memory.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace radixlm::backend::cpu {

StatusOr<std::unique_ptr<KvMemory>> KvMemory::Create(size_t bytes, bool commit) {
  if (bytes == 0) return InvalidArgumentError("a KV pool of 0 bytes");
  void* data = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (data == MAP_FAILED) {
    return ResourceExhaustedError("cannot map " + std::to_string(bytes) +
                                  " bytes of KV pages: " + std::strerror(errno));
  }
  // Advice only: a kernel without transparent huge pages keeps 4 KiB pages.
  (void)madvise(data, bytes, MADV_HUGEPAGE);
  std::unique_ptr<KvMemory> memory(new KvMemory(data, bytes));
  if (commit) {
#ifdef MADV_POPULATE_WRITE
    if (madvise(data, bytes, MADV_POPULATE_WRITE) == 0) return memory;
    if (errno == ENOMEM || errno == EFAULT) {
      return ResourceExhaustedError("cannot commit " + std::to_string(bytes) +
                                    " bytes of KV pages: out of memory");
    }
#endif
    // Kernels before 5.14: write one byte per page (already zero, so no change).
    const size_t step = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    volatile char* p = static_cast<char*>(data);
    for (size_t offset = 0; offset < bytes; offset += step) p[offset] = 0;
  }
  return memory;
}

KvMemory::~KvMemory() { munmap(data_, bytes_); }

}  // namespace radixlm::backend::cpu
