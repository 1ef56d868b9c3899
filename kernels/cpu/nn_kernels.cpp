#include "kernels/backend.h"
#include "kernels/cpu/embedding_rows.h"

#include <cmath>
#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

namespace roast {
namespace kernels {
namespace cpu {

namespace {
// The convolution kernels go image by image through a zero-padded copy of a chunk of the
// image's channels (per-thread scratch, small enough for L1/L2): no bounds checks in the
// inner loops. Parallel over (image, channel chunk) pairs, each owning its part of cols' rows
// (im2col) or of gx (col2im_add).
struct ConvChunks {
  i64 padded_h, padded_w, plane, per_chunk, n_chunks;
  explicit ConvChunks(const ConvGeometry& g)
      : padded_h(g.height + 2 * g.padding), padded_w(g.width + 2 * g.padding), plane(padded_h * padded_w),
        per_chunk(std::max<i64>(1, std::min<i64>(g.channels, (16 << 10) / plane))),
        n_chunks((g.channels + per_chunk - 1) / per_chunk) {}
};

// Per-thread scratch of n floats and 8 more (the 4-wide copies below read one float past a
// row), reused across calls: no allocation in steady state.
float* padded_scratch(i64 n) {
  thread_local std::vector<float> scratch;
  if (scratch.size() < std::size_t(n + 8)) scratch.assign(std::size_t(n + 8), 0.0f);
  return scratch.data();
}
}  // namespace

void im2col(const float* x, float* cols, const ConvGeometry& g) {
  const i64 oh = g.out_h(), ow = g.out_w(), K = g.patch(), kh = g.kernel_h, kw = g.kernel_w, s = g.stride;
  const ConvChunks ch(g);
#pragma omp parallel for collapse(2) schedule(static)
  for (i64 b = 0; b < g.batch; ++b)
    for (i64 chunk = 0; chunk < ch.n_chunks; ++chunk) {
      const i64 c0 = chunk * ch.per_chunk, nc = std::min(ch.per_chunk, g.channels - c0);
      float* pad = padded_scratch(nc * ch.plane);
      std::fill(pad, pad + nc * ch.plane, 0.0f);
      for (i64 c = 0; c < nc; ++c)
        for (i64 y = 0; y < g.height; ++y)
          std::copy_n(x + ((b * g.channels + c0 + c) * g.height + y) * g.width, g.width,
                      pad + (c * ch.padded_h + y + g.padding) * ch.padded_w + g.padding);
      const i64 n_segments = nc * kh;  // kw floats each, one per (c, i)
      for (i64 oy = 0; oy < oh; ++oy)
        for (i64 ox = 0; ox < ow; ++ox) {
          float* row = cols + ((b * oh + oy) * ow + ox) * K + c0 * kh * kw;
          const float* src = pad + oy * s * ch.padded_w + ox * s;
          if (kw == 3) {
            // 4 floats per 3-float segment: the 4th is overwritten by the next segment; the
            // chunk's last segment is copied exactly (the next float belongs to another chunk).
            for (i64 seg = 0; seg + 1 < n_segments; ++seg) {
              const float* from = src + (seg / kh * ch.padded_h + seg % kh) * ch.padded_w;
              float* to = row + seg * 3;
              to[0] = from[0], to[1] = from[1], to[2] = from[2], to[3] = from[3];
            }
            const i64 last = n_segments - 1;
            const float* from = src + (last / kh * ch.padded_h + last % kh) * ch.padded_w;
            std::copy_n(from, 3, row + last * 3);
          } else {
            for (i64 seg = 0; seg < n_segments; ++seg)
              std::copy_n(src + (seg / kh * ch.padded_h + seg % kh) * ch.padded_w, kw, row + seg * kw);
          }
        }
    }
}

void col2im_add(const float* gcols, float* gx, const ConvGeometry& g) {
  const i64 oh = g.out_h(), ow = g.out_w(), K = g.patch(), kh = g.kernel_h, kw = g.kernel_w, s = g.stride;
  const ConvChunks ch(g);
#pragma omp parallel for collapse(2) schedule(static)
  for (i64 b = 0; b < g.batch; ++b)
    for (i64 chunk = 0; chunk < ch.n_chunks; ++chunk) {
      const i64 c0 = chunk * ch.per_chunk, nc = std::min(ch.per_chunk, g.channels - c0);
      float* pad = padded_scratch(nc * ch.plane);
      std::fill(pad, pad + nc * ch.plane, 0.0f);
      // Output positions in order: each padded pixel sums its windows in (oy, ox) order.
      for (i64 oy = 0; oy < oh; ++oy)
        for (i64 ox = 0; ox < ow; ++ox) {
          const float* row = gcols + ((b * oh + oy) * ow + ox) * K + c0 * kh * kw;
          float* dst = pad + oy * s * ch.padded_w + ox * s;
          for (i64 c = 0; c < nc; ++c)
            for (i64 i = 0; i < kh; ++i) {
              float* to = dst + (c * ch.padded_h + i) * ch.padded_w;
              const float* from = row + (c * kh + i) * kw;
              for (i64 j = 0; j < kw; ++j) to[j] += from[j];
            }
        }
      for (i64 c = 0; c < nc; ++c)
        for (i64 y = 0; y < g.height; ++y) {
          const float* from = pad + (c * ch.padded_h + y + g.padding) * ch.padded_w + g.padding;
          float* to = gx + ((b * g.channels + c0 + c) * g.height + y) * g.width;
          for (i64 xx = 0; xx < g.width; ++xx) to[xx] += from[xx];
        }
    }
}

void max_pool(const float* x, float* y, std::uint8_t* argmax, i64 planes, i64 h, i64 w, i64 k, i64 s) {
  const i64 oh = (h - k) / s + 1, ow = (w - k) / s + 1;
  if (k == 2 && s == 2) {  // the common case, branch-free: rows 2oy and 2oy + 1 at once
#pragma omp parallel for schedule(static)
    for (i64 p = 0; p < planes; ++p)
      for (i64 oy = 0; oy < oh; ++oy) {
        const float* r0 = x + p * h * w + 2 * oy * w;
        const float* r1 = r0 + w;
        float* yo = y + (p * oh + oy) * ow;
        std::uint8_t* ao = argmax + (p * oh + oy) * ow;
        for (i64 ox = 0; ox < ow; ++ox) {
          const float a = r0[2 * ox], b = r0[2 * ox + 1], c = r1[2 * ox], d = r1[2 * ox + 1];
          // The first maximum in row order, as the general loop's strict > keeps it.
          const bool b_top = b > a;
          const float top = b_top ? b : a;
          const bool d_bottom = d > c;
          const float bottom = d_bottom ? d : c;
          const bool low = bottom > top;
          yo[ox] = low ? bottom : top;
          ao[ox] = std::uint8_t(low ? 2 + d_bottom : b_top);
        }
      }
    return;
  }
#pragma omp parallel for schedule(static)
  for (i64 p = 0; p < planes; ++p)
    for (i64 oy = 0; oy < oh; ++oy)
      for (i64 ox = 0; ox < ow; ++ox) {
        float best = -std::numeric_limits<float>::infinity();
        std::uint8_t at = 0;
        for (i64 i = 0; i < k; ++i)
          for (i64 j = 0; j < k; ++j) {
            const float v = x[p * h * w + (oy * s + i) * w + ox * s + j];
            if (v > best) best = v, at = std::uint8_t(i * k + j);
          }
        y[(p * oh + oy) * ow + ox] = best;
        argmax[(p * oh + oy) * ow + ox] = at;
      }
}

void max_pool_backward(const float* gy, const std::uint8_t* argmax, float* gx, i64 planes, i64 h, i64 w, i64 k, i64 s) {
  const i64 oh = (h - k) / s + 1, ow = (w - k) / s + 1;
#pragma omp parallel for schedule(static)
  for (i64 p = 0; p < planes; ++p)
    for (i64 oy = 0; oy < oh; ++oy)
      for (i64 ox = 0; ox < ow; ++ox) {
        const i64 o = (p * oh + oy) * ow + ox, a = argmax[o];
        gx[p * h * w + (oy * s + a / k) * w + ox * s + a % k] += gy[o];
      }
}

void avg_pool(const float* x, float* y, i64 planes, i64 h, i64 w, i64 k, i64 s) {
  const i64 oh = (h - k) / s + 1, ow = (w - k) / s + 1;
  const float inv = 1.0f / float(k * k);
#pragma omp parallel for schedule(static)
  for (i64 p = 0; p < planes; ++p)
    for (i64 oy = 0; oy < oh; ++oy)
      for (i64 ox = 0; ox < ow; ++ox) {
        float total = 0.0f;
        for (i64 i = 0; i < k; ++i)
          for (i64 j = 0; j < k; ++j) total += x[p * h * w + (oy * s + i) * w + ox * s + j];
        y[(p * oh + oy) * ow + ox] = total * inv;
      }
}

void avg_pool_backward(const float* gy, float* gx, i64 planes, i64 h, i64 w, i64 k, i64 s) {
  const i64 oh = (h - k) / s + 1, ow = (w - k) / s + 1;
  const float inv = 1.0f / float(k * k);
#pragma omp parallel for schedule(static)
  for (i64 p = 0; p < planes; ++p)
    for (i64 oy = 0; oy < oh; ++oy)
      for (i64 ox = 0; ox < ow; ++ox) {
        const float g = gy[(p * oh + oy) * ow + ox] * inv;
        for (i64 i = 0; i < k; ++i)
          for (i64 j = 0; j < k; ++j) gx[p * h * w + (oy * s + i) * w + ox * s + j] += g;
      }
}

namespace {
// Visits the elements of normalised set `set`: (o, inner range) pairs.
template <typename F>
void for_set(i64 set, i64 outer, i64 groups, i64 inner, bool across_outer, F f) {
  if (across_outer) {
    for (i64 o = 0; o < outer; ++o) f((o * groups + set) * inner, inner);
  } else {
    f(set * inner, inner);
  }
}
}  // namespace

void normalize(const float* x, float* y, float* mean, float* rstd, i64 outer, i64 groups, i64 inner, float eps,
               bool across_outer) {
  const i64 n_sets = across_outer ? groups : outer * groups;
  const double count = double(across_outer ? outer * inner : inner);
#pragma omp parallel for schedule(static)
  for (i64 set = 0; set < n_sets; ++set) {
    double total = 0.0, total_sq = 0.0;
    for_set(set, outer, groups, inner, across_outer, [&](i64 at, i64 n) {
      for (i64 i = 0; i < n; ++i) total += x[at + i];
    });
    const double mu = total / count;
    for_set(set, outer, groups, inner, across_outer, [&](i64 at, i64 n) {
      for (i64 i = 0; i < n; ++i) total_sq += (x[at + i] - mu) * (x[at + i] - mu);
    });
    const float r = float(1.0 / std::sqrt(total_sq / count + double(eps)));
    mean[set] = float(mu);
    rstd[set] = r;
    for_set(set, outer, groups, inner, across_outer, [&](i64 at, i64 n) {
      for (i64 i = 0; i < n; ++i) y[at + i] = (x[at + i] - float(mu)) * r;
    });
  }
}

void normalize_backward(const float* y, const float* gy, const float* rstd, float* gx, i64 outer, i64 groups, i64 inner,
                        bool across_outer) {
  const i64 n_sets = across_outer ? groups : outer * groups;
  const double count = double(across_outer ? outer * inner : inner);
#pragma omp parallel for schedule(static)
  for (i64 set = 0; set < n_sets; ++set) {
    double sum_g = 0.0, sum_gy = 0.0;
    for_set(set, outer, groups, inner, across_outer, [&](i64 at, i64 n) {
      for (i64 i = 0; i < n; ++i) sum_g += gy[at + i], sum_gy += double(gy[at + i]) * y[at + i];
    });
    const float mg = float(sum_g / count), mgy = float(sum_gy / count), r = rstd[set];
    for_set(set, outer, groups, inner, across_outer, [&](i64 at, i64 n) {
      for (i64 i = 0; i < n; ++i) gx[at + i] = r * (gy[at + i] - mg - y[at + i] * mgy);
    });
  }
}


void norm_affine(const float* xhat, const float* gain, const float* bias, float* y, i64 outer, i64 groups, i64 inner,
                 bool per_group) {
#pragma omp parallel for collapse(2) schedule(static) if (outer * groups * inner >= (1 << 15))
  for (i64 o = 0; o < outer; ++o)
    for (i64 g = 0; g < groups; ++g) {
      const i64 at = (o * groups + g) * inner;
      if (per_group) {
        const float a = gain[g], b = bias[g];
        for (i64 i = 0; i < inner; ++i) y[at + i] = xhat[at + i] * a + b;
      } else {
        for (i64 i = 0; i < inner; ++i) y[at + i] = xhat[at + i] * gain[i] + bias[i];
      }
    }
}

void norm_affine_backward(const float* xhat, const float* gain, const float* gy, float* gxhat, float* dgain,
                          float* dbias, i64 outer, i64 groups, i64 inner, bool per_group) {
  if (per_group) {
    // One gain per group: each thread owns whole groups, sums in a fixed order.
#pragma omp parallel for schedule(static) if (outer * groups * inner >= (1 << 15))
    for (i64 g = 0; g < groups; ++g) {
      double sg = 0, sb = 0;
      for (i64 o = 0; o < outer; ++o) {
        const i64 at = (o * groups + g) * inner;
        for (i64 i = 0; i < inner; ++i) {
          sg += double(gy[at + i]) * xhat[at + i];
          sb += gy[at + i];
          gxhat[at + i] = gy[at + i] * gain[g];
        }
      }
      dgain[g] += float(sg), dbias[g] += float(sb);
    }
    return;
  }
  // One gain per inner position (groups == 1 for layer norm): rows walked in order.
  const i64 rows = outer * groups;
#pragma omp parallel for schedule(static) if (rows * inner >= (1 << 15))
  for (i64 r = 0; r < rows; ++r)
    for (i64 i = 0; i < inner; ++i) gxhat[r * inner + i] = gy[r * inner + i] * gain[i];
  for (i64 r = 0; r < rows; ++r)
    for (i64 i = 0; i < inner; ++i) {
      dgain[i] += gy[r * inner + i] * xhat[r * inner + i];
      dbias[i] += gy[r * inner + i];
    }
}

// embedding_id and for_embedding_row: kernels/cpu/embedding_rows.h.

i64 embedding_gather(const float* memory, const Mapping& map, const void* ids, int id_bytes, i64 n_ids, float* y) {
  for (i64 i = 0; i < n_ids; ++i) {
    const i64 r = embedding_id(ids, id_bytes, i);
    if (r < 0 || r >= map.rows) return i;
  }
  const i64 dim = map.cols;
#pragma omp parallel for schedule(static) if (n_ids * dim >= (1 << 14))
  for (i64 i = 0; i < n_ids; ++i) {
    float* row = y + i * dim;
    for_embedding_row(map, embedding_id(ids, id_bytes, i),
                      [&](i64 d, i64 cell, float scale) { row[d] = scale * memory[cell]; });
  }
  return -1;
}

void embedding_scatter_add(const float* gy, const Mapping& map, const void* ids, int id_bytes, i64 n_ids,
                           float* gmemory, bool) {
  // Sequential: rows may share cells, and a fixed order keeps the sum deterministic.
  for (i64 i = 0; i < n_ids; ++i) {
    const float* grow = gy + i * map.cols;
    for_embedding_row(map, embedding_id(ids, id_bytes, i),
                      [&](i64 d, i64 cell, float scale) { gmemory[cell] += scale * grow[d]; });
  }
}

}  // namespace cpu
}  // namespace kernels
}  // namespace roast
