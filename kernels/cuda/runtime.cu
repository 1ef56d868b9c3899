#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>
#include <mutex>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/runtime.h"
#include "roast/error.h"

namespace roast {
namespace cuda {
using kernels::cuda::check;

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no device / no driver" error
    return 0;
  }
  return n;
}

void check_device(int index) {
  const int n = device_count();
  if (index < 0 || index >= n)
    fail("device cuda:", index, " does not exist: this machine has ", n, " CUDA device(s). Use device \"cpu\"",
         n > 0 ? " or a valid cuda index" : "");
}

// Training allocates the same shapes every step, and cudaMalloc/cudaFree synchronise the
// device. Allocations are therefore stream-ordered (cudaMallocAsync on the calling thread's
// stream(): the legacy stream, or the side stream inside run_beside) from the device's default
// pool, told to keep freed memory (release threshold = unlimited): steady-state steps reuse
// blocks without a device synchronisation. The pool orders a block freed on one stream before
// its reuse on the other.
void* device_malloc(std::size_t n_bytes) {
  static std::once_flag pool_once;
  std::call_once(pool_once, [] {
    int device = 0;
    cudaMemPool_t pool;
    if (cudaGetDevice(&device) == cudaSuccess && cudaDeviceGetDefaultMemPool(&pool, device) == cudaSuccess) {
      std::uint64_t threshold = UINT64_MAX;
      cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &threshold);
    }
  });
  void* ptr = nullptr;
  const cudaError_t status = cudaMallocAsync(&ptr, n_bytes, kernels::cuda::stream());
  if (status == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    fail("out of GPU memory: could not allocate ", n_bytes, " bytes. Use a smaller batch_size or model");
  }
  check(status, "cudaMallocAsync");
  return ptr;
}

void device_free(void* ptr) { cudaFreeAsync(ptr, kernels::cuda::stream()); }

void copy(void* dst, bool dst_on_device, const void* src, bool src_on_device, std::size_t n_bytes) {
  const cudaMemcpyKind kind = dst_on_device ? (src_on_device ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
                                            : (src_on_device ? cudaMemcpyDeviceToHost : cudaMemcpyHostToHost);
  check(cudaMemcpy(dst, src, n_bytes, kind), "cudaMemcpy");
}

void memset_zero(void* dst, std::size_t n_bytes) { check(cudaMemsetAsync(dst, 0, n_bytes, kernels::cuda::stream()), "cudaMemsetAsync"); }

void synchronize() { check(cudaDeviceSynchronize(), "cudaDeviceSynchronize"); }

}  // namespace cuda

namespace kernels {
namespace cuda {

void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) fail("CUDA error in ", what, ": ", cudaGetErrorString(status));
}

void check_blas(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS) fail("cuBLAS error in ", what, ": status ", int(status));
}

namespace {
constexpr int kMaxDevices = 64;
thread_local cudaStream_t t_stream = 0;

int current_device() {
  int device = 0;
  check(cudaGetDevice(&device), "cudaGetDevice");
  if (device < 0 || device >= kMaxDevices) fail("CUDA device ", device, " is beyond the ", kMaxDevices, " the engine supports");
  return device;
}

// Per device, created on first use and kept for the process's lifetime (destroying them at
// exit would race the CUDA runtime's own teardown): the side stream (non-blocking: it does
// not wait for the legacy stream, which run_beside orders by events), its fork and join
// events, and a cuBLAS handle for each stream.
struct DeviceStreams {
  cudaStream_t side = nullptr;
  cudaEvent_t fork = nullptr, join = nullptr;
  cublasHandle_t blas[2] = {nullptr, nullptr};  // legacy stream, side stream
};
std::mutex g_streams_mutex;
DeviceStreams g_streams[kMaxDevices];

DeviceStreams& streams_of(int device) {
  DeviceStreams& d = g_streams[device];
  if (d.side == nullptr) {
    check(cudaStreamCreateWithFlags(&d.side, cudaStreamNonBlocking), "cudaStreamCreateWithFlags (side stream)");
    check(cudaEventCreateWithFlags(&d.fork, cudaEventDisableTiming), "cudaEventCreate (fork)");
    check(cudaEventCreateWithFlags(&d.join, cudaEventDisableTiming), "cudaEventCreate (join)");
  }
  return d;
}
}  // namespace

cudaStream_t stream() { return t_stream; }

cublasHandle_t blas() {
  const int device = current_device();
  std::lock_guard<std::mutex> lock(g_streams_mutex);
  const cudaStream_t s = t_stream;
  DeviceStreams& d = streams_of(device);
  if (s != 0 && s != d.side) fail("cuBLAS call on device ", device, " inside run_beside work of another device");
  cublasHandle_t& handle = d.blas[s == 0 ? 0 : 1];
  if (handle == nullptr) {
    check_blas(cublasCreate(&handle), "cublasCreate");
    check_blas(cublasSetStream(handle, s), "cublasSetStream");
  }
  return handle;
}

namespace {
// A device attribute of the current device, asked once per device (`cache` holds them).
int cached_attribute(std::atomic<int> (&cache)[kMaxDevices], cudaDeviceAttr attribute, const char* what) {
  const int device = current_device();
  int n = cache[device].load(std::memory_order_relaxed);
  if (n == 0) {
    check(cudaDeviceGetAttribute(&n, attribute, device), what);
    cache[device].store(n, std::memory_order_relaxed);
  }
  return n;
}
}  // namespace

int sm_count() {
  static std::atomic<int> counts[kMaxDevices] = {};
  return cached_attribute(counts, cudaDevAttrMultiProcessorCount, "cudaDeviceGetAttribute (SM count)");
}

std::int64_t l2_bytes() {
  static std::atomic<int> bytes[kMaxDevices] = {};
  return cached_attribute(bytes, cudaDevAttrL2CacheSize, "cudaDeviceGetAttribute (L2 size)");
}

}  // namespace cuda
}  // namespace kernels
namespace cuda {

void run_beside(const std::function<void()>& side, const std::function<void()>& main) {
  using kernels::cuda::t_stream;
  if (t_stream != 0) {  // already beside something: no third stream
    side();
    main();
    return;
  }
  kernels::cuda::DeviceStreams* d;
  {
    std::lock_guard<std::mutex> lock(kernels::cuda::g_streams_mutex);
    d = &kernels::cuda::streams_of(kernels::cuda::current_device());
  }
  check(cudaEventRecord(d->fork, 0), "cudaEventRecord (fork)");
  check(cudaStreamWaitEvent(d->side, d->fork, 0), "cudaStreamWaitEvent (fork)");
  struct Join {  // also when a part throws: later work still waits for the side stream
    kernels::cuda::DeviceStreams* d;
    ~Join() {
      t_stream = 0;
      cudaEventRecord(d->join, d->side);
      cudaStreamWaitEvent(0, d->join, 0);
    }
  } join{d};
  t_stream = d->side;
  side();
  t_stream = 0;
  main();
}

}  // namespace cuda
}  // namespace roast
