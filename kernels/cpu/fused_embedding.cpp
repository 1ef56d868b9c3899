// The text models' input in one kernel each way: token row + position row, times the dropout
// mask (kernel_list.inc: embedding_position_*). The forward draws the mask from the
// counter-based hash and keeps one byte per element for the backward (cheaper to read than to
// hash again).
#include <algorithm>
#include <vector>

#include "kernels/backend.h"
#include "kernels/cpu/embedding_rows.h"
#include "kernels/dropout_hash.h"

namespace roast {
namespace kernels {
namespace cpu {

i64 embedding_position_forward(const float* memory, const Mapping& tokens, const Mapping& positions, const void* ids,
                               int id_bytes, i64 batch, i64 length, const DropoutArgs& dropout, float* y,
                               std::uint8_t* keep) {
  const i64 n_ids = batch * length, dim = tokens.cols;
  for (i64 i = 0; i < n_ids; ++i) {
    const i64 r = embedding_id(ids, id_bytes, i);
    if (r < 0 || r >= tokens.rows) return i;
  }
  const DropoutArgs drop = dropout;  // a local copy: not reloaded after every store to y
  const std::uint64_t seed = drop.enabled ? dropout_seed(drop.seed.salt, drop.seed.step) : 0;
#pragma omp parallel for schedule(static) if (n_ids * dim >= (1 << 14))
  for (i64 i = 0; i < n_ids; ++i) {
    float* row = y + i * dim;
    for_embedding_row(tokens, embedding_id(ids, id_bytes, i),
                      [&](i64 d, i64 cell, float scale) { row[d] = scale * memory[cell]; });
    for_embedding_row(positions, i % length, [&](i64 d, i64 cell, float scale) { row[d] += scale * memory[cell]; });
    if (!drop.enabled) continue;
    std::uint8_t* kept = keep + i * dim;
    for (i64 d = 0; d < dim; ++d) {
      const bool kept_d = dropout_bits(seed, i * dim + d) < drop.keep_below;
      kept[d] = kept_d ? 1 : 0;
      row[d] *= kept_d ? drop.scale : 0.0f;
    }
  }
  return -1;
}

void embedding_position_backward(const float* gy, const Mapping& tokens, const Mapping& positions, const void* ids,
                                 int id_bytes, i64 batch, i64 length, const DropoutArgs& dropout,
                                 const std::uint8_t* keep, float* gmemory, bool) {
  const i64 dim = tokens.cols, n = batch * length * dim, per_sample = length * dim;
  // gh = gy times the mask, in one parallel pass (reading the mask bytes inside the sequential
  // scatter below would be slower: a char load may alias every store there).
  thread_local std::vector<float> masked, position_grad;  // reused: no allocation in steady state
  const float* gh = gy;
  if (dropout.enabled) {
    masked.resize(std::size_t(n));
    float* out = masked.data();
    const float scale = dropout.scale;
#pragma omp parallel for schedule(static) if (n >= (1 << 15))
    for (i64 k = 0; k < n; ++k) out[k] = gy[k] * (keep[k] ? scale : 0.0f);
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
                      [&](i64 d, i64 cell, float s) { gmemory[cell] += s * grow[d]; });
  }
  for (i64 t = 0; t < length; ++t) {
    const float* grow = gpos + t * dim;
    for_embedding_row(positions, t, [&](i64 d, i64 cell, float s) { gmemory[cell] += s * grow[d]; });
  }
}

}  // namespace cpu
}  // namespace kernels
}  // namespace roast
