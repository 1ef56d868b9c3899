// CPU kernels for convolution layout, pooling and normalisation. Row-major f32.
#pragma once

#include <cstdint>

#include "roast/mapping.h"

namespace roast {
namespace kernels {
namespace cpu {

using i64 = std::int64_t;

struct ConvGeometry {
  i64 batch, channels, height, width;  // input [B, C, H, W]
  i64 kernel_h, kernel_w, stride, padding;
  i64 out_h() const { return (height + 2 * padding - kernel_h) / stride + 1; }
  i64 out_w() const { return (width + 2 * padding - kernel_w) / stride + 1; }
  i64 patch() const { return channels * kernel_h * kernel_w; }  // K of the GEMM view
};
// cols [B * OH * OW, C * kh * kw] from x [B, C, H, W] (zero padding); column order (c, i, j).
void im2col(const float* x, float* cols, const ConvGeometry& g);
// gx [B, C, H, W] += the columns' gradient scattered back (overlapping windows add).
void col2im_add(const float* gcols, float* gx, const ConvGeometry& g);

// Pooling over k x k windows with stride s, no padding: x [B*C, H, W] -> y [B*C, OH, OW].
// Max pooling records the argmax offset (within the plane) for the backward.
void max_pool(const float* x, float* y, std::int32_t* argmax, i64 planes, i64 h, i64 w, i64 k, i64 s);
void max_pool_backward(const float* gy, const std::int32_t* argmax, float* gx, i64 planes, i64 h, i64 w, i64 k, i64 s);
void avg_pool(const float* x, float* y, i64 planes, i64 h, i64 w, i64 k, i64 s);
void avg_pool_backward(const float* gy, float* gx, i64 planes, i64 h, i64 w, i64 k, i64 s);

// Normalises groups: x viewed as [outer, groups, inner] is normalised per group over
// (outer, inner) elements when `across_outer` (batch norm: groups = channels), or per row
// [rows, n] when not (layer norm: outer = rows, groups = 1, inner = n).
// y = (x - mean) * rstd; mean and rstd are written per normalised set.
void normalize(const float* x, float* y, float* mean, float* rstd, i64 outer, i64 groups, i64 inner, float eps,
               bool across_outer);
// gx = rstd * (gy - mean(gy) - y * mean(gy * y)) over each normalised set.
void normalize_backward(const float* y, const float* gy, const float* rstd, float* gx, i64 outer, i64 groups, i64 inner,
                        bool across_outer);


// Affine part of a norm layer over x viewed as [outer, groups, inner]: y = xhat * g + b with
// the gain index = group (batch norm, per_group) or = position in inner (layer norm).
void norm_affine(const float* xhat, const float* gain, const float* bias, float* y, i64 outer, i64 groups, i64 inner,
                 bool per_group);
// gxhat = gy * g; dgain += sum gy * xhat; dbias += sum gy (sums over everything but the gain index).
void norm_affine_backward(const float* xhat, const float* gain, const float* gy, float* gxhat, float* dgain,
                          float* dbias, i64 outer, i64 groups, i64 inner, bool per_group);

// Embedding rows read from the memory through a mapping (ROBE-Z chunks for tiled schemes):
// y[i, d] = lambda * sign(r, d) * memory[loc(r, d)] with r = ids[i] (i32 or i64 by id_bytes),
// y is [n_ids, map.cols]. Returns the first position whose id is outside [0, map.rows) (y is
// then not written) or -1.
i64 embedding_gather(const float* memory, const Mapping& map, const void* ids, int id_bytes, i64 n_ids, float* y);
// The memory gradient: gmemory[loc(r, d)] += lambda * sign(r, d) * gy[i, d], in the order
// (i, d) ascending (CPU: sequential, so cells shared between rows sum deterministically).
void embedding_scatter_add(const float* gy, const Mapping& map, const void* ids, int id_bytes, i64 n_ids,
                           float* gmemory);

}  // namespace cpu
}  // namespace kernels
}  // namespace roast
