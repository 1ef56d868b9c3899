// Batch norm (+ ReLU) over a convolution's GEMM output (kernels/kernel_list.inc): one block
// per channel computes its statistics (fixed reduction tree) and then writes its values.
// Simple, not tuned: the CPU is where this fusion pays; on the GPU the step is launch-bound.
#include "kernels/backend.h"
#include "kernels/cuda/ops_common.cuh"

namespace roast {
namespace kernels {
namespace cuda {
namespace {

__global__ void channel_norm_forward_kernel(const float* x, float* y, float* mean, float* rstd, const float* gain,
                                            const float* bias, i64 batch, i64 hw, i64 channels, float eps,
                                            bool batch_stats, bool relu) {
  const i64 c = blockIdx.x, rows = batch * hw;
  __shared__ float s_mean, s_rstd;
  if (batch_stats) {
    double sum = 0;
    for (i64 r = threadIdx.x; r < rows; r += blockDim.x) sum += x[r * channels + c];
    const double mu = block_sum(sum) / double(rows);
    double sq = 0;
    for (i64 r = threadIdx.x; r < rows; r += blockDim.x) {
      const double d = x[r * channels + c] - mu;
      sq += d * d;
    }
    const double var = block_sum(sq) / double(rows);
    if (threadIdx.x == 0) {
      mean[c] = float(mu);
      rstd[c] = float(1.0 / sqrt(var + double(eps)));
    }
  }
  __syncthreads();
  if (threadIdx.x == 0) s_mean = mean[c], s_rstd = rstd[c];
  __syncthreads();
  const float scale = s_rstd * gain[c], shift = bias[c] - s_mean * scale;
  for (i64 r = threadIdx.x; r < rows; r += blockDim.x) {
    const i64 b = r / hw, p = r % hw;
    const float v = x[r * channels + c] * scale + shift;
    y[(b * channels + c) * hw + p] = relu ? fmaxf(v, 0.0f) : v;
  }
}

__global__ void channel_norm_backward_kernel(const float* x, const float* gy, const float* mean, const float* rstd,
                                             const float* gain, const float* bias, float* gx, float* dgain,
                                             float* dbias, i64 batch, i64 hw, i64 channels, bool batch_stats,
                                             bool relu) {
  const i64 c = blockIdx.x, rows = batch * hw;
  const float m = mean[c], r = rstd[c], k = r * gain[c], shift = bias[c] - m * k;
  double sg = 0, sgx = 0;
  for (i64 i = threadIdx.x; i < rows; i += blockDim.x) {
    const i64 b = i / hw, p = i % hw;
    const float xv = x[i * channels + c], xh = (xv - m) * r;
    const float gz = (relu && xv * k + shift <= 0.0f) ? 0.0f : gy[(b * channels + c) * hw + p];
    sg += gz, sgx += double(gz) * xh;
  }
  sg = block_sum(sg);
  sgx = block_sum(sgx);
  if (threadIdx.x == 0) dgain[c] += float(sgx), dbias[c] += float(sg);
  const float mg = batch_stats ? float(sg / double(rows)) : 0.0f, mgx = batch_stats ? float(sgx / double(rows)) : 0.0f;
  for (i64 i = threadIdx.x; i < rows; i += blockDim.x) {
    const i64 b = i / hw, p = i % hw;
    const float xv = x[i * channels + c], xh = (xv - m) * r;
    const float gz = (relu && xv * k + shift <= 0.0f) ? 0.0f : gy[(b * channels + c) * hw + p];
    gx[i * channels + c] = k * (gz - mg - xh * mgx);
  }
}

}  // namespace

void channel_norm_forward(const float* x, float* y, float* mean, float* rstd, const float* gain, const float* bias,
                          i64 batch, i64 hw, i64 channels, float eps, bool batch_stats, bool relu) {
  if (channels == 0 || batch * hw == 0) return;
  channel_norm_forward_kernel<<<unsigned(channels), kThreads, 0, stream()>>>(x, y, mean, rstd, gain, bias, batch, hw,
                                                                              channels, eps, batch_stats, relu);
  check_launch("channel_norm_forward");
}

void channel_norm_backward(const float* x, const float* gy, const float* mean, const float* rstd, const float* gain,
                           const float* bias, float* gx, float* dgain, float* dbias, i64 batch, i64 hw, i64 channels,
                           bool batch_stats, bool relu) {
  if (channels == 0 || batch * hw == 0) return;
  channel_norm_backward_kernel<<<unsigned(channels), kThreads, 0, stream()>>>(
      x, gy, mean, rstd, gain, bias, gx, dgain, dbias, batch, hw, channels, batch_stats, relu);
  check_launch("channel_norm_backward");
}

}  // namespace cuda
}  // namespace kernels
}  // namespace roast
