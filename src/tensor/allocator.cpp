#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include "kernels/backend.h"
#include "roast/tensor.h"
#include "tensor/device_copy.h"

namespace roast {
namespace {

constexpr std::size_t kCpuAlignment = 64;  // one cache line; what Eigen's packed GEMM likes

// Training allocates the same shapes every step. Blocks of at least kCacheMinBytes are kept
// on free lists keyed by their size and handed out again, which saves the page faults of
// freshly mapped memory; the cache holds at most kCacheMaxBytes (beyond that, blocks are freed).
class CpuAllocator final : public Allocator {
 public:
  static constexpr std::size_t kCacheMinBytes = std::size_t(64) << 10;
  static constexpr std::size_t kCacheMaxBytes = std::size_t(256) << 20;

  ~CpuAllocator() override {
    for (auto& entry : free_)
      for (void* p : entry.second) std::free(p);
  }
  void* allocate(std::size_t n_bytes) override {
    if (n_bytes == 0) return nullptr;
    const std::size_t rounded = round_up(n_bytes);
    if (rounded >= kCacheMinBytes) {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = free_.find(rounded);
      if (it != free_.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        cached_bytes_ -= rounded;
        return p;
      }
    }
    void* ptr = std::aligned_alloc(kCpuAlignment, rounded);
    if (ptr == nullptr) fail("out of host memory: could not allocate ", n_bytes, " bytes");
    return ptr;
  }
  void deallocate(void* ptr, std::size_t n_bytes) override {
    const std::size_t rounded = round_up(n_bytes);
    if (rounded >= kCacheMinBytes) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (cached_bytes_ + rounded <= kCacheMaxBytes) {
        free_[rounded].push_back(ptr);
        cached_bytes_ += rounded;
        return;
      }
    }
    std::free(ptr);
  }

 private:
  static std::size_t round_up(std::size_t n) { return (n + kCpuAlignment - 1) / kCpuAlignment * kCpuAlignment; }
  std::mutex mutex_;
  std::unordered_map<std::size_t, std::vector<void*>> free_;
  std::size_t cached_bytes_ = 0;
};

// Device memory of the backend (kernels::cuda::device_malloc: stream-ordered, reused without a
// device synchronisation); in builds without CUDA the backend's services say so.
class CudaAllocator final : public Allocator {
 public:
  void* allocate(std::size_t n_bytes) override { return n_bytes ? kernels::cuda::device_malloc(n_bytes) : nullptr; }
  void deallocate(void* ptr, std::size_t) override { kernels::cuda::device_free(ptr); }
};

}  // namespace

bool cuda_available() { return kernels::cuda::device_count() > 0; }

Allocator& allocator_for(Device device) {
  static CpuAllocator cpu;
  if (device.is_cpu()) return cpu;
  static CudaAllocator gpu;
  kernels::cuda::check_device(device.index);
  return gpu;
}

Storage::Storage(std::size_t n_bytes, Device device) : n_bytes_(n_bytes), device_(device) {
  data_ = allocator_for(device).allocate(n_bytes);
}

Storage::~Storage() {
  if (data_ != nullptr) allocator_for(device_).deallocate(data_, n_bytes_);
}

void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, std::size_t n_bytes) {
  if (n_bytes == 0) return;
  if (dst_device.is_cpu() && src_device.is_cpu()) {
    std::memcpy(dst, src, n_bytes);
    return;
  }
  kernels::cuda::copy(dst, !dst_device.is_cpu(), src, !src_device.is_cpu(), n_bytes);
}

void fill_bytes_zero(void* dst, Device device, std::size_t n_bytes) {
  if (n_bytes == 0) return;
  if (device.is_cpu()) {
    std::memset(dst, 0, n_bytes);
    return;
  }
  kernels::cuda::memset_zero(dst, n_bytes);
}

}  // namespace roast
