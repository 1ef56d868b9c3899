#include <algorithm>
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

// Training allocates the same shapes every step. Freed blocks are kept on free lists keyed by
// their size and handed out again, so that a steady-state step makes no system allocation
// (no malloc lock, no page faults of freshly mapped memory; tests/unit/test_alloc_steady.cpp).
// The cache holds at most max(kCacheMinCapBytes, twice the peak of live bytes; a step's blocks
// of each size, summed, can exceed its peak working set); beyond that, freed blocks go back
// to the system.
class CpuAllocator final : public Allocator {
 public:
  static constexpr std::size_t kCacheMinCapBytes = std::size_t(256) << 20;

  ~CpuAllocator() override {
    for (auto& entry : free_)
      for (void* p : entry.second) std::free(p);
  }
  void* allocate(std::size_t n_bytes) override {
    if (n_bytes == 0) return nullptr;
    const std::size_t rounded = round_up(n_bytes);
    std::lock_guard<std::mutex> lock(mutex_);
    c_.live_bytes += rounded;
    c_.peak_live_bytes = std::max(c_.peak_live_bytes, c_.live_bytes);
    auto it = free_.find(rounded);
    if (it != free_.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      c_.cached_bytes -= rounded;
      ++c_.reused;
      return p;
    }
    void* ptr = std::aligned_alloc(kCpuAlignment, rounded);
    if (ptr == nullptr) {
      c_.live_bytes -= rounded;
      fail("out of host memory: could not allocate ", n_bytes, " bytes");
    }
    ++c_.fresh;
    return ptr;
  }
  void deallocate(void* ptr, std::size_t n_bytes) override {
    const std::size_t rounded = round_up(n_bytes);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      c_.live_bytes -= rounded;
      if (c_.cached_bytes + rounded <= std::max(kCacheMinCapBytes, 2 * c_.peak_live_bytes)) {
        free_[rounded].push_back(ptr);
        c_.cached_bytes += rounded;
        return;
      }
    }
    std::free(ptr);
  }
  AllocatorCounters counters() const override {
    std::lock_guard<std::mutex> lock(mutex_);
    return c_;
  }

 private:
  static std::size_t round_up(std::size_t n) { return (n + kCpuAlignment - 1) / kCpuAlignment * kCpuAlignment; }
  mutable std::mutex mutex_;
  std::unordered_map<std::size_t, std::vector<void*>> free_;
  AllocatorCounters c_;
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
  const kernels::profile::Scope profile("copy", !dst_device.is_cpu() || !src_device.is_cpu());
  if (dst_device.is_cpu() && src_device.is_cpu()) {
    std::memcpy(dst, src, n_bytes);
    return;
  }
  kernels::cuda::copy(dst, !dst_device.is_cpu(), src, !src_device.is_cpu(), n_bytes);
}

void fill_bytes_zero(void* dst, Device device, std::size_t n_bytes) {
  if (n_bytes == 0) return;
  const kernels::profile::Scope profile("zero_fill", !device.is_cpu());
  if (device.is_cpu()) {
    std::memset(dst, 0, n_bytes);
    return;
  }
  kernels::cuda::memset_zero(dst, n_bytes);
}

}  // namespace roast
