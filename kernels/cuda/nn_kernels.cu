// Convolution layout, pooling, normalisation and embedding kernels. Backward passes that
// add into an input are gather formulations (each input element sums what reaches it, in
// the CPU's order), so they need no atomics and are deterministic; the embedding memory
// gradient uses atomics unless the caller asks for a deterministic sum.
#include <cmath>

#include "kernels/backend.h"
#include "kernels/cuda/ops_common.cuh"
#include "roast/backend.h"

namespace roast {
namespace kernels {
namespace cuda {

namespace {
__device__ __forceinline__ i64 min64(i64 a, i64 b) { return a < b ? a : b; }
__device__ __forceinline__ i64 max64(i64 a, i64 b) { return a > b ? a : b; }
// ceil(a / b) for b > 0 and any a.
__device__ __forceinline__ i64 ceil_div(i64 a, i64 b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

// One thread per element of cols [B * OH * OW, K]: row (b, oy, ox), column (c, i, j).
__global__ void im2col_kernel(const float* x, float* cols, ConvGeometry g, i64 oh, i64 ow, i64 K, i64 n) {
  for (i64 t = global_index(); t < n; t += grid_stride()) {
    const i64 row = t / K, k = t % K;
    const i64 b = row / (oh * ow), oy = (row / ow) % oh, ox = row % ow;
    const i64 c = k / (g.kernel_h * g.kernel_w), i = (k / g.kernel_w) % g.kernel_h, j = k % g.kernel_w;
    const i64 y = oy * g.stride - g.padding + i, xx = ox * g.stride - g.padding + j;
    const bool inside = y >= 0 && y < g.height && xx >= 0 && xx < g.width;
    cols[t] = inside ? x[((b * g.channels + c) * g.height + y) * g.width + xx] : 0.0f;
  }
}

// One thread per element (b, c, y, x) of gx: adds every column entry that read it, over
// output positions (oy, ox) ascending (the CPU's order).
__global__ void col2im_kernel(const float* gcols, float* gx, ConvGeometry g, i64 oh, i64 ow, i64 K, i64 n) {
  for (i64 t = global_index(); t < n; t += grid_stride()) {
    const i64 xx = t % g.width, y = (t / g.width) % g.height;
    const i64 c = (t / (g.width * g.height)) % g.channels, b = t / (g.width * g.height * g.channels);
    // Window row i = y + padding - oy * stride must lie in [0, kernel_h); likewise j.
    const i64 oy_lo = max64(0, ceil_div(y + g.padding - g.kernel_h + 1, g.stride));
    const i64 oy_hi = min64(oh - 1, (y + g.padding) / g.stride);
    const i64 ox_lo = max64(0, ceil_div(xx + g.padding - g.kernel_w + 1, g.stride));
    const i64 ox_hi = min64(ow - 1, (xx + g.padding) / g.stride);
    float acc = gx[t];
    for (i64 oy = oy_lo; oy <= oy_hi; ++oy) {
      const i64 i = y + g.padding - oy * g.stride;
      for (i64 ox = ox_lo; ox <= ox_hi; ++ox) {
        const i64 j = xx + g.padding - ox * g.stride;
        acc += gcols[((b * oh + oy) * ow + ox) * K + (c * g.kernel_h + i) * g.kernel_w + j];
      }
    }
    gx[t] = acc;
  }
}

// One thread per output (p, oy, ox).
__global__ void pool_kernel(const float* x, float* y, std::uint8_t* argmax, i64 planes, i64 h, i64 w, i64 k, i64 s,
                            i64 oh, i64 ow, bool is_max) {
  const float inv = 1.0f / float(k * k);
  for (i64 t = global_index(); t < planes * oh * ow; t += grid_stride()) {
    const i64 p = t / (oh * ow), oy = (t / ow) % oh, ox = t % ow;
    const float* plane = x + p * h * w;
    if (is_max) {
      float best = -INFINITY;
      std::uint8_t at = 0;
      for (i64 i = 0; i < k; ++i)
        for (i64 j = 0; j < k; ++j) {
          const i64 off = (oy * s + i) * w + ox * s + j;
          if (plane[off] > best) best = plane[off], at = std::uint8_t(i * k + j);
        }
      y[t] = best;
      argmax[t] = at;
    } else {
      float total = 0.0f;
      for (i64 i = 0; i < k; ++i)
        for (i64 j = 0; j < k; ++j) total += plane[(oy * s + i) * w + ox * s + j];
      y[t] = total * inv;
    }
  }
}

// One thread per input pixel (p, y, x): sums the gradients of the windows that cover it
// (max: only those whose argmax is this pixel), windows in ascending order.
__global__ void pool_backward_kernel(const float* gy, const std::uint8_t* argmax, float* gx, i64 planes, i64 h, i64 w,
                                     i64 k, i64 s, i64 oh, i64 ow) {
  const float inv = 1.0f / float(k * k);
  for (i64 t = global_index(); t < planes * h * w; t += grid_stride()) {
    const i64 p = t / (h * w), off = t % (h * w), y = off / w, xx = off % w;
    const i64 oy_lo = max64(0, ceil_div(y - k + 1, s)), oy_hi = min64(oh - 1, y / s);
    const i64 ox_lo = max64(0, ceil_div(xx - k + 1, s)), ox_hi = min64(ow - 1, xx / s);
    float acc = argmax == nullptr ? gx[t] : 0.0f;  // max pooling overwrites gx, average pooling adds
    for (i64 oy = oy_lo; oy <= oy_hi; ++oy)
      for (i64 ox = ox_lo; ox <= ox_hi; ++ox) {
        const i64 o = (p * oh + oy) * ow + ox;
        if (argmax == nullptr) acc += gy[o] * inv;
        else if (argmax[o] == (y - oy * s) * k + (xx - ox * s)) acc += gy[o];
      }
    gx[t] = acc;
  }
}

// Element `t` of normalised set `set` (see `normalize` in kernels/kernel_list.inc for the two layouts).
__device__ __forceinline__ i64 set_element(i64 set, i64 t, i64 groups, i64 inner, bool across_outer) {
  return across_outer ? ((t / inner) * groups + set) * inner + t % inner : set * inner + t;
}

// One block per normalised set; sums in double like the CPU.
__global__ void normalize_kernel(const float* x, float* y, float* mean, float* rstd, i64 groups, i64 inner, i64 count,
                                 float eps, bool across_outer) {
  const i64 set = blockIdx.x;
  double total = 0.0;
  for (i64 t = threadIdx.x; t < count; t += blockDim.x) total += x[set_element(set, t, groups, inner, across_outer)];
  const double mu = block_sum(total) / double(count);
  double total_sq = 0.0;
  for (i64 t = threadIdx.x; t < count; t += blockDim.x) {
    const double v = x[set_element(set, t, groups, inner, across_outer)] - mu;
    total_sq += v * v;
  }
  total_sq = block_sum(total_sq);
  const float r = float(1.0 / ::sqrt(total_sq / double(count) + double(eps)));
  if (threadIdx.x == 0) mean[set] = float(mu), rstd[set] = r;
  for (i64 t = threadIdx.x; t < count; t += blockDim.x) {
    const i64 at = set_element(set, t, groups, inner, across_outer);
    y[at] = (x[at] - float(mu)) * r;
  }
}

__global__ void normalize_backward_kernel(const float* y, const float* gy, const float* rstd, float* gx, i64 groups,
                                          i64 inner, i64 count, bool across_outer) {
  const i64 set = blockIdx.x;
  double sum_g = 0.0, sum_gy = 0.0;
  for (i64 t = threadIdx.x; t < count; t += blockDim.x) {
    const i64 at = set_element(set, t, groups, inner, across_outer);
    sum_g += gy[at];
    sum_gy += double(gy[at]) * y[at];
  }
  sum_g = block_sum(sum_g);
  sum_gy = block_sum(sum_gy);
  const float mg = float(sum_g / double(count)), mgy = float(sum_gy / double(count)), r = rstd[set];
  for (i64 t = threadIdx.x; t < count; t += blockDim.x) {
    const i64 at = set_element(set, t, groups, inner, across_outer);
    gx[at] = r * (gy[at] - mg - y[at] * mgy);
  }
}

// Gain index of element t of x viewed as [outer, groups, inner].
__device__ __forceinline__ i64 gain_index(i64 t, i64 groups, i64 inner, bool per_group) {
  return per_group ? (t / inner) % groups : t % inner;
}

__global__ void norm_affine_kernel(const float* xhat, const float* gain, const float* bias, float* y, i64 groups,
                                   i64 inner, bool per_group, i64 n) {
  for (i64 t = global_index(); t < n; t += grid_stride()) {
    const i64 gi = gain_index(t, groups, inner, per_group);
    y[t] = xhat[t] * gain[gi] + bias[gi];
  }
}

__global__ void norm_affine_gxhat_kernel(const float* gain, const float* gy, float* gxhat, i64 groups, i64 inner,
                                         bool per_group, i64 n) {
  for (i64 t = global_index(); t < n; t += grid_stride()) gxhat[t] = gy[t] * gain[gain_index(t, groups, inner, per_group)];
}

// Batch norm: one block per group, summing over (o, i) in double.
__global__ void norm_affine_group_sums_kernel(const float* xhat, const float* gy, float* dgain, float* dbias,
                                              i64 outer, i64 groups, i64 inner) {
  const i64 g = blockIdx.x;
  double sg = 0.0, sb = 0.0;
  for (i64 t = threadIdx.x; t < outer * inner; t += blockDim.x) {
    const i64 at = ((t / inner) * groups + g) * inner + t % inner;
    sg += double(gy[at]) * xhat[at];
    sb += gy[at];
  }
  sg = block_sum(sg);
  sb = block_sum(sb);
  if (threadIdx.x == 0) dgain[g] += float(sg), dbias[g] += float(sb);
}

// Layer norm: one thread per inner position, summing its column over rows in order.
__global__ void norm_affine_column_sums_kernel(const float* xhat, const float* gy, float* dgain, float* dbias, i64 rows,
                                               i64 inner) {
  for (i64 i = global_index(); i < inner; i += grid_stride()) {
    float sg = dgain[i], sb = dbias[i];
    for (i64 r = 0; r < rows; ++r) {
      sg += gy[r * inner + i] * xhat[r * inner + i];
      sb += gy[r * inner + i];
    }
    dgain[i] = sg, dbias[i] = sb;
  }
}

// One thread per element (i, d) of y; a bad id is recorded and its row left unwritten.
__global__ void embedding_gather_kernel(const float* memory, Mapping map, const void* ids, int id_bytes, i64 n_ids,
                                        float* y, unsigned long long* bad) {
  const i64 dim = map.cols;
  for (i64 t = global_index(); t < n_ids * dim; t += grid_stride()) {
    const i64 i = t / dim, d = t % dim, r = id_at(ids, id_bytes, i);
    if (r < 0 || r >= map.rows) {
      if (d == 0) record_first(bad, i);
      continue;
    }
    y[t] = (map.lambda * map.sign(r, d)) * memory[map.loc(r, d)];
  }
}

__global__ void embedding_scatter_atomic_kernel(const float* gy, Mapping map, const void* ids, int id_bytes,
                                                i64 n_ids, float* gmemory) {
  const i64 dim = map.cols;
  for (i64 t = global_index(); t < n_ids * dim; t += grid_stride()) {
    const i64 d = t % dim, r = id_at(ids, id_bytes, t / dim);
    atomicAdd(gmemory + map.loc(r, d), (map.lambda * map.sign(r, d)) * gy[t]);
  }
}

// The cell and the contribution of element t = (i, d), for the deterministic scatter.
__global__ void embedding_contributions_kernel(const float* gy, Mapping map, const void* ids, int id_bytes, i64 n_ids,
                                               i64* cells, float* values) {
  const i64 dim = map.cols;
  for (i64 t = global_index(); t < n_ids * dim; t += grid_stride()) {
    const i64 d = t % dim, r = id_at(ids, id_bytes, t / dim);
    cells[t] = map.loc(r, d);
    values[t] = (map.lambda * map.sign(r, d)) * gy[t];
  }
}
}  // namespace

void im2col(const float* x, float* cols, const ConvGeometry& g) {
  const i64 oh = g.out_h(), ow = g.out_w(), K = g.patch(), n = g.batch * oh * ow * K;
  if (n == 0) return;
  im2col_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(x, cols, g, oh, ow, K, n);
  check_launch("im2col");
}

void col2im_add(const float* gcols, float* gx, const ConvGeometry& g) {
  const i64 n = g.batch * g.channels * g.height * g.width;
  if (n == 0) return;
  col2im_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(gcols, gx, g, g.out_h(), g.out_w(), g.patch(), n);
  check_launch("col2im_add");
}

void max_pool(const float* x, float* y, std::uint8_t* argmax, i64 planes, i64 h, i64 w, i64 k, i64 s) {
  const i64 oh = (h - k) / s + 1, ow = (w - k) / s + 1;
  if (planes * oh * ow == 0) return;
  pool_kernel<<<blocks_for(planes * oh * ow), kThreads, 0, stream()>>>(x, y, argmax, planes, h, w, k, s, oh, ow, true);
  check_launch("max_pool");
}

void max_pool_backward(const float* gy, const std::uint8_t* argmax, float* gx, i64 planes, i64 h, i64 w, i64 k, i64 s) {
  const i64 oh = (h - k) / s + 1, ow = (w - k) / s + 1;
  if (planes * h * w == 0) return;
  pool_backward_kernel<<<blocks_for(planes * h * w), kThreads, 0, stream()>>>(gy, argmax, gx, planes, h, w, k, s, oh,
                                                                              ow);
  check_launch("max_pool_backward");
}

void avg_pool(const float* x, float* y, i64 planes, i64 h, i64 w, i64 k, i64 s) {
  const i64 oh = (h - k) / s + 1, ow = (w - k) / s + 1;
  if (planes * oh * ow == 0) return;
  pool_kernel<<<blocks_for(planes * oh * ow), kThreads, 0, stream()>>>(x, y, nullptr, planes, h, w, k, s, oh, ow,
                                                                       false);
  check_launch("avg_pool");
}

void avg_pool_backward(const float* gy, float* gx, i64 planes, i64 h, i64 w, i64 k, i64 s) {
  const i64 oh = (h - k) / s + 1, ow = (w - k) / s + 1;
  if (planes * h * w == 0) return;
  pool_backward_kernel<<<blocks_for(planes * h * w), kThreads, 0, stream()>>>(gy, nullptr, gx, planes, h, w, k, s, oh,
                                                                              ow);
  check_launch("avg_pool_backward");
}

void normalize(const float* x, float* y, float* mean, float* rstd, i64 outer, i64 groups, i64 inner, float eps,
               bool across_outer) {
  const i64 n_sets = across_outer ? groups : outer * groups;
  const i64 count = across_outer ? outer * inner : inner;
  if (n_sets == 0) return;
  normalize_kernel<<<unsigned(n_sets), kThreads, 0, stream()>>>(x, y, mean, rstd, groups, inner, count, eps,
                                                                across_outer);
  check_launch("normalize");
}

void normalize_backward(const float* y, const float* gy, const float* rstd, float* gx, i64 outer, i64 groups, i64 inner,
                        bool across_outer) {
  const i64 n_sets = across_outer ? groups : outer * groups;
  const i64 count = across_outer ? outer * inner : inner;
  if (n_sets == 0) return;
  normalize_backward_kernel<<<unsigned(n_sets), kThreads, 0, stream()>>>(y, gy, rstd, gx, groups, inner, count,
                                                                         across_outer);
  check_launch("normalize_backward");
}

void norm_affine(const float* xhat, const float* gain, const float* bias, float* y, i64 outer, i64 groups, i64 inner,
                 bool per_group) {
  const i64 n = outer * groups * inner;
  if (n == 0) return;
  norm_affine_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(xhat, gain, bias, y, groups, inner, per_group, n);
  check_launch("norm_affine");
}

void norm_affine_backward(const float* xhat, const float* gain, const float* gy, float* gxhat, float* dgain,
                          float* dbias, i64 outer, i64 groups, i64 inner, bool per_group) {
  const i64 n = outer * groups * inner;
  if (n == 0) return;
  norm_affine_gxhat_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(gain, gy, gxhat, groups, inner, per_group, n);
  check_launch("norm_affine_backward");
  if (per_group) {
    norm_affine_group_sums_kernel<<<unsigned(groups), kThreads, 0, stream()>>>(xhat, gy, dgain, dbias, outer, groups,
                                                                              inner);
  } else {
    norm_affine_column_sums_kernel<<<blocks_for(inner), kThreads, 0, stream()>>>(xhat, gy, dgain, dbias,
                                                                               outer * groups, inner);
  }
  check_launch("norm_affine_backward");
}

i64 embedding_gather(const float* memory, const Mapping& map, const void* ids, int id_bytes, i64 n_ids, float* y) {
  if (n_ids == 0) return -1;
  DeviceBuffer bad(sizeof(unsigned long long));
  check(cudaMemsetAsync(bad.as<void>(), 0xff, sizeof(unsigned long long), stream()), "embedding_gather");
  const i64 n = n_ids * map.cols;
  if (n > 0) {
    embedding_gather_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(memory, map, ids, id_bytes, n_ids, y,
                                                                      bad.as<unsigned long long>());
    check_launch("embedding_gather");
  }
  return fetch_first(bad.as<unsigned long long>());
}

void embedding_scatter_add(const float* gy, const Mapping& map, const void* ids, int id_bytes, i64 n_ids,
                           float* gmemory, bool deterministic) {
  const i64 n = n_ids * map.cols;
  if (n == 0) return;
  if (!deterministic) {
    embedding_scatter_atomic_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(gy, map, ids, id_bytes, n_ids, gmemory);
    check_launch("embedding_scatter_add");
    return;
  }
  DeviceBuffer cells(std::size_t(n) * sizeof(i64)), values(std::size_t(n) * sizeof(float));
  embedding_contributions_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(gy, map, ids, id_bytes, n_ids,
                                                                           cells.as<i64>(), values.as<float>());
  check_launch("embedding_scatter_add");
  sorted_scatter_add(cells.as<i64>(), values.as<float>(), n, bits_for(map.region_base + map.region_size), gmemory);
}

}  // namespace cuda
}  // namespace kernels
}  // namespace roast
