// CUDA kernels with exactly the signatures of kernels/cpu/nn_kernels.h (contracts there).
// Plain C++ header: no CUDA types; pointers are device pointers.
#pragma once

#include <cstdint>

#include "kernels/cpu/nn_kernels.h"
#include "roast/mapping.h"

namespace roast {
namespace kernels {
namespace cuda {

using i64 = std::int64_t;
using cpu::ConvGeometry;

// Gather formulation (each input pixel sums its windows in the CPU's order): deterministic,
// no atomics.
void im2col(const float* x, float* cols, const ConvGeometry& g);
void col2im_add(const float* gcols, float* gx, const ConvGeometry& g);

void max_pool(const float* x, float* y, std::int32_t* argmax, i64 planes, i64 h, i64 w, i64 k, i64 s);
void max_pool_backward(const float* gy, const std::int32_t* argmax, float* gx, i64 planes, i64 h, i64 w, i64 k, i64 s);
void avg_pool(const float* x, float* y, i64 planes, i64 h, i64 w, i64 k, i64 s);
void avg_pool_backward(const float* gy, float* gx, i64 planes, i64 h, i64 w, i64 k, i64 s);

void normalize(const float* x, float* y, float* mean, float* rstd, i64 outer, i64 groups, i64 inner, float eps,
               bool across_outer);
void normalize_backward(const float* y, const float* gy, const float* rstd, float* gx, i64 outer, i64 groups, i64 inner,
                        bool across_outer);
void norm_affine(const float* xhat, const float* gain, const float* bias, float* y, i64 outer, i64 groups, i64 inner,
                 bool per_group);
void norm_affine_backward(const float* xhat, const float* gain, const float* gy, float* gxhat, float* dgain,
                          float* dbias, i64 outer, i64 groups, i64 inner, bool per_group);

// Synchronises once to return the first bad position.
i64 embedding_gather(const float* memory, const Mapping& map, const void* ids, int id_bytes, i64 n_ids, float* y);
// Atomic adds, or (roast::deterministic()) a stable sort by cell and sums in the CPU's order.
void embedding_scatter_add(const float* gy, const Mapping& map, const void* ids, int id_bytes, i64 n_ids,
                           float* gmemory);

}  // namespace cuda
}  // namespace kernels
}  // namespace roast
