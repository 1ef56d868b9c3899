#include "nn/embedding_op.h"

#include "kernels/backend.h"
#include "ops/internal.h"
#include "roast/autograd.h"

namespace roast {
namespace nn {
namespace {
const void* id_pointer(const Tensor& ids) {
  return ids.dtype() == DType::i64 ? static_cast<const void*>(ids.data<std::int64_t>())
                                   : static_cast<const void*>(ids.data<std::int32_t>());
}
}  // namespace

Tensor embedding_lookup(const Tensor& memory, const Mapping& map, const Tensor& ids, const Numerics& numerics) {
  const char* name = "embedding";
  ops::require_f32(memory, name, "memory");
  ROAST_CHECK(ids.defined() && ids.dtype() != DType::f32, name, ": ids must be i32 or i64, got ", ids.describe());
  ROAST_CHECK(map.kind == TensorKind::embedding || map.scheme == Scheme::exact || map.scheme == Scheme::dense, name,
              ": the mapping is not an embedding table");
  ROAST_CHECK(map.region_base + map.region_size <= memory.numel(), name, ": the mapping's region ends at cell ",
              map.region_base + map.region_size, " but the memory has ", memory.numel());
  ops::require_same_device(memory, ids, name);
  const Device dev = memory.device();
  const int id_bytes = int(dtype_size(ids.dtype()));
  Shape out_shape = ids.shape();
  out_shape.push_back(map.cols);
  Tensor y = Tensor::empty(out_shape, DType::f32, dev);
  // The kernels (kernels/kernel_list.inc) check the ids and read each ROBE-Z chunk of a row.
  const std::int64_t bad =
      ROAST_KERNEL(dev, embedding_gather, memory.data<float>(), map, id_pointer(ids), id_bytes, ids.numel(),
                   y.data<float>());
  if (bad >= 0) {
    const Tensor host = ids.to(Device::cpu());  // the error path only
    const std::int64_t r = host.dtype() == DType::i64 ? host.data<std::int64_t>()[bad]
                                                      : std::int64_t(host.data<std::int32_t>()[bad]);
    fail(name, ": id ", r, " at position ", bad, " is outside the table [0, ", map.rows,
         "). Check the vocabulary size in the model config against the tokenizer's");
  }
  return record(name, y, {memory, ids}, [map, ids = ids.detach(), id_bytes, deterministic = numerics.deterministic](
                                                 const Tensor& g, GradSink& sink) {
    if (!sink.needs(0)) return;
    Tensor grad = sink.buffer(0);  // in place: only the cells of the rows used are touched
    ROAST_KERNEL(g.device(), embedding_scatter_add, g.data<float>(), map, id_pointer(ids), id_bytes, ids.numel(),
                 grad.data<float>(), deterministic);
  });
}

}  // namespace nn
}  // namespace roast
