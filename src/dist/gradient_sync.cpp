#include "dist/gradient_sync.h"

#include "kernels/backend.h"

namespace roast::dist {

GradientSync::GradientSync(Communicator& comm, Device device, const std::string& choice)
    : comm_(comm), device_(device), engine_(comm.engine()) {
  std::string error;
  if (choice != "auto" && choice != "mpi" && choice != "nccl")
    error = "--comm " + choice + ": expected auto, mpi or nccl";
  else if (choice == "nccl" && device.is_cpu())
    error = "--comm nccl reduces GPU memory, but the run's device is the CPU. Use --comm auto (MPI) or \"device\": \"cuda\"";
  const bool want_nccl = error.empty() && !device.is_cpu() && (choice == "nccl" || (choice == "auto" && comm.size() > 1));
  if (want_nccl) {
    const std::string why = kernels::cuda::nccl_unavailable_reason();
    if (!why.empty())
      error = "a CUDA run on " + std::to_string(comm.size()) + " rank(s) sums its gradients with NCCL, which is not usable here: " +
              why + ". Or pass --comm mpi to sum them through host memory with MPI (slower)";
  }
  agree(comm, error);
  if (!want_nccl) return;
  std::string id, init_error;
  try {
    if (comm.rank() == 0) id = kernels::cuda::nccl_unique_id();
  } catch (const Error& e) {
    init_error = e.what();
  }
  agree(comm, init_error);
  comm.broadcast(id, 0);
  try {
    nccl_ = kernels::cuda::nccl_connect(id, comm.size(), comm.rank());
    engine_ = "NCCL " + kernels::cuda::nccl_version();
  } catch (const Error& e) {
    init_error = e.what();  // ncclCommInitRank is collective: a failure is seen by every rank
  }
  agree(comm, init_error);
}

GradientSync::~GradientSync() = default;

void GradientSync::sum(Tensor& grad) {
  if (nccl_ != nullptr) {
    kernels::cuda::nccl_allreduce_sum(*nccl_, grad.data<float>(), std::size_t(grad.numel()));
    return;
  }
  if (comm_.size() == 1) return;
  if (grad.device().is_cpu()) {
    comm_.allreduce_sum(grad.data<float>(), grad.numel());
    return;
  }
  host_.resize(std::size_t(grad.numel()));
  kernels::cuda::copy(host_.data(), false, grad.data<float>(), true, host_.size() * sizeof(float));
  comm_.allreduce_sum(host_.data(), grad.numel());
  kernels::cuda::copy(grad.data<float>(), true, host_.data(), false, host_.size() * sizeof(float));
}

}  // namespace roast::dist
