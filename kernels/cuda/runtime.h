// Plain C++ front of the CUDA runtime calls the engine needs; no CUDA types leak out.
#pragma once

#include <cstddef>
#include <functional>

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
// Runs two independent pieces of GPU work concurrently: `side` is issued on the current
// device's side stream, `main` on the engine's stream, both after everything issued before
// the call, and everything issued after the call waits for both (no host synchronisation).
// They must not write what the other reads or writes, nor switch the current device. Nested
// calls run both in order.
void run_beside(const std::function<void()>& side, const std::function<void()>& main);

}  // namespace cuda
}  // namespace roast
