// The CUDA form of the per-mapping cache (kernels/types.h), shared by roast_mm.cu (tile
// tables) and roast_mm_owned.cu (owned orders). .cu only.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <tuple>

#include "kernels/backend.h"

namespace roast {
namespace kernels {

// The CUDA form of the per-mapping cache (kernels/types.h): device arrays built per mapping
// on first use (tile tables, owned orders), freed on the cache's device when it goes.
class MappingCache {
 public:
  // A mapping is identified by every field its arrays depend on.
  using Key = std::tuple<int, int, std::uint64_t, std::uint32_t, std::int64_t, std::int64_t, std::int64_t,
                         std::int64_t, std::int32_t, std::int32_t, std::int64_t, std::int64_t, std::int64_t,
                         int>;  // ..., the fold, the kind of array
  struct Entry {
    void* data = nullptr;  // from device_malloc
    std::int64_t count = 0;
  };
  explicit MappingCache(int device) : device_(device) {}
  MappingCache(const MappingCache&) = delete;
  MappingCache& operator=(const MappingCache&) = delete;
  ~MappingCache() {
    int current = 0;
    if (cudaGetDevice(&current) != cudaSuccess) return;
    cudaSetDevice(device_);
    for (auto& e : entries_) cuda::device_free(e.second.data);
    cudaSetDevice(current);
  }
  int device() const { return device_; }
  // The entry stored under `key`, made by `build` on first use.
  template <class Build>
  Entry get(const Key& key, const Build& build) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = entries_.find(key);
    if (it == entries_.end()) it = entries_.emplace(key, build()).first;
    return it->second;
  }

 private:
  int device_;
  std::mutex mutex_;
  std::map<Key, Entry> entries_;
};

}  // namespace kernels
}  // namespace roast
