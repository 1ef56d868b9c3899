// Layer norm with its gain and bias in one pass forward and one backward (kernel_list.inc).
#include <cmath>

#include "kernels/backend.h"
#include "kernels/cpu/row_blocks.h"

namespace roast {
namespace kernels {
namespace cpu {
namespace {
// Row sums in double, as kLanes interleaved partial sums added at the end: a fixed order (the
// same on every call) that the compiler vectorises, where one running sum would be a chain of
// dependent additions.
constexpr int kLanes = 8;

// sum over i < n of f(i).
template <typename F>
double lane_sum(i64 n, const F& f) {
  double acc[kLanes] = {};
  i64 i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) acc[l] += f(i + l);
  for (int l = 0; i < n; ++i, ++l) acc[l] += f(i);
  double total = 0.0;
  for (int l = 0; l < kLanes; ++l) total += acc[l];
  return total;
}

}  // namespace

void layer_norm_forward(const float* x, const float* gain, const float* bias, float* y, float* mean, float* rstd,
                        i64 rows, i64 n, float eps) {
  const double count = double(n);
#pragma omp parallel for schedule(static) if (rows * n >= kRowParallelMin)
  for (i64 r = 0; r < rows; ++r) {
    const float* xr = x + r * n;
    float* yr = y + r * n;
    const double mu = lane_sum(n, [&](i64 i) { return double(xr[i]); }) / count;
    const double total_sq = lane_sum(n, [&](i64 i) { return (xr[i] - mu) * (xr[i] - mu); });
    const float m = float(mu), rs = float(1.0 / std::sqrt(total_sq / count + double(eps)));
    mean[r] = m;
    rstd[r] = rs;
    for (i64 i = 0; i < n; ++i) yr[i] = (xr[i] - m) * rs * gain[i] + bias[i];
  }
}

namespace {
// gx of one row (when wanted) and its terms of dgain / dbias (when `partial`, [2n]: gain then
// bias), xhat recomputed in each loop (cheaper than a stored row). The arrays do not overlap.
void layer_norm_backward_row(const float* __restrict xr, const float* __restrict gyr, const float* __restrict gain,
                             float m, float rs, float* __restrict gxr, float* __restrict partial, i64 n) {
  float* __restrict pg = partial;
  float* __restrict pb = partial + n;
  if (gxr == nullptr) {
    for (i64 i = 0; i < n; ++i) {
      pg[i] += gyr[i] * ((xr[i] - m) * rs);
      pb[i] += gyr[i];
    }
    return;
  }
  // The means of gz = gy * gain and of gz * xhat, in lanes as lane_sum.
  double lane_g[kLanes] = {}, lane_gx[kLanes] = {};
  i64 i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) {
      const float xhat = (xr[i + l] - m) * rs, gz = gyr[i + l] * gain[i + l];
      lane_g[l] += gz;
      lane_gx[l] += double(gz) * xhat;
    }
  for (int l = 0; i < n; ++i, ++l) {
    const float xhat = (xr[i] - m) * rs, gz = gyr[i] * gain[i];
    lane_g[l] += gz;
    lane_gx[l] += double(gz) * xhat;
  }
  double sum_g = 0.0, sum_gx = 0.0;
  for (int l = 0; l < kLanes; ++l) sum_g += lane_g[l], sum_gx += lane_gx[l];
  const float mg = float(sum_g / double(n)), mgx = float(sum_gx / double(n));
  if (partial == nullptr) {
    for (i = 0; i < n; ++i) gxr[i] = rs * (gyr[i] * gain[i] - mg - ((xr[i] - m) * rs) * mgx);
    return;
  }
  for (i = 0; i < n; ++i) {
    const float xhat = (xr[i] - m) * rs;
    gxr[i] = rs * (gyr[i] * gain[i] - mg - xhat * mgx);
    pg[i] += gyr[i] * xhat;
    pb[i] += gyr[i];
  }
}
}  // namespace

void layer_norm_backward(const float* x, const float* gy, const float* gain, const float* mean, const float* rstd,
                         float* gx, float* dgain, float* dbias, i64 rows, i64 n) {
  const bool sums = dgain != nullptr;
  if (!sums && gx == nullptr) return;
  thread_local std::vector<float> both;  // dgain then dbias, summed together in one pass
  both.resize(sums ? std::size_t(2 * n) : 0);
  for_row_blocks_summing_columns(rows, sums ? 2 * n : 0, rows * n, sums ? both.data() : nullptr,
                                 [&](i64 r0, i64 r1, float* partial) {
                                   for (i64 r = r0; r < r1; ++r)
                                     layer_norm_backward_row(x + r * n, gy + r * n, gain, mean[r], rstd[r],
                                                             gx ? gx + r * n : nullptr, sums ? partial : nullptr, n);
                                 });
  if (!sums) return;
  for (i64 i = 0; i < n; ++i) dgain[i] = both[std::size_t(i)], dbias[i] = both[std::size_t(n + i)];
}

}  // namespace cpu
}  // namespace kernels
}  // namespace roast
