// The text models' input in one kernel each way: token row + position row, times the dropout
// mask (kernel_list.inc: embedding_position_*).
#include <algorithm>
#include <vector>

#include "kernels/backend.h"
#include "kernels/cpu/embedding_rows.h"
#include "kernels/dropout_hash.h"

namespace roast {
namespace kernels {
namespace cpu {
namespace {
inline float mask_at(const DropoutArgs& dropout, i64 k) {
  return dropout_bits(dropout.seed, k) < dropout.keep_below ? dropout.scale : 0.0f;
}
}  // namespace

i64 embedding_position_forward(const float* memory, const Mapping& tokens, const Mapping& positions, const void* ids,
                               int id_bytes, i64 batch, i64 length, const DropoutArgs& dropout, float* y) {
  const i64 n_ids = batch * length, dim = tokens.cols;
  for (i64 i = 0; i < n_ids; ++i) {
    const i64 r = embedding_id(ids, id_bytes, i);
    if (r < 0 || r >= tokens.rows) return i;
  }
#pragma omp parallel for schedule(static) if (n_ids * dim >= (1 << 14))
  for (i64 i = 0; i < n_ids; ++i) {
    float* row = y + i * dim;
    for_embedding_row(tokens, embedding_id(ids, id_bytes, i),
                      [&](i64 d, i64 cell, float scale) { row[d] = scale * memory[cell]; });
    for_embedding_row(positions, i % length, [&](i64 d, i64 cell, float scale) { row[d] += scale * memory[cell]; });
    if (dropout.enabled)
      for (i64 d = 0; d < dim; ++d) row[d] *= mask_at(dropout, i * dim + d);
  }
  return -1;
}

void embedding_position_backward(const float* gy, const Mapping& tokens, const Mapping& positions, const void* ids,
                                 int id_bytes, i64 batch, i64 length, const DropoutArgs& dropout, float* gmemory,
                                 bool) {
  const i64 dim = tokens.cols, n = batch * length * dim, per_sample = length * dim;
  thread_local std::vector<float> masked, position_grad;  // reused: no allocation in steady state
  const float* gh = gy;
  if (dropout.enabled) {
    masked.resize(std::size_t(n));
    float* out = masked.data();
#pragma omp parallel for schedule(static) if (n >= (1 << 15))
    for (i64 k = 0; k < n; ++k) out[k] = gy[k] * mask_at(dropout, k);
    gh = out;
  }
  // The position rows' gradient: the sum over the batch, in batch order, for column ranges in
  // parallel (the same sums for any thread count).
  position_grad.assign(std::size_t(per_sample), 0.0f);
  float* gpos = position_grad.data();
  constexpr i64 kRange = 1024;
#pragma omp parallel for schedule(static) if (n >= (1 << 15))
  for (i64 k0 = 0; k0 < per_sample; k0 += kRange) {
    const i64 k1 = std::min(per_sample, k0 + kRange);
    for (i64 b = 0; b < batch; ++b)
      for (i64 k = k0; k < k1; ++k) gpos[k] += gh[b * per_sample + k];
  }
  // Sequential scatters: rows may share cells, and a fixed order keeps the sums deterministic.
  for (i64 i = 0; i < batch * length; ++i) {
    const float* grow = gh + i * dim;
    for_embedding_row(tokens, embedding_id(ids, id_bytes, i),
                      [&](i64 d, i64 cell, float scale) { gmemory[cell] += scale * grow[d]; });
  }
  for (i64 t = 0; t < length; ++t) {
    const float* grow = gpos + t * dim;
    for_embedding_row(positions, t, [&](i64 d, i64 cell, float scale) { gmemory[cell] += scale * grow[d]; });
  }
}

}  // namespace cpu
}  // namespace kernels
}  // namespace roast
