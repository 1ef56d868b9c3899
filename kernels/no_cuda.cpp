// The CUDA device services of kernels/backend.h in builds without the CUDA backend: no device
// exists, and anything that would need one says how to get a CUDA build. Compiled only when
// ROAST_WITH_CUDA is off (CMakeLists.txt), so that engine code calls these without any #if.
#include "kernels/backend.h"

#include "roast/error.h"

namespace roast {
namespace kernels {
namespace cuda {

int device_count() { return 0; }
void check_device(int index) { no_cuda_kernel(("device cuda:" + std::to_string(index)).c_str()); }
void set_current_device(int index) { check_device(index); }
int compute_capability(int index) {
  check_device(index);
  return 0;
}
void* device_malloc(std::size_t) { no_cuda_kernel("allocating on cuda"); }
void device_free(void*) {}
std::size_t device_peak_bytes() { return 0; }
void reset_device_peak() {}
void copy(void*, bool, const void*, bool, std::size_t) { no_cuda_kernel("copying to or from cuda"); }
void memset_zero(void*, std::size_t) { no_cuda_kernel("zero-filling on cuda"); }
void synchronize() {}
void run_beside(const std::function<void()>& side, const std::function<void()>& main) {
  side();
  main();
}
std::shared_ptr<MappingCache> make_mapping_cache(int index) { no_cuda_kernel(("device cuda:" + std::to_string(index)).c_str()); }

struct StepGraph {};
void begin_capture() { no_cuda_kernel("capturing a CUDA graph"); }
std::shared_ptr<StepGraph> end_capture(std::string* why) {
  if (why != nullptr) *why = "this build has no CUDA backend";
  return nullptr;
}
void launch(StepGraph&) { no_cuda_kernel("launching a CUDA graph"); }
bool capturing() { return false; }

std::string nccl_unavailable_reason() { return "this build has no CUDA backend (NCCL reduces GPU buffers)"; }
std::string nccl_version() { no_cuda_kernel("NCCL"); }
std::string nccl_unique_id() { no_cuda_kernel("NCCL"); }
struct NcclComm {};
std::shared_ptr<NcclComm> nccl_connect(const std::string&, int, int) { no_cuda_kernel("NCCL"); }
void nccl_allreduce_sum(NcclComm&, float*, std::size_t) { no_cuda_kernel("NCCL"); }

}  // namespace cuda
}  // namespace kernels
}  // namespace roast
