// Layer norm with gain and bias: one warp per row forward; backward one warp per kRowsPerWarp
// rows, writing gx and that warp's column sums of dgain / dbias, which sum_partials adds up in
// a fixed order (no float atomics). Formulas mirror kernels/cpu/fused_layer_norm.cpp.
#include "kernels/backend.h"
#include "kernels/cuda/fused_common.cuh"

namespace roast {
namespace kernels {
namespace cuda {
namespace {

__global__ void layer_norm_forward_kernel(const float* x, const float* gain, const float* bias, float* y, float* mean,
                                          float* rstd, i64 rows, i64 n, float eps) {
  const int lane = threadIdx.x & 31;
  const i64 row = i64(blockIdx.x) * kFusedWarps + (threadIdx.x >> 5);
  if (row >= rows) return;  // the whole warp leaves together
  const float* xr = x + row * n;
  float* yr = y + row * n;
  float total = 0.0f;
  for (i64 i = lane; i < n; i += 32) total += xr[i];
  const float mu = warp_sum(total) / float(n);
  float total_sq = 0.0f;
  for (i64 i = lane; i < n; i += 32) {
    const float d = xr[i] - mu;
    total_sq += d * d;
  }
  const float rs = 1.0f / sqrtf(warp_sum(total_sq) / float(n) + eps);
  if (lane == 0) mean[row] = mu, rstd[row] = rs;
  for (i64 i = lane; i < n; i += 32) yr[i] = (xr[i] - mu) * rs * gain[i] + bias[i];
}

// Warp w of the grid owns rows [w * kRowsPerWarp, +kRowsPerWarp): first each row's two means
// (of gz and gz * xhat), then column by column gx and the column sums over its rows, written
// to partials[w] ([2n]: dgain terms, then dbias terms) when partials is not null.
__global__ void layer_norm_backward_kernel(const float* x, const float* gy, const float* gain, const float* mean,
                                           const float* rstd, float* gx, float* partials, i64 rows, i64 n) {
  const int lane = threadIdx.x & 31;
  const i64 warp = i64(blockIdx.x) * kFusedWarps + (threadIdx.x >> 5);
  const i64 row0 = warp * kRowsPerWarp;
  if (row0 >= rows) return;
  const int n_rows = int(rows - row0 < kRowsPerWarp ? rows - row0 : kRowsPerWarp);
  float mu[kRowsPerWarp], rs[kRowsPerWarp], mg[kRowsPerWarp], mgx[kRowsPerWarp];
#pragma unroll
  for (int k = 0; k < kRowsPerWarp; ++k) {
    mu[k] = rs[k] = mg[k] = mgx[k] = 0.0f;
    if (k < n_rows) {  // the same for the whole warp
      const i64 at = (row0 + k) * n;
      mu[k] = mean[row0 + k];
      rs[k] = rstd[row0 + k];
      if (gx != nullptr) {
        float sg = 0.0f, sgx = 0.0f;
        for (i64 i = lane; i < n; i += 32) {
          const float xhat = (x[at + i] - mu[k]) * rs[k], gz = gy[at + i] * gain[i];
          sg += gz;
          sgx += gz * xhat;
        }
        mg[k] = warp_sum(sg) / float(n);
        mgx[k] = warp_sum(sgx) / float(n);
      }
    }
  }
  for (i64 i = lane; i < n; i += 32) {
    const float g = gain[i];
    float dg = 0.0f, db = 0.0f;
#pragma unroll
    for (int k = 0; k < kRowsPerWarp; ++k) {
      if (k < n_rows) {
        const i64 at = (row0 + k) * n + i;
        const float xhat = (x[at] - mu[k]) * rs[k], gyv = gy[at];
        if (gx != nullptr) gx[at] = rs[k] * (gyv * g - mg[k] - xhat * mgx[k]);
        dg += gyv * xhat;
        db += gyv;
      }
    }
    if (partials != nullptr) {
      partials[warp * 2 * n + i] = dg;
      partials[warp * 2 * n + n + i] = db;
    }
  }
}

// Block = 32 columns x kFusedWarps warps: warp w sums parts w, w + kFusedWarps, ... of its
// lane's column; then the warps' sums are added in warp order.
__global__ void sum_partials_kernel(const float* partials, i64 n_parts, i64 width, i64 stride, float* out) {
  __shared__ float warp_totals[kFusedWarps][32];
  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
  const i64 c = i64(blockIdx.x) * 32 + lane;
  float total = 0.0f;
  if (c < width)
    for (i64 p = w; p < n_parts; p += kFusedWarps) total += partials[p * stride + c];
  warp_totals[w][lane] = total;
  __syncthreads();
  if (w != 0 || c >= width) return;
  float sum = 0.0f;
  for (int k = 0; k < kFusedWarps; ++k) sum += warp_totals[k][lane];
  out[c] = sum;
}

}  // namespace

void sum_partials(const float* partials, i64 n_parts, i64 width, i64 stride, float* out) {
  if (width == 0) return;
  sum_partials_kernel<<<unsigned((width + 31) / 32), kThreads, 0, stream()>>>(partials, n_parts, width, stride, out);
  check_launch("sum_partials");
}

void layer_norm_forward(const float* x, const float* gain, const float* bias, float* y, float* mean, float* rstd,
                        i64 rows, i64 n, float eps) {
  if (rows == 0 || n == 0) return;
  const i64 blocks = (rows + kFusedWarps - 1) / kFusedWarps;
  layer_norm_forward_kernel<<<unsigned(blocks), kThreads, 0, stream()>>>(x, gain, bias, y, mean, rstd, rows, n, eps);
  check_launch("layer_norm_forward");
}

void layer_norm_backward(const float* x, const float* gy, const float* gain, const float* mean, const float* rstd,
                         float* gx, float* dgain, float* dbias, i64 rows, i64 n) {
  const bool sums = dgain != nullptr;
  if ((!sums && gx == nullptr) || n == 0) return;
  if (rows == 0) {  // empty sums
    if (sums) memset_zero(dgain, std::size_t(n) * sizeof(float)), memset_zero(dbias, std::size_t(n) * sizeof(float));
    return;
  }
  const i64 n_warps = (rows + kRowsPerWarp - 1) / kRowsPerWarp;
  const i64 blocks = (n_warps + kFusedWarps - 1) / kFusedWarps;
  DeviceBuffer partials(sums ? std::size_t(n_warps * 2 * n) * sizeof(float) : 0);
  layer_norm_backward_kernel<<<unsigned(blocks), kThreads, 0, stream()>>>(x, gy, gain, mean, rstd, gx,
                                                                          partials.as<float>(), rows, n);
  check_launch("layer_norm_backward");
  if (!sums) return;
  sum_partials(partials.as<float>(), n_warps, n, 2 * n, dgain);
  sum_partials(partials.as<float>() + n, n_warps, n, 2 * n, dbias);
}

}  // namespace cuda
}  // namespace kernels
}  // namespace roast
