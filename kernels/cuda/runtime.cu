// The CUDA device services of kernels/backend.h and the per-device context (common.cuh).
#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

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
constexpr std::size_t kBlasWorkspaceBytes = std::size_t(32) << 20;  // each cuBLAS handle's workspace
thread_local cudaStream_t t_main = 0;    // the legacy stream, or the capture stream while capturing
thread_local cudaStream_t t_stream = 0;  // t_main, or the side stream inside run_beside's side part
thread_local bool t_beside = false;      // inside run_beside

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

namespace {
// A cuBLAS handle bound to `stream` with its own workspace of kBlasWorkspaceBytes. Every handle
// gets the same explicit size, so that cuBLAS picks the same algorithm for a GEMM on every
// stream (a captured step computes what an uncaptured one does, bit for bit), and a captured
// GEMM allocates nothing.
cublasHandle_t create_handle(cudaStream_t stream, void** workspace) {
  cublasHandle_t handle = nullptr;
  check_blas(cublasCreate(&handle), "cublasCreate");
  check_blas(cublasSetStream(handle, stream), "cublasSetStream");
  check(cudaMalloc(workspace, kBlasWorkspaceBytes), "cudaMalloc (cuBLAS workspace)");
  check_blas(cublasSetWorkspace(handle, *workspace, kBlasWorkspaceBytes), "cublasSetWorkspace");
  return handle;
}
}  // namespace

cublasHandle_t DeviceContext::blas() {
  const cudaStream_t s = t_stream;
  if (s != 0 && s != side_ && s != capture_)
    fail("cuBLAS call on device ", device_, " inside run_beside or captured work of another device");
  std::lock_guard<std::mutex> lock(mutex_);
  const int which = s == 0 ? 0 : s == side_ ? 1 : 2;
  if (blas_[which] == nullptr) blas_[which] = create_handle(s, &workspaces_[which]);
  return blas_[which];
}

cudaStream_t DeviceContext::capture_stream() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (capture_ == nullptr) {
    check(cudaStreamCreateWithFlags(&capture_, cudaStreamDefault), "cudaStreamCreate (capture stream)");
    blas_[2] = create_handle(capture_, &workspaces_[2]);  // now: creating it under capture would allocate
  }
  return capture_;
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
bool on_side_stream() { return t_beside && t_stream != t_main; }

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

int compute_capability(int index) {
  check_device(index);
  return 10 * attribute(cudaDevAttrComputeCapabilityMajor, index, "cudaDeviceGetAttribute (compute capability)") +
         attribute(cudaDevAttrComputeCapabilityMinor, index, "cudaDeviceGetAttribute (compute capability)");
}

// ---- the private memory pools of captured steps ------------------------------------------
// A captured step's kernels use fixed addresses at every replay, so the blocks they use must
// stay theirs between replays. While a step is captured, device_malloc serves from the graph's
// own pool (plain cudaMalloc blocks, legal under the relaxed capture mode, reused within the
// capture in stream order) instead of the device's stream-ordered pool; a block of the graph
// freed later (a tensor of the captured step dropped after the capture) goes back to the
// graph's pool, which hands blocks out only while its graph is captured. Nothing else ever
// receives them. When the graph is destroyed its pool is retired: free blocks are released at
// once, blocks still held by tensors when those are freed.
namespace {
constexpr std::size_t kPoolRounding = 512;

struct GraphPool {
  int device = 0;
  std::unordered_map<void*, std::size_t> owned;  // every block of the pool and its size
  std::multimap<std::size_t, void*> free;        // blocks no tensor holds, by size
  std::vector<void*> side_freed;                 // freed on the side stream: reusable after the join
  // Blocks allocated before the capture (the device's stream-ordered pool) whose last tensor
  // went during it: the graph may read them, so they are freed only with the graph.
  std::vector<void*> outside;
  bool retired = false;
};

struct CaptureState {
  GraphPool* pool = nullptr;  // the pool of the graph being captured
  int device = 0;
};

std::mutex g_pool_mutex;
std::unordered_map<void*, GraphPool*> g_pool_of;  // block -> its graph's pool
thread_local CaptureState* t_capture = nullptr;

// The caller holds g_pool_mutex.
void release_block(GraphPool* pool, void* ptr) {
  pool->owned.erase(ptr);
  g_pool_of.erase(ptr);
  cudaFree(ptr);  // synchronises the device: only when a pool is retired
}

void* pool_malloc(GraphPool& pool, std::size_t n_bytes) {
  const std::size_t rounded = (n_bytes + kPoolRounding - 1) / kPoolRounding * kPoolRounding;
  std::lock_guard<std::mutex> lock(g_pool_mutex);
  auto it = pool.free.lower_bound(rounded);
  if (it != pool.free.end() && it->first <= 2 * rounded) {  // best fit, wasting at most half
    void* ptr = it->second;
    pool.free.erase(it);
    return ptr;
  }
  void* ptr = nullptr;
  const cudaError_t status = cudaMalloc(&ptr, rounded);
  if (status == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    fail("out of GPU memory while capturing a training step: could not allocate ", n_bytes,
         " bytes for its private pool. Use a smaller batch_size or model, or set train.cuda_graphs to false");
  }
  check(status, "cudaMalloc (graph pool)");
  pool.owned.emplace(ptr, rounded);
  g_pool_of.emplace(ptr, &pool);
  return ptr;
}

// True when ptr belonged to a graph's pool (and was taken care of).
bool pool_free(void* ptr) {
  std::lock_guard<std::mutex> lock(g_pool_mutex);
  auto at = g_pool_of.find(ptr);
  if (at == g_pool_of.end()) return false;
  GraphPool* pool = at->second;
  if (pool->retired) {
    release_block(pool, ptr);
    if (pool->owned.empty()) delete pool;
    return true;
  }
  if (t_capture != nullptr && t_capture->pool == pool && on_side_stream()) pool->side_freed.push_back(ptr);
  else pool->free.emplace(pool->owned.at(ptr), ptr);
  return true;
}

// The side part of run_beside has joined the main stream: its freed blocks may be reused.
void after_join() {
  if (t_capture == nullptr) return;
  std::lock_guard<std::mutex> lock(g_pool_mutex);
  GraphPool* pool = t_capture->pool;
  for (void* ptr : pool->side_freed) pool->free.emplace(pool->owned.at(ptr), ptr);
  pool->side_freed.clear();
}

void retire(GraphPool* pool) {
  std::lock_guard<std::mutex> lock(g_pool_mutex);
  pool->retired = true;
  for (void* ptr : pool->side_freed) pool->free.emplace(pool->owned.at(ptr), ptr);
  pool->side_freed.clear();
  for (void* ptr : pool->outside) cudaFreeAsync(ptr, 0);
  pool->outside.clear();
  for (const auto& entry : pool->free) release_block(pool, entry.second);
  pool->free.clear();
  if (pool->owned.empty()) delete pool;
}
}  // namespace

void* device_malloc(std::size_t n_bytes) {
  context();  // the device's pool keeps freed memory from the first allocation on
  if (t_capture != nullptr) return pool_malloc(*t_capture->pool, n_bytes);
  void* ptr = nullptr;
  const cudaError_t status = cudaMallocAsync(&ptr, n_bytes, stream());
  if (status == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    fail("out of GPU memory: could not allocate ", n_bytes, " bytes. Use a smaller batch_size or model");
  }
  check(status, "cudaMallocAsync");
  return ptr;
}

namespace {
cudaMemPool_t default_pool() {
  cudaMemPool_t pool = nullptr;
  check(cudaDeviceGetDefaultMemPool(&pool, context().device()), "cudaDeviceGetDefaultMemPool");
  return pool;
}
}  // namespace

std::size_t device_peak_bytes() {
  std::uint64_t used_high = 0;
  check(cudaMemPoolGetAttribute(default_pool(), cudaMemPoolAttrUsedMemHigh, &used_high),
        "cudaMemPoolGetAttribute (used high)");
  const int device = context().device();
  std::size_t graph_bytes = 0;
  std::lock_guard<std::mutex> lock(g_pool_mutex);
  for (const auto& entry : g_pool_of)
    if (entry.second->device == device) graph_bytes += entry.second->owned.at(entry.first);
  return std::size_t(used_high) + graph_bytes;
}

void reset_device_peak() {
  std::uint64_t zero = 0;
  check(cudaMemPoolSetAttribute(default_pool(), cudaMemPoolAttrUsedMemHigh, &zero), "cudaMemPoolSetAttribute (used high)");
}

void device_free(void* ptr) {
  if (ptr == nullptr || pool_free(ptr)) return;
  if (t_capture != nullptr) {  // a block from before the capture: freeing it must not be recorded
    std::lock_guard<std::mutex> lock(g_pool_mutex);
    t_capture->pool->outside.push_back(ptr);
    return;
  }
  cudaFreeAsync(ptr, stream());
}

void copy(void* dst, bool dst_on_device, const void* src, bool src_on_device, std::size_t n_bytes) {
  if (dst_on_device && src_on_device) {  // stream-ordered, so that a captured step records it
    check(cudaMemcpyAsync(dst, src, n_bytes, cudaMemcpyDeviceToDevice, stream()), "cudaMemcpyAsync (device to device)");
    return;
  }
  const cudaMemcpyKind kind = dst_on_device ? cudaMemcpyHostToDevice
                                            : (src_on_device ? cudaMemcpyDeviceToHost : cudaMemcpyHostToHost);
  if (t_capture != nullptr)
    fail("a copy between the host and cuda:", t_capture->device, " inside a captured training step (only device work ",
         "can be replayed; a value read back or uploaded per step breaks capture)");
  check(cudaMemcpy(dst, src, n_bytes, kind), "cudaMemcpy");
}

void memset_zero(void* dst, std::size_t n_bytes) {
  check(cudaMemsetAsync(dst, 0, n_bytes, stream()), "cudaMemsetAsync");
}

void synchronize() {
  if (t_capture != nullptr) fail("a device synchronisation inside a captured training step");
  check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
}

// The fork and join are events on the main stream, so that under capture they become the
// graph's edges between the two branches (the side stream joins the capture at the fork).
void run_beside(const std::function<void()>& side, const std::function<void()>& main) {
  if (t_beside) {  // already beside something: no third stream
    side();
    main();
    return;
  }
  DeviceContext& ctx = context();
  check(cudaEventRecord(ctx.fork_event(), t_main), "cudaEventRecord (fork)");
  check(cudaStreamWaitEvent(ctx.side_stream(), ctx.fork_event(), 0), "cudaStreamWaitEvent (fork)");
  struct Join {  // also when a part throws: later work still waits for the side stream
    DeviceContext& ctx;
    ~Join() {
      t_stream = t_main;
      t_beside = false;
      cudaEventRecord(ctx.join_event(), ctx.side_stream());
      cudaStreamWaitEvent(t_main, ctx.join_event(), 0);
      after_join();
    }
  } join{ctx};
  t_beside = true;
  t_stream = ctx.side_stream();
  side();
  t_stream = t_main;
  main();
}

// ---- CUDA graphs of a training step -----------------------------------------------------
struct StepGraph {
  int device = 0;
  cudaGraphExec_t exec = nullptr;
  GraphPool* pool = nullptr;
  StepGraph() = default;
  StepGraph(const StepGraph&) = delete;
  StepGraph& operator=(const StepGraph&) = delete;
  ~StepGraph() {
    int current = 0;
    cudaGetDevice(&current);
    cudaSetDevice(device);
    cudaDeviceSynchronize();  // no replay may still use the pool
    if (exec != nullptr) cudaGraphExecDestroy(exec);
    if (pool != nullptr) retire(pool);
    cudaSetDevice(current);
  }
};

bool capturing() { return t_capture != nullptr; }

void begin_capture() {
  if (t_capture != nullptr) fail("begin_capture: a capture is already under way on this thread");
  if (t_beside) fail("begin_capture: called inside run_beside");
  DeviceContext& ctx = context();
  const cudaStream_t capture = ctx.capture_stream();
  check(cudaDeviceSynchronize(), "cudaDeviceSynchronize (before capture)");
  auto* state = new CaptureState;
  state->pool = new GraphPool;
  state->pool->device = state->device = ctx.device();
  // Relaxed: the pool's cudaMalloc is allowed; any use of the legacy stream (an upload or
  // read-back inside the step) still invalidates the capture, which end_capture reports.
  const cudaError_t status = cudaStreamBeginCapture(capture, cudaStreamCaptureModeRelaxed);
  if (status != cudaSuccess) {
    delete state->pool;
    delete state;
    check(status, "cudaStreamBeginCapture");
  }
  t_capture = state;
  t_main = t_stream = capture;
}

std::shared_ptr<StepGraph> end_capture(std::string* why) {
  if (t_capture == nullptr) fail("end_capture: no capture is under way on this thread");
  CaptureState* state = t_capture;
  t_capture = nullptr;
  const cudaStream_t capture = t_main;
  t_main = t_stream = 0;
  cudaGraph_t graph = nullptr;
  cudaError_t status = cudaStreamEndCapture(capture, &graph);
  cudaGraphExec_t exec = nullptr;
  if (status == cudaSuccess && graph != nullptr) status = cudaGraphInstantiate(&exec, graph, 0);
  if (graph != nullptr) cudaGraphDestroy(graph);
  if (status != cudaSuccess || exec == nullptr) {
    if (why != nullptr) *why = cudaGetErrorString(status == cudaSuccess ? cudaErrorUnknown : status);
    cudaGetLastError();  // clear the capture's error
  }
  auto out = std::make_shared<StepGraph>();
  out->device = state->device;
  out->pool = state->pool;
  delete state;
  if (exec == nullptr) return nullptr;  // `out` retires the pool
  out->exec = exec;
  return out;
}

void launch(StepGraph& graph) {
  if (t_capture != nullptr || t_beside) fail("launch: a step graph cannot be launched inside a capture or run_beside");
  check(cudaGraphLaunch(graph.exec, context().capture_stream()), "cudaGraphLaunch");
}

}  // namespace cuda
}  // namespace kernels
}  // namespace roast
