// The text models' input: token row + position row, times the dropout mask, one thread per
// element (kernel_list.inc: embedding_position_*); the forward keeps one byte per element of
// the mask for the backward. Mirrors kernels/cpu/fused_embedding.cpp.
#include "kernels/backend.h"
#include "kernels/cuda/fused_common.cuh"
#include "kernels/dropout_hash.h"

namespace roast {
namespace kernels {
namespace cuda {
namespace {
__device__ __forceinline__ float row_value(const float* memory, const Mapping& map, i64 r, i64 d) {
  return (map.lambda * map.sign(r, d)) * memory[map.loc(r, d)];
}

// Element t = (i, d), i = b * length + pos; a bad id is recorded and its row left unwritten.
__global__ void embedding_position_forward_kernel(const float* memory, Mapping tokens, Mapping positions,
                                                  const void* ids, int id_bytes, i64 length, i64 total,
                                                  DropoutArgs dropout, float* y, std::uint8_t* keep,
                                                  unsigned long long* bad) {
  const i64 dim = tokens.cols;
  const std::uint64_t seed = dropout.enabled ? dropout_seed(dropout.seed.salt, dropout.seed.step) : 0;
  for (i64 t = global_index(); t < total; t += grid_stride()) {
    const i64 i = t / dim, d = t % dim, r = id_at(ids, id_bytes, i);
    if (r < 0 || r >= tokens.rows) {
      if (d == 0) record_first(bad, i);
      continue;
    }
    float v = row_value(memory, tokens, r, d);
    v += row_value(memory, positions, i % length, d);
    if (dropout.enabled) {
      const bool kept = dropout_bits(seed, t) < dropout.keep_below;
      keep[t] = kept ? 1 : 0;
      v *= kept ? dropout.scale : 0.0f;
    }
    y[t] = v;
  }
}

__global__ void apply_mask_kernel(const float* gy, const std::uint8_t* keep, float scale, float* gh, i64 total) {
  for (i64 t = global_index(); t < total; t += grid_stride()) gh[t] = gy[t] * (keep[t] ? scale : 0.0f);
}

// One thread per position element k = (pos, d): its gradient summed over the batch in order,
// scaled onto its cell; added atomically, or written as (cell, value) for a sorted scatter.
__global__ void position_grad_kernel(const float* gh, Mapping positions, i64 batch, i64 per_sample, float* gmemory,
                                     i64* cells, float* values) {
  const i64 dim = positions.cols;
  for (i64 k = global_index(); k < per_sample; k += grid_stride()) {
    float total = 0.0f;
    for (i64 b = 0; b < batch; ++b) total += gh[b * per_sample + k];
    const i64 pos = k / dim, d = k % dim;
    const i64 cell = positions.loc(pos, d);
    const float value = (positions.lambda * positions.sign(pos, d)) * total;
    if (cells != nullptr) {
      cells[k] = cell;
      values[k] = value;
    } else {
      atomicAdd(gmemory + cell, value);
    }
  }
}
}  // namespace

i64 embedding_position_forward(const float* memory, const Mapping& tokens, const Mapping& positions, const void* ids,
                               int id_bytes, i64 batch, i64 length, const DropoutArgs& dropout, float* y,
                               std::uint8_t* keep) {
  const i64 n_ids = batch * length, total = n_ids * tokens.cols;
  if (n_ids == 0) return -1;
  DeviceBuffer bad(sizeof(unsigned long long));
  check(cudaMemsetAsync(bad.as<void>(), 0xff, sizeof(unsigned long long), stream()), "embedding_position_forward");
  if (total > 0) {
    embedding_position_forward_kernel<<<blocks_for(total), kThreads, 0, stream()>>>(
        memory, tokens, positions, ids, id_bytes, length, total, dropout, y, keep, bad.as<unsigned long long>());
    check_launch("embedding_position_forward");
  }
  return fetch_first(bad.as<unsigned long long>());
}

void embedding_position_backward(const float* gy, const Mapping& tokens, const Mapping& positions, const void* ids,
                                 int id_bytes, i64 batch, i64 length, const DropoutArgs& dropout,
                                 const std::uint8_t* keep, float* gmemory, bool deterministic) {
  const i64 dim = tokens.cols, per_sample = length * dim, total = batch * per_sample;
  if (total == 0) return;
  DeviceBuffer masked(dropout.enabled ? std::size_t(total) * sizeof(float) : 0);
  const float* gh = gy;
  if (dropout.enabled) {
    apply_mask_kernel<<<blocks_for(total), kThreads, 0, stream()>>>(gy, keep, dropout.scale, masked.as<float>(),
                                                                    total);
    check_launch("embedding_position_backward");
    gh = masked.as<float>();
  }
  embedding_scatter_add(gh, tokens, ids, id_bytes, batch * length, gmemory, deterministic);
  DeviceBuffer cells(deterministic ? std::size_t(per_sample) * sizeof(i64) : 0);
  DeviceBuffer values(deterministic ? std::size_t(per_sample) * sizeof(float) : 0);
  position_grad_kernel<<<blocks_for(per_sample), kThreads, 0, stream()>>>(gh, positions, batch, per_sample, gmemory,
                                                                         cells.as<i64>(), values.as<float>());
  check_launch("embedding_position_backward");
  if (deterministic)
    sorted_scatter_add(cells.as<i64>(), values.as<float>(), per_sample,
                       bits_for(positions.region_base + positions.region_size), gmemory);
}

}  // namespace cuda
}  // namespace kernels
}  // namespace roast
