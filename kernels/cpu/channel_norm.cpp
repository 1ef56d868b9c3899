// Batch norm (+ ReLU) over a convolution's GEMM output: channels-last in, NCHW out, and back.
// Every pass walks x by contiguous rows (all channels of a position at once, the channels as
// vector lanes) in tiles of a few dozen positions of one image that stay in L1; the NCHW side
// (y, gy) goes through the tile by 8 x 8 register transposes (transpose.h).
// Sums are taken per unit of up to kSegment positions of one image: floats within a tile,
// doubles across the unit's tiles, then the units' doubles added in unit order. Units, not
// threads, fix the order: the statistics and gradients are the same for any thread count.
// The forward statistics take one pass: sums of d = x - x[row 0] and d^2 (the shift keeps the
// variance E[d^2] - E[d]^2 from cancelling when the mean is large against the spread).
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/backend.h"
#include "kernels/cpu/row_blocks.h"
#include "kernels/cpu/transpose.h"

namespace roast {
namespace kernels {
namespace cpu {
namespace {
constexpr i64 kSegment = 512;  // positions per unit of partial sums (a multiple of every tile)

// Positions per L1 tile: tile x channels floats of about 16 KB, a multiple of 8 in [8, 64].
i64 tile_positions(i64 channels) { return std::max<i64>(8, std::min<i64>(64, (4096 / channels) / 8 * 8)); }

struct Units {
  i64 per_image, count;
  Units(i64 batch, i64 hw) : per_image((hw + kSegment - 1) / kSegment), count(batch * per_image) {}
};

// The per-channel affine of the forward (and of the backward's ReLU mask, recomputed the same
// way so that the mask is the forward's): y = x * scale + shift.
void affine_constants(const float* mean, const float* rstd, const float* gain, const float* bias, i64 channels,
                      float* scale, float* shift) {
  for (i64 c = 0; c < channels; ++c) {
    scale[c] = rstd[c] * gain[c];
    shift[c] = bias[c] - mean[c] * scale[c];
  }
}

void shifted_sums_row(const float* __restrict xr, const float* __restrict origin, float* __restrict s1,
                      float* __restrict s2, i64 channels) {
  for (i64 c = 0; c < channels; ++c) {
    const float d = xr[c] - origin[c];
    s1[c] += d;
    s2[c] += d * d;
  }
}

void affine_row(const float* __restrict xr, const float* __restrict scale, const float* __restrict shift,
                float* __restrict out, i64 channels, bool relu) {
  if (relu)
    for (i64 c = 0; c < channels; ++c) out[c] = std::max(xr[c] * scale[c] + shift[c], 0.0f);
  else
    for (i64 c = 0; c < channels; ++c) out[c] = xr[c] * scale[c] + shift[c];
}

// The backward's per-channel constants, channels floats each.
struct BackwardConstants {
  const float *mean, *rstd, *scale, *shift, *mean_gz, *mean_gzx;
};

// s1 += gz, s2 += gz * xhat over one row; with gx_row, also gx = scale * gz (fixed statistics).
void grad_sums_row(const float* __restrict xr, const float* __restrict g, const BackwardConstants& k,
                   float* __restrict s1, float* __restrict s2, float* __restrict gx_row, i64 channels, bool relu) {
  const float *__restrict m = k.mean, *__restrict r = k.rstd, *__restrict sc = k.scale, *__restrict sh = k.shift;
  for (i64 c = 0; c < channels; ++c) {
    const float xv = xr[c];
    const float gz = (relu && xv * sc[c] + sh[c] <= 0.0f) ? 0.0f : g[c];  // the forward's mask
    s1[c] += gz;
    s2[c] += gz * ((xv - m[c]) * r[c]);
  }
  if (gx_row != nullptr)
    for (i64 c = 0; c < channels; ++c) {
      const float gz = (relu && xr[c] * sc[c] + sh[c] <= 0.0f) ? 0.0f : g[c];
      gx_row[c] = sc[c] * gz;
    }
}

// gx = scale * (gz - mean(gz) - xhat * mean(gz * xhat)) over one row.
void grad_input_row(const float* __restrict xr, const float* __restrict g, const BackwardConstants& k,
                    float* __restrict out, i64 channels, bool relu) {
  const float *__restrict m = k.mean, *__restrict r = k.rstd, *__restrict sc = k.scale, *__restrict sh = k.shift,
              *__restrict mg = k.mean_gz, *__restrict mgx = k.mean_gzx;
  for (i64 c = 0; c < channels; ++c) {
    const float xv = xr[c];
    const float gz = (relu && xv * sc[c] + sh[c] <= 0.0f) ? 0.0f : g[c];
    out[c] = sc[c] * (gz - mg[c] - (xv - m[c]) * r[c] * mgx[c]);
  }
}

// Calls tile(b, p, np) for every tile of unit u (positions [p, p + np) of image b), in order.
template <typename Tile>
void for_unit_tiles(const Units& units, i64 u, i64 hw, i64 tile_len, const Tile& tile) {
  const i64 b = u / units.per_image, p0 = (u % units.per_image) * kSegment, p1 = std::min(hw, p0 + kSegment);
  for (i64 p = p0; p < p1; p += tile_len) tile(b, p, std::min(tile_len, p1 - p));
}

// Adds a tile's float sums (2 * channels) into the unit's doubles and zeroes them.
void flush_tile_sums(float* sums, double* unit, i64 channels) {
  for (i64 c = 0; c < 2 * channels; ++c) unit[c] += sums[c], sums[c] = 0.0f;
}

// Per-thread scratch of at least n floats, zeroed on request; reused across calls.
float* thread_scratch(std::vector<float>& v, std::size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}
}  // namespace

void channel_norm_forward(const float* x, float* y, float* mean, float* rstd, const float* gain, const float* bias,
                          i64 batch, i64 hw, i64 channels, float eps, bool batch_stats, bool relu) {
  const Units units(batch, hw);
  const i64 tile_len = tile_positions(channels), width = 2 * channels;
  const bool threads = batch * hw * channels >= kRowParallelMin;
  thread_local std::vector<double> partials;  // [units][2 * channels]: no allocation in steady state
  thread_local std::vector<float> constants;
  if (batch_stats) {
    partials.assign(std::size_t(units.count * width), 0.0);
    double* base = partials.data();
    const float* origin = x;  // row 0: the shift of the one-pass variance
#pragma omp parallel for schedule(static) if (threads)
    for (i64 u = 0; u < units.count; ++u) {
      thread_local std::vector<float> scratch;
      float* sums = thread_scratch(scratch, std::size_t(width));
      std::fill(sums, sums + width, 0.0f);
      for_unit_tiles(units, u, hw, tile_len, [&](i64 b, i64 p, i64 np) {
        for (i64 r = 0; r < np; ++r) shifted_sums_row(x + (b * hw + p + r) * channels, origin, sums, sums + channels, channels);
        flush_tile_sums(sums, base + u * width, channels);
      });
    }
    const double count = double(batch * hw);
    for (i64 c = 0; c < channels; ++c) {
      double s1 = 0.0, s2 = 0.0;
      for (i64 u = 0; u < units.count; ++u) s1 += base[u * width + c], s2 += base[u * width + channels + c];
      const double d_mean = s1 / count, var = std::max(s2 / count - d_mean * d_mean, 0.0);
      mean[c] = float(double(origin[c]) + d_mean);
      rstd[c] = float(1.0 / std::sqrt(var + double(eps)));
    }
  }
  constants.resize(std::size_t(width));
  float *scale = constants.data(), *shift = scale + channels;
  affine_constants(mean, rstd, gain, bias, channels, scale, shift);
#pragma omp parallel for schedule(static) if (threads)
  for (i64 u = 0; u < units.count; ++u) {
    thread_local std::vector<float> scratch;
    float* block = thread_scratch(scratch, std::size_t(tile_len * channels));
    for_unit_tiles(units, u, hw, tile_len, [&](i64 b, i64 p, i64 np) {
      for (i64 r = 0; r < np; ++r) affine_row(x + (b * hw + p + r) * channels, scale, shift, block + r * channels, channels, relu);
      transpose_tile(block, channels, y + b * channels * hw + p, hw, np, channels);
    });
  }
}

void channel_norm_backward(const float* x, const float* gy, const float* mean, const float* rstd, const float* gain,
                           const float* bias, float* gx, float* dgain, float* dbias, i64 batch, i64 hw, i64 channels,
                           bool batch_stats, bool relu) {
  const Units units(batch, hw);
  const i64 tile_len = tile_positions(channels), width = 2 * channels;
  const bool threads = batch * hw * channels >= kRowParallelMin;
  thread_local std::vector<double> partials;
  thread_local std::vector<float> constants;
  partials.assign(std::size_t(units.count * width), 0.0);
  constants.resize(std::size_t(4 * channels));
  float* scale = constants.data() + 0 * channels;
  float* shift = constants.data() + 1 * channels;
  float* mean_gz = constants.data() + 2 * channels;
  float* mean_gzx = constants.data() + 3 * channels;
  affine_constants(mean, rstd, gain, bias, channels, scale, shift);
  const BackwardConstants k{mean, rstd, scale, shift, mean_gz, mean_gzx};
  double* base = partials.data();
  // gy's tile, transposed to rows: block[r * channels + c] = gy[b, c, p + r].
  auto load_tile = [&](float* block, i64 b, i64 p, i64 np) {
    transpose_tile(gy + b * channels * hw + p, hw, block, channels, channels, np);
  };
  // Pass 1: the sums (with fixed statistics, gx as well: it needs no sums).
#pragma omp parallel for schedule(static) if (threads)
  for (i64 u = 0; u < units.count; ++u) {
    thread_local std::vector<float> scratch;
    float* sums = thread_scratch(scratch, std::size_t(width + tile_len * channels));
    float* block = sums + width;
    std::fill(sums, sums + width, 0.0f);
    for_unit_tiles(units, u, hw, tile_len, [&](i64 b, i64 p, i64 np) {
      load_tile(block, b, p, np);
      for (i64 r = 0; r < np; ++r) {
        const i64 row = (b * hw + p + r) * channels;
        grad_sums_row(x + row, block + r * channels, k, sums, sums + channels, batch_stats ? nullptr : gx + row,
                      channels, relu);
      }
      flush_tile_sums(sums, base + u * width, channels);
    });
  }
  const double count = double(batch * hw);
  for (i64 c = 0; c < channels; ++c) {
    double s1 = 0.0, s2 = 0.0;
    for (i64 u = 0; u < units.count; ++u) s1 += base[u * width + c], s2 += base[u * width + channels + c];
    dgain[c] += float(s2);
    dbias[c] += float(s1);
    mean_gz[c] = float(s1 / count);
    mean_gzx[c] = float(s2 / count);
  }
  if (!batch_stats) return;
  // Pass 2: gx from the sums.
#pragma omp parallel for schedule(static) if (threads)
  for (i64 u = 0; u < units.count; ++u) {
    thread_local std::vector<float> scratch;
    float* block = thread_scratch(scratch, std::size_t(tile_len * channels));
    for_unit_tiles(units, u, hw, tile_len, [&](i64 b, i64 p, i64 np) {
      load_tile(block, b, p, np);
      for (i64 r = 0; r < np; ++r) {
        const i64 row = (b * hw + p + r) * channels;
        grad_input_row(x + row, block + r * channels, k, gx + row, channels, relu);
      }
    });
  }
}

}  // namespace cpu
}  // namespace kernels
}  // namespace roast
