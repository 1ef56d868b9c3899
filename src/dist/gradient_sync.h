// Sums the memory's gradient over the ranks of a data-parallel run, on the engine that fits
// the memory's device: MPI on host buffers (a CUDA gradient is copied through the host), or
// NCCL on the GPU. Engine code (src/train uses it).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "roast/distributed.h"
#include "roast/tensor.h"

namespace roast::kernels::cuda {
struct NcclComm;
}

namespace roast::dist {

class GradientSync {
 public:
  // Collective. choice: "auto" (NCCL for a CUDA device at more than one rank, else the
  // communicator), "mpi" (the communicator, through host memory) or "nccl" (also at one
  // rank: the GPU check that NCCL gives the same training). Throws CollectiveError on every
  // rank when any rank cannot serve the choice (NCCL missing, a CPU device with "nccl").
  GradientSync(Communicator& comm, Device device, const std::string& choice);
  ~GradientSync();
  GradientSync(const GradientSync&) = delete;
  GradientSync& operator=(const GradientSync&) = delete;

  // Collective: replaces `grad` (f32, contiguous, on the device given above) by its sum over
  // the ranks. The identity (no copy) for one rank without NCCL.
  void sum(Tensor& grad);
  std::string engine() const { return engine_; }
  bool uses_nccl() const { return nccl_ != nullptr; }

 private:
  Communicator& comm_;
  Device device_;
  std::string engine_;
  std::shared_ptr<kernels::cuda::NcclComm> nccl_;
  std::vector<float> host_;  // the host copy of a CUDA gradient on the MPI path
};

}  // namespace roast::dist
