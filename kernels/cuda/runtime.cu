// The CUDA device services of kernels/backend.h and the per-device context (common.cuh).
#include <cuda_runtime.h>

#include <cstdint>
#include <mutex>

#include "kernels/cuda/common.cuh"
#include "roast/error.h"

namespace roast {
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

int attribute(cudaDeviceAttr which, int device, const char* what) {
  int value = 0;
  check(cudaDeviceGetAttribute(&value, which, device), what);
  return value;
}

std::mutex g_contexts_mutex;
DeviceContext* g_contexts[kMaxDevices] = {};  // kept for the process (see DeviceContext)
}  // namespace

DeviceContext::DeviceContext(int device)
    : device_(device),
      sm_count_(attribute(cudaDevAttrMultiProcessorCount, device, "cudaDeviceGetAttribute (SM count)")),
      l2_bytes_(attribute(cudaDevAttrL2CacheSize, device, "cudaDeviceGetAttribute (L2 size)")) {
  // Non-blocking: the side stream does not wait for the legacy stream; run_beside orders the
  // two by events.
  check(cudaStreamCreateWithFlags(&side_, cudaStreamNonBlocking), "cudaStreamCreateWithFlags (side stream)");
  check(cudaEventCreateWithFlags(&fork_, cudaEventDisableTiming), "cudaEventCreate (fork)");
  check(cudaEventCreateWithFlags(&join_, cudaEventDisableTiming), "cudaEventCreate (join)");
  // Training allocates the same shapes every step, and cudaMalloc / cudaFree synchronise the
  // device. Allocations are therefore stream-ordered (device_malloc) from the device's default
  // pool, told to keep freed memory: steady-state steps reuse blocks without a synchronisation.
  cudaMemPool_t pool;
  if (cudaDeviceGetDefaultMemPool(&pool, device) == cudaSuccess) {
    std::uint64_t threshold = UINT64_MAX;
    cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &threshold);
  }
}

cublasHandle_t DeviceContext::blas() {
  const cudaStream_t s = t_stream;
  if (s != 0 && s != side_) fail("cuBLAS call on device ", device_, " inside run_beside work of another device");
  std::lock_guard<std::mutex> lock(mutex_);
  cublasHandle_t& handle = blas_[s == 0 ? 0 : 1];
  if (handle == nullptr) {
    check_blas(cublasCreate(&handle), "cublasCreate");
    check_blas(cublasSetStream(handle, s), "cublasSetStream");
  }
  return handle;
}

int DeviceContext::path_choice(const PathKey& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = fused_wins_.find(key);
  return it == fused_wins_.end() ? -1 : int(it->second);
}

void DeviceContext::set_path_choice(const PathKey& key, bool fused) {
  std::lock_guard<std::mutex> lock(mutex_);
  fused_wins_[key] = fused;
}

void DeviceContext::forget_path_choices() {
  std::lock_guard<std::mutex> lock(mutex_);
  fused_wins_.clear();
}

DeviceContext& context() {
  const int device = current_device();
  std::lock_guard<std::mutex> lock(g_contexts_mutex);
  DeviceContext*& ctx = g_contexts[device];
  if (ctx == nullptr) ctx = new DeviceContext(device);
  return *ctx;
}

cudaStream_t stream() { return t_stream; }

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

void set_current_device(int index) { check(cudaSetDevice(index), "cudaSetDevice"); }

void* device_malloc(std::size_t n_bytes) {
  context();  // the device's pool keeps freed memory from the first allocation on
  void* ptr = nullptr;
  const cudaError_t status = cudaMallocAsync(&ptr, n_bytes, stream());
  if (status == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    fail("out of GPU memory: could not allocate ", n_bytes, " bytes. Use a smaller batch_size or model");
  }
  check(status, "cudaMallocAsync");
  return ptr;
}

void device_free(void* ptr) { cudaFreeAsync(ptr, stream()); }

void copy(void* dst, bool dst_on_device, const void* src, bool src_on_device, std::size_t n_bytes) {
  const cudaMemcpyKind kind = dst_on_device ? (src_on_device ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
                                            : (src_on_device ? cudaMemcpyDeviceToHost : cudaMemcpyHostToHost);
  check(cudaMemcpy(dst, src, n_bytes, kind), "cudaMemcpy");
}

void memset_zero(void* dst, std::size_t n_bytes) {
  check(cudaMemsetAsync(dst, 0, n_bytes, stream()), "cudaMemsetAsync");
}

void synchronize() { check(cudaDeviceSynchronize(), "cudaDeviceSynchronize"); }

void run_beside(const std::function<void()>& side, const std::function<void()>& main) {
  if (t_stream != 0) {  // already beside something: no third stream
    side();
    main();
    return;
  }
  DeviceContext& ctx = context();
  check(cudaEventRecord(ctx.fork_event(), 0), "cudaEventRecord (fork)");
  check(cudaStreamWaitEvent(ctx.side_stream(), ctx.fork_event(), 0), "cudaStreamWaitEvent (fork)");
  struct Join {  // also when a part throws: later work still waits for the side stream
    DeviceContext& ctx;
    ~Join() {
      t_stream = 0;
      cudaEventRecord(ctx.join_event(), ctx.side_stream());
      cudaStreamWaitEvent(0, ctx.join_event(), 0);
    }
  } join{ctx};
  t_stream = ctx.side_stream();
  side();
  t_stream = 0;
  main();
}

}  // namespace cuda
}  // namespace kernels
}  // namespace roast
