// Shared helpers of the CUDA kernels (.cu files only): error checks, the stream, the per-device
// context and launch-size helpers. Every kernel of the engine runs on stream() in issue order,
// so consecutive ops need no synchronisation; copies to the host (Tensor::to, item,
// to_vector) synchronise. stream() is the main stream (the legacy default stream, or while a
// training step is captured into a CUDA graph the device's capture stream), except for the work
// that run_beside puts on the device's side stream.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <tuple>
#include <utility>

#include "kernels/backend.h"
#include "roast/error.h"

namespace roast {
namespace kernels {
namespace cuda {

using i64 = std::int64_t;

// Throws roast::Error naming `what` when a CUDA or cuBLAS call failed.
void check(cudaError_t status, const char* what);
void check_blas(cublasStatus_t status, const char* what);
// Checks that the kernel launched just before succeeded (bad configuration, no device).
inline void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

// The stream the calling thread's kernels run on: the main stream (the legacy default stream,
// or the capture stream between begin_capture and end_capture), or inside the side part of
// run_beside the current device's side stream.
cudaStream_t stream();
// Whether the calling thread is inside the side part of run_beside.
bool on_side_stream();

// The state the backend keeps per CUDA device, in one object (created on the device's first
// use and kept for the process: destroying CUDA handles at exit would race the runtime's own
// teardown): the side stream of run_beside with its fork / join events, a cuBLAS handle per
// stream, the device's attributes, the results of one-time probes (which code the device
// runs, kernel attributes set, cluster capacities) and auto_select's per-shape path choices.
class DeviceContext {
 public:
  explicit DeviceContext(int device);
  int device() const { return device_; }
  int sm_count() const { return sm_count_; }       // streaming multiprocessors
  std::int64_t l2_bytes() const { return l2_bytes_; }
  // The cuBLAS handle bound to stream() (one per stream, so that concurrent GEMMs never share
  // a workspace; each with an explicit workspace of one size); created on first use.
  cublasHandle_t blas();
  // A fact about this device, asked once: `ask` runs on the first request for (key, sub) and
  // its value is kept (it may itself ask other facts; two threads may both ask once).
  template <class Ask>
  int fact(const void* key, int sub, const Ask& ask) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = facts_.find({key, sub});
      if (it != facts_.end()) return it->second;
    }
    const int value = ask();
    std::lock_guard<std::mutex> lock(mutex_);
    return facts_.emplace(std::make_pair(key, sub), value).first->second;
  }
  // auto_select's choice for a product (kernels/cuda/roast_mm.cu's key): -1 not timed yet,
  // 0 materialize, 1 fused.
  using PathKey = std::tuple<int, int, std::int64_t, std::int64_t, std::int64_t, std::int32_t, std::int32_t, int, int>;
  int path_choice(const PathKey& key);
  void set_path_choice(const PathKey& key, bool fused);
  void forget_path_choices();
  // run_beside's side stream and its events.
  cudaStream_t side_stream() const { return side_; }
  cudaEvent_t fork_event() const { return fork_; }
  cudaEvent_t join_event() const { return join_; }
  // The stream training steps are captured on and their graphs launched on: a blocking stream
  // (ordered with the legacy stream both ways, so that the batch and step-state copies before
  // a launch and the reads after it need no extra events), created on first use together with
  // its cuBLAS handle and that handle's own workspace (cuBLAS then allocates nothing while
  // captured).
  cudaStream_t capture_stream();

 private:
  int device_;
  int sm_count_ = 0;
  std::int64_t l2_bytes_ = 0;
  cudaStream_t side_ = nullptr, capture_ = nullptr;
  cudaEvent_t fork_ = nullptr, join_ = nullptr;
  cublasHandle_t blas_[3] = {nullptr, nullptr, nullptr};  // legacy stream, side stream, capture stream
  void* workspaces_[3] = {nullptr, nullptr, nullptr};      // their cuBLAS workspaces
  std::mutex mutex_;
  std::map<std::pair<const void*, int>, int> facts_;
  std::map<PathKey, bool> fused_wins_;
};

// The calling thread's current device's context.
DeviceContext& context();
// Shorthands for the current device's context.
inline cublasHandle_t blas() { return context().blas(); }
inline int sm_count() { return context().sm_count(); }
inline std::int64_t l2_bytes() { return context().l2_bytes(); }
// Whether a memory region of `cells` floats is larger than the current device's L2 (then the
// ROAST-MM kernels prefetch its cells, and the materialised dM sums cells instead of adding).
inline bool larger_than_l2(i64 cells) { return cells * i64(sizeof(float)) > l2_bytes(); }

// Blocks of `threads` covering n items, capped so that grid-stride loops take the rest.
inline unsigned blocks_for(i64 n, int threads = 256) {
  const i64 b = (n + threads - 1) / threads;
  return unsigned(b < 1 ? 1 : (b > 65535 * 8 ? 65535 * 8 : b));
}

// Scratch device memory from the engine's stream-ordered allocator, freed at scope exit
// (stream-ordered too, so kernels already issued may still use it).
class DeviceBuffer {
 public:
  explicit DeviceBuffer(std::size_t n_bytes) : ptr_(n_bytes ? device_malloc(n_bytes) : nullptr) {}
  ~DeviceBuffer() {
    if (ptr_) device_free(ptr_);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  template <typename T>
  T* as() const { return static_cast<T*>(ptr_); }

 private:
  void* ptr_;
};

}  // namespace cuda
}  // namespace kernels
}  // namespace roast
