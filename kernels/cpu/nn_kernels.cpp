#include "kernels/backend.h"
#include "kernels/cpu/embedding_rows.h"

#include <cmath>
#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>
#if defined(__AVX2__)
#include <immintrin.h>
#endif

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

namespace {
// One pair of input rows of 2 x 2, stride-2 max pooling: n outputs from r0 / r1 (2n floats
// each). The first maximum in row order, as the general loop's strict > keeps it.
inline void max_pool_2x2_scalar(const float* r0, const float* r1, float* yo, std::uint8_t* ao, i64 n) {
  for (i64 ox = 0; ox < n; ++ox) {
    const float a = r0[2 * ox], b = r0[2 * ox + 1], c = r1[2 * ox], d = r1[2 * ox + 1];
    const bool b_top = b > a;
    const float top = b_top ? b : a;
    const bool d_bottom = d > c;
    const float bottom = d_bottom ? d : c;
    const bool low = bottom > top;
    yo[ox] = low ? bottom : top;
    ao[ox] = std::uint8_t(low ? 2 + d_bottom : b_top);
  }
}

#if defined(__AVX2__)
// The same, 8 outputs per step in AVX2 registers (the row's tail by masked loads).
inline void max_pool_2x2_row(const float* r0, const float* r1, float* yo, std::uint8_t* ao, i64 ow) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (i64 ox = 0; ox < ow; ox += 8) {
    const i64 n = std::min<i64>(8, ow - ox);
    const __m256i in_lo = _mm256_cmpgt_epi32(_mm256_set1_epi32(int(std::min<i64>(8, 2 * n))), lane);
    const __m256i in_hi = _mm256_cmpgt_epi32(_mm256_set1_epi32(int(std::max<i64>(0, 2 * n - 8))), lane);
    const float *t = r0 + 2 * ox, *u = r1 + 2 * ox;
    const __m256 t0 = _mm256_maskload_ps(t, in_lo), t1 = _mm256_maskload_ps(t + 8, in_hi);
    const __m256 u0 = _mm256_maskload_ps(u, in_lo), u1 = _mm256_maskload_ps(u + 8, in_hi);
    // Even / odd columns; the lanes come out in the output order 0 1 4 5 2 3 6 7.
    const __m256 a = _mm256_shuffle_ps(t0, t1, _MM_SHUFFLE(2, 0, 2, 0)), b = _mm256_shuffle_ps(t0, t1, _MM_SHUFFLE(3, 1, 3, 1));
    const __m256 c = _mm256_shuffle_ps(u0, u1, _MM_SHUFFLE(2, 0, 2, 0)), d = _mm256_shuffle_ps(u0, u1, _MM_SHUFFLE(3, 1, 3, 1));
    const __m256 b_top = _mm256_cmp_ps(b, a, _CMP_GT_OQ), d_bottom = _mm256_cmp_ps(d, c, _CMP_GT_OQ);
    const __m256 top = _mm256_blendv_ps(a, b, b_top), bottom = _mm256_blendv_ps(c, d, d_bottom);
    const __m256 low = _mm256_cmp_ps(bottom, top, _CMP_GT_OQ);
    const __m256 best = _mm256_blendv_ps(top, bottom, low);
    const __m256i one = _mm256_set1_epi32(1);
    const __m256i at_top = _mm256_and_si256(_mm256_castps_si256(b_top), one);
    const __m256i at_bottom = _mm256_add_epi32(_mm256_set1_epi32(2), _mm256_and_si256(_mm256_castps_si256(d_bottom), one));
    const __m256i at = _mm256_blendv_epi8(at_top, at_bottom, _mm256_castps_si256(low));
    const __m256i order = _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7);
    const __m256 best_ordered = _mm256_permutevar8x32_ps(best, order);
    const __m256i at_ordered = _mm256_permutevar8x32_epi32(at, order);
    alignas(32) std::int32_t codes[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(codes), at_ordered);
    if (n == 8) {
      _mm256_storeu_ps(yo + ox, best_ordered);
    } else {
      _mm256_maskstore_ps(yo + ox, _mm256_cmpgt_epi32(_mm256_set1_epi32(int(n)), lane), best_ordered);
    }
    for (i64 j = 0; j < n; ++j) ao[ox + j] = std::uint8_t(codes[j]);
  }
}
#else
inline void max_pool_2x2_row(const float* r0, const float* r1, float* yo, std::uint8_t* ao, i64 ow) {
  max_pool_2x2_scalar(r0, r1, yo, ao, ow);
}
#endif
// The backward of one row pair: r0 / r1 (2 ow floats each) get gy where the window's
// maximum was and 0 elsewhere.
inline void max_pool_2x2_backward_scalar(const float* g, const std::uint8_t* a, float* r0, float* r1, i64 n) {
  for (i64 ox = 0; ox < n; ++ox) {
    r0[2 * ox] = a[ox] == 0 ? g[ox] : 0.0f;
    r0[2 * ox + 1] = a[ox] == 1 ? g[ox] : 0.0f;
    r1[2 * ox] = a[ox] == 2 ? g[ox] : 0.0f;
    r1[2 * ox + 1] = a[ox] == 3 ? g[ox] : 0.0f;
  }
}

#if defined(__AVX2__)
inline void max_pool_2x2_backward_row(const float* g, const std::uint8_t* a, float* r0, float* r1, i64 ow) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (i64 ox = 0; ox < ow; ox += 8) {
    const i64 n = std::min<i64>(8, ow - ox);
    alignas(32) float gs[8] = {};
    alignas(16) std::uint8_t as[16] = {};
    std::copy_n(g + ox, n, gs), std::copy_n(a + ox, n, as);  // the tail without reading past the rows
    const __m256 gv = _mm256_load_ps(gs);
    const __m256i av = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(as)));
    const __m256 zero = _mm256_setzero_ps();
    auto at = [&](int code) {
      return _mm256_blendv_ps(zero, gv, _mm256_castsi256_ps(_mm256_cmpeq_epi32(av, _mm256_set1_epi32(code))));
    };
    const __m256 e0 = at(0), e1 = at(1), e2 = at(2), e3 = at(3);
    // Interleave (e0, e1) into row 0 and (e2, e3) into row 1: 16 floats each.
    const __m256 lo0 = _mm256_unpacklo_ps(e0, e1), hi0 = _mm256_unpackhi_ps(e0, e1);
    const __m256 lo1 = _mm256_unpacklo_ps(e2, e3), hi1 = _mm256_unpackhi_ps(e2, e3);
    const __m256 top_a = _mm256_permute2f128_ps(lo0, hi0, 0x20), top_b = _mm256_permute2f128_ps(lo0, hi0, 0x31);
    const __m256 bot_a = _mm256_permute2f128_ps(lo1, hi1, 0x20), bot_b = _mm256_permute2f128_ps(lo1, hi1, 0x31);
    float *t = r0 + 2 * ox, *u = r1 + 2 * ox;
    if (n == 8) {
      _mm256_storeu_ps(t, top_a), _mm256_storeu_ps(t + 8, top_b);
      _mm256_storeu_ps(u, bot_a), _mm256_storeu_ps(u + 8, bot_b);
    } else {
      const __m256i in_lo = _mm256_cmpgt_epi32(_mm256_set1_epi32(int(std::min<i64>(8, 2 * n))), lane);
      const __m256i in_hi = _mm256_cmpgt_epi32(_mm256_set1_epi32(int(std::max<i64>(0, 2 * n - 8))), lane);
      _mm256_maskstore_ps(t, in_lo, top_a), _mm256_maskstore_ps(t + 8, in_hi, top_b);
      _mm256_maskstore_ps(u, in_lo, bot_a), _mm256_maskstore_ps(u + 8, in_hi, bot_b);
    }
  }
}
#else
inline void max_pool_2x2_backward_row(const float* g, const std::uint8_t* a, float* r0, float* r1, i64 ow) {
  max_pool_2x2_backward_scalar(g, a, r0, r1, ow);
}
#endif
}  // namespace

void max_pool(const float* x, float* y, std::uint8_t* argmax, i64 planes, i64 h, i64 w, i64 k, i64 s) {
  const i64 oh = (h - k) / s + 1, ow = (w - k) / s + 1;
  if (k == 2 && s == 2) {  // the common case: rows 2oy and 2oy + 1 at once, branch-free
#pragma omp parallel for schedule(static)
    for (i64 p = 0; p < planes; ++p)
      for (i64 oy = 0; oy < oh; ++oy) {
        const float* r0 = x + p * h * w + 2 * oy * w;
        max_pool_2x2_row(r0, r0 + w, y + (p * oh + oy) * ow, argmax + (p * oh + oy) * ow, ow);
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
  if (k == 2 && s == 2) {  // windows tile the plane: every value written once, no zero fill first
#pragma omp parallel for schedule(static)
    for (i64 p = 0; p < planes; ++p) {
      float* plane = gx + p * h * w;
      for (i64 oy = 0; oy < oh; ++oy) {
        float* r0 = plane + 2 * oy * w;
        max_pool_2x2_backward_row(gy + (p * oh + oy) * ow, argmax + (p * oh + oy) * ow, r0, r0 + w, ow);
        if (w % 2 != 0) r0[w - 1] = r0[2 * w - 1] = 0.0f;  // the odd last column no window reads
      }
      if (h % 2 != 0) std::fill(plane + (h - 1) * w, plane + h * w, 0.0f);
    }
    return;
  }
#pragma omp parallel for schedule(static)
  for (i64 p = 0; p < planes; ++p) {
    std::fill(gx + p * h * w, gx + (p + 1) * h * w, 0.0f);
    for (i64 oy = 0; oy < oh; ++oy)
      for (i64 ox = 0; ox < ow; ++ox) {
        const i64 o = (p * oh + oy) * ow + ox, a = argmax[o];
        gx[p * h * w + (oy * s + a / k) * w + ox * s + a % k] += gy[o];
      }
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
