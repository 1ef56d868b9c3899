#include "nn/embedding_op.h"

#include "ops/internal.h"
#include "roast/autograd.h"

namespace roast {
namespace nn {
namespace {
std::int64_t id_at(const Tensor& ids, std::int64_t i) {
  return ids.dtype() == DType::i64 ? ids.data<std::int64_t>()[i] : std::int64_t(ids.data<std::int32_t>()[i]);
}

// Calls f(d, cell, scale) for every element d of row r, where the virtual weight is
// scale * memory[cell]. Chunks of tiled schemes are walked as contiguous runs.
template <typename F>
void for_row(const Mapping& map, std::int64_t r, F f) {
  const std::int64_t dim = map.cols;
  if (!map.tiled()) {
    for (std::int64_t d = 0; d < dim; ++d) f(d, map.loc(r, d), map.lambda * map.sign(r, d));
    return;
  }
  const std::int64_t z = map.tile_cols;
  for (std::int64_t c0 = 0; c0 < dim; c0 += z) {
    const std::int64_t start = map.tile_start(r, c0 / z);
    const std::int64_t n = std::min(z, dim - c0);
    if (map.sign_mode == SignMode::element) {
      for (std::int64_t j = 0; j < n; ++j) f(c0 + j, start + j, map.lambda * map.sign(r, c0 + j));
    } else {
      const float scale = map.lambda * map.sign(r, c0);
      for (std::int64_t j = 0; j < n; ++j) f(c0 + j, start + j, scale);
    }
  }
}
}  // namespace

Tensor embedding_lookup(const Tensor& memory, const Mapping& map, const Tensor& ids) {
  const char* name = "embedding";
  ops::require_f32(memory, name, "memory");
  ROAST_CHECK(ids.defined() && ids.dtype() != DType::f32, name, ": ids must be i32 or i64, got ", ids.describe());
  ROAST_CHECK(map.kind == TensorKind::embedding || map.scheme == Scheme::exact || map.scheme == Scheme::dense, name,
              ": the mapping is not an embedding table");
  ROAST_CHECK(map.region_base + map.region_size <= memory.numel(), name, ": the mapping's region ends at cell ",
              map.region_base + map.region_size, " but the memory has ", memory.numel());
  ops::require_same_device(memory, ids, name);
  if (!memory.device().is_cpu()) ops::no_cuda_kernel(name);
  const std::int64_t n_ids = ids.numel(), dim = map.cols;
  for (std::int64_t i = 0; i < n_ids; ++i) {
    const std::int64_t r = id_at(ids, i);
    ROAST_CHECK(r >= 0 && r < map.rows, name, ": id ", r, " at position ", i, " is outside the table [0, ", map.rows,
                "). Check the vocabulary size in the model config against the tokenizer's");
  }
  Shape out_shape = ids.shape();
  out_shape.push_back(dim);
  Tensor y = Tensor::empty(out_shape);
  const float* m = memory.data<float>();
  float* out = y.data<float>();
#pragma omp parallel for schedule(static) if (n_ids * dim >= (1 << 14))
  for (std::int64_t i = 0; i < n_ids; ++i) {
    float* row = out + i * dim;
    for_row(map, id_at(ids, i), [&](std::int64_t d, std::int64_t cell, float scale) { row[d] = scale * m[cell]; });
  }
  return record(name, y, {memory, ids}, [map, ids = ids.detach()](const Tensor& g, GradSink& sink) {
    if (!sink.needs(0)) return;
    Tensor grad = sink.buffer(0);
    float* gm = grad.data<float>();
    const float* gy = g.data<float>();
    // Sequential: rows may share cells, and a fixed order keeps the sum deterministic.
    for (std::int64_t i = 0; i < ids.numel(); ++i) {
      const float* grow = gy + i * map.cols;
      for_row(map, id_at(ids, i), [&](std::int64_t d, std::int64_t cell, float scale) { gm[cell] += scale * grow[d]; });
    }
  });
}

}  // namespace nn
}  // namespace roast
