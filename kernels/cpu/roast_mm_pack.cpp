// Packing of B panels for the ROAST-MM GEMM: from the hashed tiles of W (forward), from
// W^T (backward-input) and from a dense matrix (dY, backward-memory). This is the ROAST
// fetch: a tile row is one contiguous read at a hashed offset, and lambda * sign is folded
// into the copy, so the micro-kernel sees a plain packed panel.
//
// Packed layout (see PackB): strips of kNR columns, Bp[s * kc * kNR + p * kNR + c].
#include <cstring>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include "kernels/bf16.h"
#include "kernels/cpu/roast_mm_internal.h"

namespace roast {
namespace kernels {
namespace cpu {
namespace rmm {

void tile_element_signs(std::uint64_t th, i64 w0, i64 len, float s, float* out) {
#if defined(__AVX2__)
  // Group g of 8 lanes: vpsllv by (31 - 8g - t) puts bit 8g + t of a 32-bit half in lane t's
  // sign bit; blendv picks -s there. Two ops and a store per 8 weights.
  static const __m256i kShift[4] = {_mm256_setr_epi32(31, 30, 29, 28, 27, 26, 25, 24),
                                    _mm256_setr_epi32(23, 22, 21, 20, 19, 18, 17, 16),
                                    _mm256_setr_epi32(15, 14, 13, 12, 11, 10, 9, 8),
                                    _mm256_setr_epi32(7, 6, 5, 4, 3, 2, 1, 0)};
  const __m256 plus_s = _mm256_set1_ps(s), minus_s = _mm256_set1_ps(-s);
#endif
  i64 j = 0;
  while (j < len) {
    const i64 w = w0 + j;
    const std::uint64_t word = Mapping::sign_word(th, std::uint64_t(w >> 6)) >> (w & 63);
    const i64 n = std::min(len - j, 64 - (w & 63));
    i64 t = 0;
#if defined(__AVX2__)
    const __m256i halves[2] = {_mm256_set1_epi32(int(std::uint32_t(word))),
                               _mm256_set1_epi32(int(std::uint32_t(word >> 32)))};
    for (; t + 8 <= n; t += 8) {
      const __m256i mask = _mm256_sllv_epi32(halves[t >> 5], kShift[(t >> 3) & 3]);
      _mm256_storeu_ps(out + j + t, _mm256_blendv_ps(plus_s, minus_s, _mm256_castsi256_ps(mask)));
    }
#endif
    for (; t < n; ++t) out[j + t] = ((word >> t) & 1u) ? -s : s;
    j += n;
  }
}

float dot_scaled(const float* a, const float* b, const float* signs, float scale, i64 len) {
  i64 j = 0;
  float sum = 0.0f;
#if defined(__AVX2__) && defined(__FMA__)
  __m256 acc = _mm256_setzero_ps();
  if (signs) {
    for (; j + 8 <= len; j += 8)
      acc = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_loadu_ps(a + j), _mm256_loadu_ps(signs + j)), _mm256_loadu_ps(b + j),
                            acc);
  } else {
    for (; j + 8 <= len; j += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + j), _mm256_loadu_ps(b + j), acc);
  }
  const __m128 quad = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
  const __m128 pair = _mm_add_ps(quad, _mm_movehl_ps(quad, quad));
  sum = _mm_cvtss_f32(_mm_add_ss(pair, _mm_shuffle_ps(pair, pair, 1)));
  if (!signs) sum *= scale;
#endif
  float tail = 0.0f;
  for (; j < len; ++j) tail += a[j] * b[j] * (signs ? signs[j] : scale);
  return sum + tail;
}

void round_packed_b(i64 kc, i64 nc, float* Bp) { bf16_round_n(Bp, Bp, ceil_div(nc, kNR) * kc * kNR); }

const float* bf16_copy(Slot slot, const float* x, i64 n) {
  float* out = thread_floats(slot, n);
  bf16_round_n(x, out, n);
  return out;
}

namespace {

// Zeroes the padding columns [width, round_up(width, kNR)) of the last strip.
void zero_padding(i64 kc, i64 width, float* Bp) {
  const i64 used = width % kNR;
  if (used == 0) return;
  float* strip = Bp + (width / kNR) * kc * kNR;
  for (i64 p = 0; p < kc; ++p) std::memset(strip + p * kNR + used, 0, std::size_t(kNR - used) * sizeof(float));
}

// Writes run r as packed row `row`, columns [col, col + r.len), splitting at strip edges.
void put_run_as_row(const Run& r, i64 row, i64 col, i64 kc, float* Bp) {
  i64 j = 0;
  while (j < r.len) {
    const i64 c = col + j, in_strip = c % kNR;
    const i64 n = std::min(r.len - j, kNR - in_strip);
    float* dst = Bp + (c / kNR) * kc * kNR + row * kNR + in_strip;
    const float* src = r.src + j;
    if (r.signs) {
      const float* sg = r.signs + j;
      for (i64 t = 0; t < n; ++t) dst[t] = src[t] * sg[t];
    } else {
      for (i64 t = 0; t < n; ++t) dst[t] = src[t] * r.scale;
    }
    j += n;
  }
}

#if defined(__AVX2__)
// Transposes the 8 x 8 block held in r[0..7] (rows in, rows out).
inline void transpose8(__m256 r[8]) {
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  const __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  const __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  const __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
  r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
  r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
  r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
  r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
  r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
  r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
  r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}
#endif

// Bp (strips of kNR columns, depth kc) = S^T for a row-major staging block S[width][kc]:
// Bp[s][p][c] = S[s * kNR + c][p], columns past width zero.
void transpose_into_strips(const float* S, i64 width, i64 kc, float* Bp) {
  for (i64 s = 0; s * kNR < width; ++s) {
    float* strip = Bp + s * kc * kNR;
    for (i64 h = 0; h < kNR; h += 8) {
      const i64 row0 = s * kNR + h, n_rows = std::max<i64>(0, std::min<i64>(8, width - row0));
      i64 p = 0;
#if defined(__AVX2__)
      for (; p + 8 <= kc; p += 8) {
        __m256 r[8];
        for (i64 i = 0; i < 8; ++i) r[i] = i < n_rows ? _mm256_loadu_ps(S + (row0 + i) * kc + p) : _mm256_setzero_ps();
        transpose8(r);
        for (i64 i = 0; i < 8; ++i) _mm256_storeu_ps(strip + (p + i) * kNR + h, r[i]);
      }
#endif
      for (; p < kc; ++p)
        for (i64 i = 0; i < 8; ++i) strip[p * kNR + h + i] = i < n_rows ? S[(row0 + i) * kc + p] : 0.0f;
    }
  }
}

}  // namespace

// B = W[p0 : p0 + kc, j0 : j0 + nc] (depth = rows of W).
void PackW::pack(i64 p0, i64 kc, i64 j0, i64 nc, float* Bp) const {
  zero_padding(kc, nc, Bp);
  for_each_run(map_, memory_, p0, p0 + kc, j0, j0 + nc, true,
               [&](const Run& r) { put_run_as_row(r, r.k - p0, r.n - j0, kc, Bp); });
  if (bf16_) round_packed_b(kc, nc, Bp);
}

// B = W^T[p0 : p0 + kc, j0 : j0 + nc]: depth runs over columns n of W, width over rows k.
// The W block is first staged row-major (contiguous tile-row reads, signs folded), then
// transposed 8 x 8 in registers into the strips.
void PackWt::pack(i64 p0, i64 kc, i64 j0, i64 nc, float* Bp) const {
  float* S = thread_floats(kSlotStage, nc * kc);
  for_each_run(map_, memory_, j0, j0 + nc, p0, p0 + kc, true, [&](const Run& r) {
    float* dst = S + (r.k - j0) * kc + (r.n - p0);
    if (r.signs) {
      for (i64 j = 0; j < r.len; ++j) dst[j] = r.src[j] * r.signs[j];
    } else {
      for (i64 j = 0; j < r.len; ++j) dst[j] = r.src[j] * r.scale;
    }
  });
  transpose_into_strips(S, nc, kc, Bp);
  if (bf16_) round_packed_b(kc, nc, Bp);
}

void PackDense::pack(i64 p0, i64 kc, i64 j0, i64 nc, float* Bp) const {
  for (i64 s = 0; s * kNR < nc; ++s) {
    const i64 n = std::min(kNR, nc - s * kNR);
    float* strip = Bp + s * kc * kNR;
    for (i64 p = 0; p < kc; ++p) {
      const float* src = b_ + (p0 + p) * ldb_ + j0 + s * kNR;
      float* dst = strip + p * kNR;
      std::memcpy(dst, src, std::size_t(n) * sizeof(float));
      for (i64 c = n; c < kNR; ++c) dst[c] = 0.0f;
    }
  }
  if (bf16_) round_packed_b(kc, nc, Bp);
}

}  // namespace rmm
}  // namespace cpu
}  // namespace kernels
}  // namespace roast
