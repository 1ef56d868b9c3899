// Memory: the one parameter store of a model.
//
// A model's trainable state is exactly one flat array M of m floats (params), its
// gradient (params.grad(), filled in place by the ops through GradSink::buffer) and the
// optimizer's state slots, each [m], all on one device. The plan (plan.h) says where each
// virtual tensor lives; a virtual weight is w(r, c) = lambda * sign(r, c) * M[loc(r, c)].
// Nothing else in the engine allocates trainable parameters; non-trainable buffers
// (batch-norm running statistics) belong to their layers.
//
//   Planner planner;
//   planner.matrix("fc1.weight", 784, 256);
//   planner.vector("fc1.bias", 256, 0.0f);
//   MemoryConfig config;  config.compression = 10;
//   Memory memory(planner.finalize(config));
//   Tensor bias = read_exact(memory, memory.plan().mapping("fc1.bias"));  // [256, 1]
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "roast/plan.h"
#include "roast/tensor.h"

namespace roast {
namespace kernels {
class MappingCache;  // per-mapping kernel state (kernels/types.h); opaque here
}

class Memory {
 public:
  // Allocates m floats on `device` and initialises them from plan.config().seed:
  // hashed regions U(-init_scale, init_scale); exact and dense tensors with their own
  // init (init_value, or U(+-sqrt(3) * target_std), i.e. uniform(+-1/sqrt(fan_in))).
  // The values depend only on (plan, seed), never on the device or thread count.
  explicit Memory(MemoryPlan plan, Device device = Device::cpu());
  Memory(const Memory&) = delete;
  Memory& operator=(const Memory&) = delete;
  Memory(Memory&&) = default;
  Memory& operator=(Memory&&) = default;

  const MemoryPlan& plan() const { return plan_; }
  std::int64_t n_floats() const { return plan_.n_floats(); }
  Device device() const { return device_; }

  // The leaf f32 [m] with requires_grad; its storage is stable for the Memory's lifetime.
  const Tensor& params() const { return params_; }
  // The gradient [m]; empty until the first backward that reaches the memory.
  Tensor grad() const { return params_.grad(); }
  // Zero-fills the gradient (keeping its buffer when the memory owns it).
  void zero_grad();

  // Optimizer state: a zero-filled f32 [m] on the memory's device, created on first use.
  // The reference stays valid for the Memory's lifetime.
  Tensor& slot(const std::string& name);
  bool has_slot(const std::string& name) const { return slots_.count(name) != 0; }
  std::vector<std::string> slot_names() const;  // sorted
  // Bytes held: params, gradient (when allocated) and slots.
  std::int64_t n_bytes() const;
  // The state that the kernels keep per mapping of this memory between calls (on CUDA the
  // tile tables of the tiled mappings), freed with the memory; null on the CPU.
  const std::shared_ptr<kernels::MappingCache>& kernel_cache() const { return kernel_cache_; }

 private:
  MemoryPlan plan_;
  Device device_;
  Tensor params_;
  std::map<std::string, Tensor> slots_;
  std::shared_ptr<kernels::MappingCache> kernel_cache_;
};

// The dense virtual weight [rows, cols] of one mapped tensor, lambda * sign * M[loc],
// built with plain loops on the host (a cpu tensor whatever the memory's device). The
// reference for kernel tests; never a training code path. No autograd.
Tensor materialize(const Memory& memory, const Mapping& mapping);

// The cells of an exact (or dense) tensor as a new f32 tensor of `shape` (default
// [rows, cols]; its element count must be rows * cols), on the memory's device.
// Differentiable: the backward adds the output's gradient in place into the memory's
// gradient at the tensor's cells (no m-sized temporary). Throws for hashed mappings.
Tensor read_exact(const Memory& memory, const Mapping& mapping, const Shape& shape = {});

// How many virtual weights read each cell. O(m) memory (the result), O(n + m) time
// (whole tiles are walked as contiguous runs; no per-weight index). Loads are exact up
// to 2^32 - 1 weights per cell (far beyond any plan the budget checks allow in practice).
std::vector<std::uint32_t> cell_loads(const MemoryPlan& plan);

struct LoadStats {
  std::int64_t n_cells = 0;
  std::int64_t n_empty_cells = 0;  // cells no virtual weight reads
  std::int64_t min_load = 0;
  std::int64_t max_load = 0;
  double mean_load = 0.0;  // = virtual weights / cells
  double std_load = 0.0;
  double empty_share() const { return n_cells > 0 ? double(n_empty_cells) / double(n_cells) : 0.0; }
};
struct RegionLoad {
  Region region;
  LoadStats stats;
};
struct MemoryLoad {
  LoadStats total;
  std::vector<RegionLoad> regions;  // in plan.regions() order
};
// Load statistics for the whole memory and for each region (for `roast-train info`).
MemoryLoad load_stats(const MemoryPlan& plan);

// Gradient scaling (ROAST.md, STABLE-RPS): S_j = sum of lambda^2 over the virtual weights
// that read cell j, as f32 [m] on `device`; 0 for empty cells, 1 for exact/dense cells.
// Computed once at set-up, same cost as cell_loads. Summed in f32 (relative error below
// max load * 2^-24).
Tensor gradient_scale(const MemoryPlan& plan, Device device = Device::cpu());

}  // namespace roast
