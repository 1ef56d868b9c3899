// roast_matmul: ROAST-MM kernels wired into autograd (see include/roast/roast_matmul.h).
#include "roast/roast_matmul.h"

#include <memory>

#include "kernels/backend.h"
#include "ops/internal.h"
#include "roast/autograd.h"

namespace roast {
namespace {

// The op over `memory` with the per-mapping state in `cache` (null on the CPU), which the
// backward keeps alive.
Tensor roast_matmul_op(const Tensor& x, const Tensor& memory, const Mapping& map, const Numerics& numerics,
                       std::shared_ptr<kernels::MappingCache> cache) {
  const char* name = "roast_matmul";
  ops::require_f32(x, name, "input");
  ops::require_f32(memory, name, "memory");
  ops::require_same_device(x, memory, name);
  kernels::cpu::roast_mm_check(map, name);
  ROAST_CHECK(x.dim() >= 1 && x.size(-1) == map.rows, name, ": input ", x.describe(), " must end in K = ", map.rows,
              " (the mapping is ", map.rows, " x ", map.cols, ")");
  ROAST_CHECK(memory.dim() == 1 && memory.numel() >= map.region_base + map.region_size, name, ": memory ",
              memory.describe(), " must be a vector of at least ", map.region_base + map.region_size,
              " cells (region ", map.region_base, " + ", map.region_size, ")");
  const std::int64_t rows = x.numel() / map.rows;
  Shape out_shape(x.shape().begin(), x.shape().end() - 1);
  out_shape.push_back(map.cols);
  Tensor out = Tensor::empty(out_shape, DType::f32, x.device());
  ROAST_KERNEL(x.device(), roast_mm_forward, map, numerics, cache.get(), memory.data<float>(), x.data<float>(), rows,
               out.data<float>());

  return record(name, out, {x, memory},
                [x = x.detach(), memory = memory.detach(), map, numerics, cache, rows](const Tensor& g,
                                                                                       GradSink& sink) {
                  kernels::MappingCache* c = cache.get();
                  const bool input = sink.needs(0), weights = sink.needs(1);
                  Tensor gx = input ? Tensor::empty(x.shape(), DType::f32, x.device()) : Tensor();
                  Tensor gm = weights ? sink.buffer(1) : Tensor();
                  if (input && weights)  // one call: the GPU runs the two products concurrently
                    ROAST_KERNEL(x.device(), roast_mm_backward, map, numerics, c, memory.data<float>(),
                                 x.data<float>(), g.data<float>(), rows, gx.data<float>(), gm.data<float>());
                  else if (input)
                    ROAST_KERNEL(x.device(), roast_mm_backward_input, map, numerics, c, memory.data<float>(),
                                 g.data<float>(), rows, gx.data<float>());
                  else if (weights)
                    ROAST_KERNEL(x.device(), roast_mm_backward_memory, map, numerics, c, x.data<float>(),
                                 g.data<float>(), rows, gm.data<float>());
                  if (input) sink.accumulate(0, gx);
                });
}

}  // namespace

Tensor roast_matmul(const Tensor& x, const Memory& memory, const Mapping& map, const Numerics& numerics) {
  return roast_matmul_op(x, memory.params(), map, numerics, memory.kernel_cache());
}

Tensor roast_matmul(const Tensor& x, const Tensor& memory, const Mapping& map, const Numerics& numerics) {
  ROAST_CHECK(memory.defined(), "roast_matmul: memory is an empty tensor");
  return roast_matmul_op(x, memory, map, numerics, kernels::make_mapping_cache(memory.device()));
}

}  // namespace roast
