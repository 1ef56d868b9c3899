// y = gelu(x + bias) and its backward (kernel_list.inc). The backward's dbias: each block sums
// its kRowsPerPart rows per column in row order, sum_partials adds the blocks in order (no
// float atomics). Formulas: kernels/cuda/gelu.cuh, as Unary::gelu.
#include "kernels/backend.h"
#include "kernels/cuda/fused_common.cuh"
#include "kernels/cuda/gelu.cuh"

namespace roast {
namespace kernels {
namespace cuda {
namespace {
constexpr i64 kRowsPerPart = 32;

__global__ void bias_gelu_forward_kernel(const float* x, const float* bias, float* y, i64 n, i64 total) {
  for (i64 t = global_index(); t < total; t += grid_stride()) y[t] = gelu(x[t] + bias[t % n]);
}

__global__ void bias_gelu_backward_kernel(const float* x, const float* bias, const float* gy, float* gx, i64 n,
                                          i64 total) {
  for (i64 t = global_index(); t < total; t += grid_stride()) gx[t] = gy[t] * gelu_grad(x[t] + bias[t % n]);
}

// Block (p, q): rows [p * kRowsPerPart, +kRowsPerPart), one column per thread from
// q * blockDim.x (enough blocks to fill the GPU: a wide layer has rows/32 x n/256 of them);
// gz into gx (when not null) and the rows' column sums into partials[p].
__global__ void bias_gelu_backward_parts_kernel(const float* x, const float* bias, const float* gy, float* gx,
                                                float* partials, i64 rows, i64 n) {
  const i64 row0 = i64(blockIdx.x) * kRowsPerPart;
  const i64 row1 = row0 + kRowsPerPart < rows ? row0 + kRowsPerPart : rows;
  const i64 c = i64(blockIdx.y) * blockDim.x + threadIdx.x;
  if (c >= n) return;
  const float b = bias[c];
  float total = 0.0f;
  for (i64 r = row0; r < row1; ++r) {
    const i64 at = r * n + c;
    const float gz = gy[at] * gelu_grad(x[at] + b);
    if (gx != nullptr) gx[at] = gz;
    total += gz;
  }
  partials[i64(blockIdx.x) * n + c] = total;
}
}  // namespace

void bias_gelu_forward(const float* x, const float* bias, float* y, i64 rows, i64 n) {
  const i64 total = rows * n;
  if (total == 0) return;
  bias_gelu_forward_kernel<<<blocks_for(total), kThreads, 0, stream()>>>(x, bias, y, n, total);
  check_launch("bias_gelu_forward");
}

void bias_gelu_backward(const float* x, const float* bias, const float* gy, float* gx, float* dbias, i64 rows,
                        i64 n) {
  const i64 total = rows * n;
  if (n == 0 || (gx == nullptr && dbias == nullptr)) return;
  if (dbias == nullptr) {
    if (total == 0) return;
    bias_gelu_backward_kernel<<<blocks_for(total), kThreads, 0, stream()>>>(x, bias, gy, gx, n, total);
    check_launch("bias_gelu_backward");
    return;
  }
  if (rows == 0) {
    memset_zero(dbias, std::size_t(n) * sizeof(float));
    return;
  }
  const i64 n_parts = (rows + kRowsPerPart - 1) / kRowsPerPart;
  DeviceBuffer partials(std::size_t(n_parts * n) * sizeof(float));
  const int threads = n >= kThreads ? kThreads : int((n + 31) / 32 * 32);
  const dim3 grid(unsigned(n_parts), unsigned((n + threads - 1) / threads));
  bias_gelu_backward_parts_kernel<<<grid, threads, 0, stream()>>>(x, bias, gy, gx, partials.as<float>(), rows, n);
  check_launch("bias_gelu_backward");
  sum_partials(partials.as<float>(), n_parts, n, n, dbias);
}

}  // namespace cuda
}  // namespace kernels
}  // namespace roast
