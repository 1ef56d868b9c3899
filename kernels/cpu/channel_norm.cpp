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
      float scale[kGroup] = {}, shift[kGroup] = {}, block[kRows * kGroup];
      for (i64 j = 0; j < nc; ++j) {
        scale[j] = rstd[c0 + j] * gain[c0 + j];
        shift[j] = bias[c0 + j] - mean[c0 + j] * scale[j];
      }
      for (i64 p0 = 0; p0 < hw; p0 += kRows) {
        const i64 np = std::min(kRows, hw - p0);
        // Rows first (contiguous in x, vectorised over the group's channels) into an L1
        // block, then the block transposed into the channels' planes of y.
        for (i64 p = 0; p < np; ++p) {
          const float* src = x + (b * hw + p0 + p) * channels + c0;
          float* out = block + p * kGroup;
          if (nc == kGroup) {
            for (i64 j = 0; j < kGroup; ++j) out[j] = src[j] * scale[j] + shift[j];
            if (relu)
              for (i64 j = 0; j < kGroup; ++j) out[j] = std::max(out[j], 0.0f);
          } else {
            for (i64 j = 0; j < nc; ++j) out[j] = relu ? std::max(src[j] * scale[j] + shift[j], 0.0f) : src[j] * scale[j] + shift[j];
          }
        }
        for (i64 j = 0; j < nc; ++j) {
          float* dst = y + (b * channels + c0 + j) * hw + p0;
          for (i64 p = 0; p < np; ++p) dst[p] = block[p * kGroup + j];
        }
      }
    }
}

namespace {
// One (image, channel group, block of positions) of the backward: gy's planes transposed into
// an L1 block, then rows walked with the group's channels as the vector lanes. Calls
// f(row pointer into x, transposed gy row, p) per position; f sees nc channels.
template <typename F>
void for_block_rows(const float* x, const float* gy, i64 b, i64 c0, i64 nc, i64 p0, i64 np, i64 hw, i64 channels,
                    float* block, F f) {
  for (i64 j = 0; j < nc; ++j) {
    const float* src = gy + (b * channels + c0 + j) * hw + p0;
    for (i64 p = 0; p < np; ++p) block[p * kGroup + j] = src[p];
  }
  for (i64 p = 0; p < np; ++p) f(x + (b * hw + p0 + p) * channels + c0, block + p * kGroup, p);
}
}  // namespace

void channel_norm_backward(const float* x, const float* gy, const float* mean, const float* rstd, const float* gain,
                           const float* bias, float* gx, float* dgain, float* dbias, i64 batch, i64 hw, i64 channels,
                           bool batch_stats, bool relu) {
  const i64 n_groups = (channels + kGroup - 1) / kGroup;
  const double count = double(batch * hw);
  // Per channel, in float per block and double across blocks (a fixed order): sum gz, sum gz * xhat.
  std::vector<float> mean_gz(static_cast<std::size_t>(channels)), mean_gzx(static_cast<std::size_t>(channels));
  auto constants = [&](i64 c0, i64 nc, float* m, float* r, float* k, float* shift) {
    for (i64 j = 0; j < kGroup; ++j) {
      const bool in = j < nc;
      m[j] = in ? mean[c0 + j] : 0.0f, r[j] = in ? rstd[c0 + j] : 0.0f;
      k[j] = in ? r[j] * gain[c0 + j] : 0.0f, shift[j] = in ? bias[c0 + j] - m[j] * k[j] : 0.0f;
    }
  };
#pragma omp parallel for schedule(static)
  for (i64 grp = 0; grp < n_groups; ++grp) {
    const i64 c0 = grp * kGroup, nc = std::min(kGroup, channels - c0);
    float m[kGroup], r[kGroup], k[kGroup], shift[kGroup], block[kRows * kGroup] = {};
    constants(c0, nc, m, r, k, shift);
    double sg[kGroup] = {}, sgx[kGroup] = {};
    for (i64 b = 0; b < batch; ++b)
      for (i64 p0 = 0; p0 < hw; p0 += kRows) {
        const i64 np = std::min(kRows, hw - p0);
        float s1[kGroup] = {}, s2[kGroup] = {};
        for_block_rows(x, gy, b, c0, nc, p0, np, hw, channels, block, [&](const float* xr, const float* g, i64) {
          for (i64 j = 0; j < kGroup; ++j) {
            const float xv = j < nc ? xr[j] : 0.0f;
            const float xh = (xv - m[j]) * r[j];
            const float gz = (relu && xv * k[j] + shift[j] <= 0.0f) ? 0.0f : g[j];  // the forward's mask
            s1[j] += gz, s2[j] += gz * xh;
          }
        });
        for (i64 j = 0; j < nc; ++j) sg[j] += s1[j], sgx[j] += s2[j];
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
      float m[kGroup], r[kGroup], k[kGroup], shift[kGroup], mg[kGroup] = {}, mgx[kGroup] = {}, block[kRows * kGroup] = {};
      constants(c0, nc, m, r, k, shift);
      for (i64 j = 0; j < nc; ++j) mg[j] = mean_gz[std::size_t(c0 + j)], mgx[j] = mean_gzx[std::size_t(c0 + j)];
      for (i64 p0 = 0; p0 < hw; p0 += kRows) {
        const i64 np = std::min(kRows, hw - p0);
        for_block_rows(x, gy, b, c0, nc, p0, np, hw, channels, block, [&](const float* xr, const float* g, i64 p) {
          float* dst = gx + (b * hw + p0 + p) * channels + c0;
          if (nc == kGroup) {
            for (i64 j = 0; j < kGroup; ++j) {
              const float xh = (xr[j] - m[j]) * r[j];
              const float gz = (relu && xr[j] * k[j] + shift[j] <= 0.0f) ? 0.0f : g[j];
              dst[j] = k[j] * (gz - mg[j] - xh * mgx[j]);
            }
          } else {
            for (i64 j = 0; j < nc; ++j) {
              const float xh = (xr[j] - m[j]) * r[j];
              const float gz = (relu && xr[j] * k[j] + shift[j] <= 0.0f) ? 0.0f : g[j];
              dst[j] = k[j] * (gz - mg[j] - xh * mgx[j]);
            }
          }
        });
      }
    }
}

}  // namespace cpu
}  // namespace kernels
}  // namespace roast
