// Batch norm (+ ReLU) over a convolution's GEMM output: channels-last in, NCHW out, and back.
// The channels are walked in groups of kGroup (one 64-byte line of a row of x): a thread owns
// whole groups for the statistics (fixed order: deterministic for any thread count), and
// (image, group) pairs for the element-wise passes, which go through x in blocks of kRows
// rows so that the lines read for one channel are still in L1 for the next ones.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/backend.h"

namespace roast {
namespace kernels {
namespace cpu {
namespace {
constexpr i64 kGroup = 16, kRows = 64;
}  // namespace

void channel_norm_forward(const float* x, float* y, float* mean, float* rstd, const float* gain, const float* bias,
                          i64 batch, i64 hw, i64 channels, float eps, bool batch_stats, bool relu) {
  const i64 rows = batch * hw, n_groups = (channels + kGroup - 1) / kGroup;
  if (batch_stats) {
#pragma omp parallel for schedule(static)
    for (i64 grp = 0; grp < n_groups; ++grp) {
      const i64 c0 = grp * kGroup, nc = std::min(kGroup, channels - c0);
      double sum[kGroup] = {}, sq[kGroup] = {};
      for (i64 r = 0; r < rows; ++r)
        for (i64 j = 0; j < nc; ++j) sum[j] += x[r * channels + c0 + j];
      double mu[kGroup];
      for (i64 j = 0; j < nc; ++j) mu[j] = sum[j] / double(rows);
      for (i64 r = 0; r < rows; ++r)
        for (i64 j = 0; j < nc; ++j) {
          const double d = x[r * channels + c0 + j] - mu[j];
          sq[j] += d * d;
        }
      for (i64 j = 0; j < nc; ++j) {
        mean[c0 + j] = float(mu[j]);
        rstd[c0 + j] = float(1.0 / std::sqrt(sq[j] / double(rows) + double(eps)));
      }
    }
  }
#pragma omp parallel for collapse(2) schedule(static)
  for (i64 b = 0; b < batch; ++b)
    for (i64 grp = 0; grp < n_groups; ++grp) {
      const i64 c0 = grp * kGroup, nc = std::min(kGroup, channels - c0);
      for (i64 p0 = 0; p0 < hw; p0 += kRows) {
        const i64 np = std::min(kRows, hw - p0);
        for (i64 j = 0; j < nc; ++j) {
          const i64 c = c0 + j;
          const float scale = rstd[c] * gain[c], shift = bias[c] - mean[c] * scale;
          const float* src = x + (b * hw + p0) * channels + c;
          float* dst = y + (b * channels + c) * hw + p0;
          if (relu) {
            for (i64 p = 0; p < np; ++p) dst[p] = std::max(src[p * channels] * scale + shift, 0.0f);
          } else {
            for (i64 p = 0; p < np; ++p) dst[p] = src[p * channels] * scale + shift;
          }
        }
      }
    }
}

void channel_norm_backward(const float* x, const float* gy, const float* mean, const float* rstd, const float* gain,
                           const float* bias, float* gx, float* dgain, float* dbias, i64 batch, i64 hw, i64 channels,
                           bool batch_stats, bool relu) {
  const i64 n_groups = (channels + kGroup - 1) / kGroup;
  const double count = double(batch * hw);
  // Per channel: sum gz and sum gz * xhat, in (image, position) order.
  std::vector<float> mean_gz(static_cast<std::size_t>(channels)), mean_gzx(static_cast<std::size_t>(channels));
#pragma omp parallel for schedule(static)
  for (i64 grp = 0; grp < n_groups; ++grp) {
    const i64 c0 = grp * kGroup, nc = std::min(kGroup, channels - c0);
    double sg[kGroup] = {}, sgx[kGroup] = {};
    for (i64 b = 0; b < batch; ++b)
      for (i64 p0 = 0; p0 < hw; p0 += kRows) {
        const i64 np = std::min(kRows, hw - p0);
        for (i64 j = 0; j < nc; ++j) {
          const i64 c = c0 + j;
          const float m = mean[c], r = rstd[c], scale = r * gain[c], shift = bias[c] - m * scale;
          const float* src = x + (b * hw + p0) * channels + c;
          const float* grad = gy + (b * channels + c) * hw + p0;
          float s1 = 0, s2 = 0;
          for (i64 p = 0; p < np; ++p) {
            const float xh = (src[p * channels] - m) * r;
            const float gz = (relu && src[p * channels] * scale + shift <= 0.0f) ? 0.0f : grad[p];  // the forward's mask
            s1 += gz, s2 += gz * xh;
          }
          sg[j] += s1, sgx[j] += s2;
        }
      }
    for (i64 j = 0; j < nc; ++j) {
      dgain[c0 + j] += float(sgx[j]);
      dbias[c0 + j] += float(sg[j]);
      mean_gz[std::size_t(c0 + j)] = batch_stats ? float(sg[j] / count) : 0.0f;
      mean_gzx[std::size_t(c0 + j)] = batch_stats ? float(sgx[j] / count) : 0.0f;
    }
  }
#pragma omp parallel for collapse(2) schedule(static)
  for (i64 b = 0; b < batch; ++b)
    for (i64 grp = 0; grp < n_groups; ++grp) {
      const i64 c0 = grp * kGroup, nc = std::min(kGroup, channels - c0);
      for (i64 p0 = 0; p0 < hw; p0 += kRows) {
        const i64 np = std::min(kRows, hw - p0);
        for (i64 j = 0; j < nc; ++j) {
          const i64 c = c0 + j;
          const float m = mean[c], r = rstd[c], k = r * gain[c], shift = bias[c] - m * k;
          const float mg = mean_gz[std::size_t(c)], mgx = mean_gzx[std::size_t(c)];
          const float* src = x + (b * hw + p0) * channels + c;
          const float* grad = gy + (b * channels + c) * hw + p0;
          float* dst = gx + (b * hw + p0) * channels + c;
          for (i64 p = 0; p < np; ++p) {
            const float xh = (src[p * channels] - m) * r;
            const float gz = (relu && src[p * channels] * k + shift <= 0.0f) ? 0.0f : grad[p];
            dst[p * channels] = k * (gz - mg - xh * mgx);
          }
        }
      }
    }
}

}  // namespace cpu
}  // namespace kernels
}  // namespace roast
