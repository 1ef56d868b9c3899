// Plain C++ front of the CUDA runtime calls the engine needs; no CUDA types leak out.
#pragma once

#include <cstddef>

namespace roast {
namespace cuda {

int device_count();                    // 0 when no GPU (or no driver) is present
void check_device(int index);          // throws roast::Error when the device does not exist
void* device_malloc(std::size_t n_bytes);
void device_free(void* ptr);
void copy(void* dst, bool dst_on_device, const void* src, bool src_on_device, std::size_t n_bytes);
void memset_zero(void* dst, std::size_t n_bytes);
// Waits until every kernel and copy issued so far has finished (benchmarks, timing).
void synchronize();

}  // namespace cuda
}  // namespace roast
