#include "nn/embedding_op.h"

#include "kernels/backend.h"
#include "kernels/dropout_hash.h"
#include "ops/internal.h"
#include "roast/autograd.h"

namespace roast {
namespace nn {
namespace {
const void* id_pointer(const Tensor& ids) {
  return ids.dtype() == DType::i64 ? static_cast<const void*>(ids.data<std::int64_t>())
                                   : static_cast<const void*>(ids.data<std::int32_t>());
}

// The checks every lookup of `map` in `memory` by `ids` needs.
void check_lookup(const char* name, const Tensor& memory, const Mapping& map, const Tensor& ids) {
  ops::require_f32(memory, name, "memory");
  ROAST_CHECK(ids.defined() && ids.dtype() != DType::f32, name, ": ids must be i32 or i64, got ", ids.describe());
  ROAST_CHECK(map.kind == TensorKind::embedding || map.scheme == Scheme::exact || map.scheme == Scheme::dense, name,
              ": the mapping is not an embedding table");
  ROAST_CHECK(map.region_base + map.region_size <= memory.numel(), name, ": the mapping's region ends at cell ",
              map.region_base + map.region_size, " but the memory has ", memory.numel());
  ops::require_same_device(memory, ids, name);
}

// Throws for the id at position `bad` (>= 0), which a kernel found outside [0, map.rows).
void fail_bad_id(const char* name, const Tensor& ids, std::int64_t bad, const Mapping& map) {
  const Tensor host = ids.to(Device::cpu());  // the error path only
  const std::int64_t r = host.dtype() == DType::i64 ? host.data<std::int64_t>()[bad]
                                                    : std::int64_t(host.data<std::int32_t>()[bad]);
  fail(name, ": id ", r, " at position ", bad, " is outside the table [0, ", map.rows,
       "). Check the vocabulary size in the model config against the tokenizer's");
}
}  // namespace

Tensor embedding_lookup(const Tensor& memory, const Mapping& map, const Tensor& ids, const Numerics& numerics) {
  const char* name = "embedding";
  check_lookup(name, memory, map, ids);
  const Device dev = memory.device();
  const int id_bytes = int(dtype_size(ids.dtype()));
  Shape out_shape = ids.shape();
  out_shape.push_back(map.cols);
  Tensor y = Tensor::empty(out_shape, DType::f32, dev);
  // The kernels (kernels/kernel_list.inc) check the ids and read each ROBE-Z chunk of a row.
  const std::int64_t bad =
      ROAST_KERNEL(dev, embedding_gather, memory.data<float>(), map, id_pointer(ids), id_bytes, ids.numel(),
                   y.data<float>());
  if (bad >= 0) fail_bad_id(name, ids, bad, map);
  return record(name, y, {memory, ids}, [map, ids = ids.detach(), id_bytes, deterministic = numerics.deterministic](
                                                 const Tensor& g, GradSink& sink) {
    if (!sink.needs(0)) return;
    Tensor grad = sink.buffer(0);  // in place: only the cells of the rows used are touched
    ROAST_KERNEL(g.device(), embedding_scatter_add, g.data<float>(), map, id_pointer(ids), id_bytes, ids.numel(),
                 grad.data<float>(), deterministic);
  });
}

Tensor embedding_position_lookup(const Tensor& memory, const Mapping& tokens, const Mapping& positions,
                                 const Tensor& ids, float dropout_p, std::uint64_t seed, const Numerics& numerics,
                                 const std::uint64_t* step_seed) {
  const char* name = "embedding";
  check_lookup(name, memory, tokens, ids);
  check_lookup(name, memory, positions, ids);
  ROAST_CHECK(ids.dim() == 2, name, ": token and position lookup needs ids [B, T], got ", ids.describe());
  const std::int64_t batch = ids.size(0), length = ids.size(1), dim = tokens.cols;
  ROAST_CHECK(positions.cols == dim, name, ": token rows of ", dim, " and position rows of ", positions.cols,
              " differ in width");
  ROAST_CHECK(length <= positions.rows, name, ": sequences of length ", length, " exceed the ", positions.rows,
              " positions of the position table");
  ROAST_CHECK(dropout_p >= 0.0f && dropout_p < 1.0f, name, ": dropout p must be in [0, 1), got ", dropout_p);
  kernels::DropoutArgs dropout;
  if (dropout_p > 0.0f) {  // the mask nn::dropout(x, p, seed) draws (kernels/dropout_hash.h)
    dropout.enabled = true;
    dropout.seed = {seed, step_seed};
    dropout.keep_below = kernels::dropout_threshold(dropout_p);
    dropout.scale = 1.0f / (1.0f - dropout_p);
  }
  const Device dev = memory.device();
  const int id_bytes = int(dtype_size(ids.dtype()));
  Tensor y = Tensor::empty({batch, length, dim}, DType::f32, dev);
  // The kept elements, one byte each, in an i32 tensor of a quarter of the count (tensors have
  // no byte dtype).
  Tensor keep = dropout.enabled ? Tensor::empty({(y.numel() + 3) / 4}, DType::i32, dev) : Tensor();
  auto keep_bytes = [](Tensor k) {  // a handle: shares k's storage
    return k.defined() ? reinterpret_cast<std::uint8_t*>(k.data<std::int32_t>()) : nullptr;
  };
  const std::int64_t bad = ROAST_KERNEL(dev, embedding_position_forward, memory.data<float>(), tokens, positions,
                                        id_pointer(ids), id_bytes, batch, length, dropout, y.data<float>(),
                                        keep_bytes(keep));
  if (bad >= 0) fail_bad_id(name, ids, bad, tokens);
  return record(name, y, {memory, ids},
                [tokens, positions, ids = ids.detach(), id_bytes, batch, length, dropout, keep, keep_bytes,
                 deterministic = numerics.deterministic](const Tensor& g, GradSink& sink) {
                  if (!sink.needs(0)) return;
                  Tensor grad = sink.buffer(0);  // in place: only the cells of the rows used are touched
                  ROAST_KERNEL(g.device(), embedding_position_backward, g.data<float>(), tokens, positions,
                               id_pointer(ids), id_bytes, batch, length, dropout, keep_bytes(keep),
                               grad.data<float>(), deterministic);
                });
}

}  // namespace nn
}  // namespace roast
