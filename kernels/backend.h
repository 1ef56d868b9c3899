// The backend layer: the one header through which engine code runs kernels and uses devices.
//
// Every kernel is declared once, in kernels/kernel_list.inc, with its contract. That list is
// read below into namespace kernels::cpu (kernels/cpu/*.cpp, Eigen + OpenMP: the reference)
// and into kernels::cuda (kernels/cuda/*.cu, built only with the CUDA backend), so that both
// devices implement exactly the same signatures and a missing or mismatched implementation is
// a link error. ROAST_KERNEL(device, fn, args...) is the one dispatch point of every op.
//
// Only files under kernels/ include CUDA, cuBLAS or NCCL headers. CUDA state (streams, cuBLAS
// handles, device attributes and probes, auto_select's path choices) belongs to one context
// per device (kernels/cuda/context.cuh); per-mapping state (tile tables) to the MappingCache
// of the Memory that owns the mappings. Numeric options are arguments (roast/backend.h).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "kernels/profile.h"
#include "kernels/types.h"
#include "roast/config.h"
#include "roast/tensor.h"

namespace roast {
namespace kernels {

namespace cpu {
#include "kernels/kernel_list.inc"
}  // namespace cpu

namespace cuda {
#include "kernels/kernel_list.inc"

// ---- CUDA device services --------------------------------------------------------------
// Implemented by kernels/cuda/runtime.cu, or by kernels/no_cuda.cpp in builds without the
// CUDA backend (there device_count() is 0 and the others fail with a message saying how to
// get a CUDA build), so that callers need no #if.
int device_count();                    // 0 when no GPU (or no driver, or no backend) is present
void check_device(int index);          // throws roast::Error when the device does not exist
void set_current_device(int index);    // the calling thread's device (cudaSetDevice)
int compute_capability(int index);     // 10 * major + minor (80: Ampere A100, 90: Hopper)
// Stream-ordered device memory on the current device (freed blocks are reused without a
// device synchronisation).
void* device_malloc(std::size_t n_bytes);
void device_free(void* ptr);
// Peak device memory held through device_malloc on the current device since the last
// reset_device_peak: the stream-ordered pool's high-water mark of bytes in use, plus every
// block of the private pools of live captured steps (held for the graph's life). The
// counterpart of torch.cuda.max_memory_allocated (benchmarks); 0 without CUDA.
std::size_t device_peak_bytes();
void reset_device_peak();
void copy(void* dst, bool dst_on_device, const void* src, bool src_on_device, std::size_t n_bytes);
void memset_zero(void* dst, std::size_t n_bytes);
// Waits until every kernel and copy issued so far has finished (benchmarks, timing).
void synchronize();
// Runs two independent pieces of GPU work concurrently: `side` is issued on the current
// device's side stream, `main` on its main stream, both after everything issued before the
// call, and everything issued after the call waits for both (no host synchronisation). They
// must not write what the other reads or writes, nor switch the current device. Nested calls
// run both in order.
void run_beside(const std::function<void()>& side, const std::function<void()>& main);
// A MappingCache for mappings whose products run on CUDA device `index`.
std::shared_ptr<MappingCache> make_mapping_cache(int index);

// ---- CUDA graphs of a training step (kernels/cuda/runtime.cu) ---------------------------
// A captured step: an instantiated CUDA graph and the private pool of device memory its work
// uses. The pool's blocks are the graph's alone for its whole life (device_malloc hands them
// out only while that graph is captured), so a replay finds its buffers as it left them.
struct StepGraph;
// Starts recording the calling thread's work on the current device (synchronises the device
// first): from here to end_capture, every kernel, memset and device-to-device copy is recorded,
// not run; run_beside's side stream is forked and joined by events inside the recording;
// device_malloc serves from the new graph's pool, and device_free of a block allocated before
// the capture is deferred until the graph is destroyed (the graph may read it). A host copy or synchronisation inside fails (roast::Error)
// and invalidates the capture.
void begin_capture();
// Ends the recording: the graph ready to launch, or null with *why saying what could not be
// captured (the capture's CUDA error). Always call it after begin_capture, also when the
// recorded work threw.
std::shared_ptr<StepGraph> end_capture(std::string* why);
// Runs the graph once on the current device, ordered after the work issued before (copies of
// the next batch and step state) and before the work issued after; no host synchronisation.
void launch(StepGraph& graph);
// Whether the calling thread is between begin_capture and end_capture.
bool capturing();

// ---- NCCL (kernels/cuda/nccl.cu) ------------------------------------------------------
// Data-parallel gradient sums between GPUs (src/dist/gradient_sync.cpp). libnccl is opened
// at run time (dlopen of libnccl.so.2), so that a machine without NCCL runs everything
// else, and a run that needs it can say so on every rank instead of failing to start.
// "" when NCCL can be used here, else why not (no CUDA backend, library or symbol missing).
std::string nccl_unavailable_reason();
std::string nccl_version();            // "2.28.3"; requires nccl_unavailable_reason() == ""
std::string nccl_unique_id();          // the bytes of a new ncclUniqueId (rank 0 makes it)
// One rank's communicator on the current device; collective over the n_ranks ranks that
// pass the same id. Throws roast::Error with NCCL's message on failure.
struct NcclComm;
std::shared_ptr<NcclComm> nccl_connect(const std::string& unique_id, int n_ranks, int rank);
// In-place sum over the ranks of n floats in device memory of the current device, ordered
// after the work issued before it; returns once the sum is complete.
void nccl_allreduce_sum(NcclComm& comm, float* device_data, std::size_t n);
}  // namespace cuda

// Says clearly that this build has no CUDA backend (the CUDA branch of ROAST_KERNEL in
// builds without it; a CUDA tensor cannot exist there, its allocation already fails).
[[noreturn]] void no_cuda_kernel(const char* op);

// The cache for mappings served on `device`: null on the CPU (its kernels keep nothing).
std::shared_ptr<MappingCache> make_mapping_cache(Device device);

}  // namespace kernels
}  // namespace roast

// The profiler's scope (kernels/profile.h) lives until the kernel returns; off, it costs one
// relaxed load.
#if ROAST_WITH_CUDA
#define ROAST_KERNEL(device, fn, ...)                                                   \
  (::roast::kernels::profile::Scope(#fn, !(device).is_cpu()),                           \
   (device).is_cpu() ? ::roast::kernels::cpu::fn(__VA_ARGS__) : ::roast::kernels::cuda::fn(__VA_ARGS__))
#else
#define ROAST_KERNEL(device, fn, ...)                                                   \
  (::roast::kernels::profile::Scope(#fn, !(device).is_cpu()),                           \
   (device).is_cpu() ? ::roast::kernels::cpu::fn(__VA_ARGS__)                           \
                     : (::roast::kernels::no_cuda_kernel(#fn), ::roast::kernels::cpu::fn(__VA_ARGS__)))
#endif
