// NCCL for data-parallel gradient sums (kernels/backend.h, "NCCL"). libnccl is opened with
// dlopen on first use, not linked: a machine without NCCL still runs everything else, and a
// run that needs NCCL gets a message on every rank (src/train) instead of a loader error.
//
// The few declarations below are NCCL 2's stable C ABI (nccl.h: ncclUniqueId is 128 bytes,
// ncclFloat32 = 7, ncclSum = 0, ncclSuccess = 0). Where CMake found nccl.h
// (ROAST_HAVE_NCCL_H) they are checked against it at compile time.
#include <dlfcn.h>

#include <cstring>
#include <mutex>
#include <string>

#include "kernels/backend.h"
#include "kernels/cuda/common.cuh"
#include "roast/error.h"

#if ROAST_HAVE_NCCL_H
#include <nccl.h>
#endif

namespace roast {
namespace kernels {
namespace cuda {
namespace {

struct NcclId {
  char internal[128];
};
using NcclHandle = void*;  // ncclComm_t
using GetUniqueId = int (*)(NcclId*);
using CommInitRank = int (*)(NcclHandle*, int, NcclId, int);
using AllReduce = int (*)(const void*, void*, std::size_t, int, int, NcclHandle, cudaStream_t);
using CommDestroy = int (*)(NcclHandle);
using GetErrorString = const char* (*)(int);
using GetVersion = int (*)(int*);
constexpr int kNcclSuccess = 0, kNcclFloat32 = 7, kNcclSum = 0;
#if ROAST_HAVE_NCCL_H
static_assert(sizeof(NcclId) == sizeof(ncclUniqueId), "ncclUniqueId");
static_assert(kNcclFloat32 == int(ncclFloat32) && kNcclSum == int(ncclSum) && kNcclSuccess == int(ncclSuccess), "NCCL ABI");
#endif

struct Nccl {
  std::string error;  // "" when loaded
  GetUniqueId get_unique_id = nullptr;
  CommInitRank comm_init_rank = nullptr;
  AllReduce all_reduce = nullptr;
  CommDestroy comm_destroy = nullptr;
  GetErrorString get_error_string = nullptr;
  GetVersion get_version = nullptr;
};

template <typename F>
void bind(void* library, const char* name, F& f, std::string& error) {
  f = reinterpret_cast<F>(dlsym(library, name));
  if (f == nullptr && error.empty()) error = std::string("libnccl has no ") + name + " (NCCL 2.x is needed)";
}

const Nccl& nccl() {
  static Nccl n;
  static std::once_flag once;
  std::call_once(once, [] {
    void* library = nullptr;
    for (const char* name : {"libnccl.so.2", "libnccl.so"})
      if ((library = dlopen(name, RTLD_NOW | RTLD_GLOBAL)) != nullptr) break;
    if (library == nullptr) {
      const char* why = dlerror();
      n.error = std::string("libnccl.so.2 cannot be loaded (") + (why ? why : "not found") +
                "). Install NCCL (the libnccl2 package, or NVIDIA's NCCL) where the dynamic loader finds it "
                "(LD_LIBRARY_PATH)";
      return;
    }
    bind(library, "ncclGetUniqueId", n.get_unique_id, n.error);
    bind(library, "ncclCommInitRank", n.comm_init_rank, n.error);
    bind(library, "ncclAllReduce", n.all_reduce, n.error);
    bind(library, "ncclCommDestroy", n.comm_destroy, n.error);
    bind(library, "ncclGetErrorString", n.get_error_string, n.error);
    bind(library, "ncclGetVersion", n.get_version, n.error);
  });
  return n;
}

const Nccl& loaded() {
  const Nccl& n = nccl();
  if (!n.error.empty()) fail("NCCL: ", n.error);
  return n;
}

void check_nccl(int status, const char* what) {
  if (status != kNcclSuccess) fail("NCCL ", what, " failed: ", loaded().get_error_string(status));
}

}  // namespace

struct NcclComm {
  NcclHandle handle = nullptr;
  ~NcclComm() {
    if (handle != nullptr) nccl().comm_destroy(handle);
  }
};

std::string nccl_unavailable_reason() { return nccl().error; }

std::string nccl_version() {
  int v = 0;
  check_nccl(loaded().get_version(&v), "ncclGetVersion");
  // NCCL >= 2.9 encodes major * 10000 + minor * 100 + patch.
  return std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." + std::to_string(v % 100);
}

std::string nccl_unique_id() {
  NcclId id{};
  check_nccl(loaded().get_unique_id(&id), "ncclGetUniqueId");
  return std::string(id.internal, sizeof(id.internal));
}

std::shared_ptr<NcclComm> nccl_connect(const std::string& unique_id, int n_ranks, int rank) {
  if (unique_id.size() != sizeof(NcclId)) fail("NCCL: a unique id has ", sizeof(NcclId), " bytes, got ", unique_id.size());
  NcclId id{};
  std::memcpy(id.internal, unique_id.data(), sizeof(id.internal));
  auto comm = std::make_shared<NcclComm>();
  check_nccl(loaded().comm_init_rank(&comm->handle, n_ranks, id, rank), "ncclCommInitRank");
  return comm;
}

void nccl_allreduce_sum(NcclComm& comm, float* device_data, std::size_t n) {
  check_nccl(loaded().all_reduce(device_data, device_data, n, kNcclFloat32, kNcclSum, comm.handle, stream()),
             "ncclAllReduce");
  check(cudaStreamSynchronize(stream()), "waiting for ncclAllReduce");
}

}  // namespace cuda
}  // namespace kernels
}  // namespace roast
