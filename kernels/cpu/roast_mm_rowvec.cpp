// Single-row ROAST-MM kernels (M <= kSmallRows, one row of X or dY at a time): GEMV-like
// passes that read each tile row once from the memory, with no packing.
//
// Fast path (AVX2, tiled mappings): a tile column is cut into 64-wide chunks; the chunk's
// 64 outputs (forward) or 64 dY values (backward) stay in 8 registers while the tile rows
// stream past. An element sign is applied as a register blend driven by the sign word's
// bits (vpsllv puts bit t of the word in lane t's sign bit), so it costs two ops per 8
// weights and no sign vector in memory. Everything else (partial chunks, untiled schemes,
// no AVX2) goes through the generic run walk.
#include <cstring>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define ROAST_RMM_AVX2 1
#else
#define ROAST_RMM_AVX2 0
#endif

#include "kernels/cpu/roast_mm_internal.h"

namespace roast {
namespace kernels {
namespace cpu {
namespace rmm {

namespace {

constexpr i64 kChunk = 64;  // columns per fast-path chunk: 8 AVX registers

// The tile (tr, tc) of a tiled mapping: first cell, lambda * tile sign, sign hash.
struct TileInfo {
  i64 start;
  float scale;
  std::uint64_t th;
};
TileInfo tile_info(const Mapping& map, i64 tr, i64 tc) {
  TileInfo t{map.tile_start(tr, tc), map.lambda, 0};
  if (map.sign_mode != SignMode::none) {
    t.th = map.tile_sign_hash(tr, tc);
    if (map.sign_mode == SignMode::tile) t.scale *= hash::sign_of(t.th);
  }
  return t;
}

// Bits w .. w + 63 of a tile's element-sign stream (bit w is the sign of in-tile element w).
std::uint64_t sign_bits64(std::uint64_t th, i64 w) {
  const i64 word = w >> 6, off = w & 63;
  const std::uint64_t lo = Mapping::sign_word(th, std::uint64_t(word));
  if (off == 0) return lo;
  return (lo >> off) | (Mapping::sign_word(th, std::uint64_t(word + 1)) << (64 - off));
}

bool fast_path(const Mapping& map) { return ROAST_RMM_AVX2 && map.tiled() && map.tile_cols % kChunk == 0; }

#if ROAST_RMM_AVX2
// Lane shifts that move bit 8g + t of a 32-bit half into lane t's sign bit.
struct SignShifts {
  __m256i s[4];
  SignShifts() {
    for (int g = 0; g < 4; ++g)
      s[g] = _mm256_setr_epi32(31 - 8 * g, 30 - 8 * g, 29 - 8 * g, 28 - 8 * g, 27 - 8 * g, 26 - 8 * g, 25 - 8 * g,
                               24 - 8 * g);
  }
};

// v with lane t of group g negated where bit 8g + t of `bits` is set (sign bit of the mask).
inline __m256 apply_sign(__m256 v, __m256 neg_v, std::uint64_t bits, const SignShifts& sh, int g) {
  const __m256i half = _mm256_set1_epi32(int(std::uint32_t(g < 4 ? bits : bits >> 32)));
  return _mm256_blendv_ps(v, neg_v, _mm256_castsi256_ps(_mm256_sllv_epi32(half, sh.s[g & 3])));
}

// y[0:64] = sum over rows k in [0, K) of x[k] * w(k, col0 : col0 + 64), tile column tc,
// in-tile column offset c0 (full chunk).
void forward_chunk(const Mapping& map, const float* memory, const float* x, i64 tc, i64 c0, float* y) {
  static const SignShifts sh;
  const bool element = map.sign_mode == SignMode::element;
  const i64 br = map.tile_rows, bc = map.tile_cols, K = map.rows;
  __m256 acc[8];
  for (int g = 0; g < 8; ++g) acc[g] = _mm256_setzero_ps();
  for (i64 tr = 0; tr * br < K; ++tr) {
    const TileInfo t = tile_info(map, tr, tc);
    const i64 rows = std::min(br, K - tr * br);
    for (i64 r = 0; r < rows; ++r) {
      const float* src = memory + t.start + r * bc + c0;
      const __m256 a = _mm256_set1_ps(x[tr * br + r] * t.scale);
      if (element) {
        const std::uint64_t bits = sign_bits64(t.th, r * bc + c0);
        const __m256 neg_a = _mm256_sub_ps(_mm256_setzero_ps(), a);
        for (int g = 0; g < 8; ++g)
          acc[g] = _mm256_fmadd_ps(apply_sign(a, neg_a, bits, sh, g), _mm256_loadu_ps(src + 8 * g), acc[g]);
      } else {
        for (int g = 0; g < 8; ++g) acc[g] = _mm256_fmadd_ps(a, _mm256_loadu_ps(src + 8 * g), acc[g]);
      }
    }
  }
  for (int g = 0; g < 8; ++g) _mm256_storeu_ps(y + 8 * g, acc[g]);
}

// dx[k] += sum_j dy[j] * w(k, col0 + j) for rows k in [k0, k1) of tile column tc.
void backward_input_chunk(const Mapping& map, const float* memory, const float* dy, i64 tc, i64 c0, i64 k0, i64 k1,
                          float* dx) {
  static const SignShifts sh;
  const bool element = map.sign_mode == SignMode::element;
  const i64 br = map.tile_rows, bc = map.tile_cols;
  __m256 d[8], neg_d[8];
  for (int g = 0; g < 8; ++g) {
    d[g] = _mm256_loadu_ps(dy + 8 * g);
    neg_d[g] = _mm256_sub_ps(_mm256_setzero_ps(), d[g]);
  }
  for (i64 tr = k0 / br; tr * br < k1; ++tr) {
    const TileInfo t = tile_info(map, tr, tc);
    const i64 r0 = std::max(k0, tr * br) - tr * br, r1 = std::min(k1, tr * br + br) - tr * br;
    for (i64 r = r0; r < r1; ++r) {
      const float* src = memory + t.start + r * bc + c0;
      __m256 acc = _mm256_setzero_ps();
      if (element) {
        const std::uint64_t bits = sign_bits64(t.th, r * bc + c0);
        for (int g = 0; g < 8; ++g)
          acc = _mm256_fmadd_ps(apply_sign(d[g], neg_d[g], bits, sh, g), _mm256_loadu_ps(src + 8 * g), acc);
      } else {
        for (int g = 0; g < 8; ++g) acc = _mm256_fmadd_ps(d[g], _mm256_loadu_ps(src + 8 * g), acc);
      }
      const __m128 quad = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
      const __m128 pair = _mm_add_ps(quad, _mm_movehl_ps(quad, quad));
      dx[tr * br + r] += t.scale * _mm_cvtss_f32(_mm_add_ss(pair, _mm_shuffle_ps(pair, pair, 1)));
    }
  }
}

// dM[cell] += x[k] * lambda * sign * dy[j] for the cells of tile column tc, chunk c0, that
// lie in `slice` (rows that straddle the slice edge go through the scalar tail).
void backward_memory_chunk(const Mapping& map, const float* x, const float* dy, i64 tc, i64 c0, CellRange slice,
                           float* dM) {
  static const SignShifts sh;
  const bool element = map.sign_mode == SignMode::element;
  const i64 br = map.tile_rows, bc = map.tile_cols, K = map.rows;
  __m256 d[8];
  for (int g = 0; g < 8; ++g) d[g] = _mm256_loadu_ps(dy + 8 * g);
  for (i64 tr = 0; tr * br < K; ++tr) {
    const i64 start = map.tile_start(tr, tc);
    if (slice.misses(start, map.tile_size())) continue;
    const TileInfo t = tile_info(map, tr, tc);
    const i64 rows = std::min(br, K - tr * br);
    for (i64 r = 0; r < rows; ++r) {
      const i64 cell = t.start + r * bc + c0;
      if (slice.misses(cell, kChunk)) continue;
      const float a = x[tr * br + r] * t.scale;
      const std::uint64_t bits = element ? sign_bits64(t.th, r * bc + c0) : 0;
      float* out = dM + cell;
      if (cell >= slice.lo && cell + kChunk <= slice.hi) {
        const __m256 va = _mm256_set1_ps(a), neg_a = _mm256_set1_ps(-a);
        for (int g = 0; g < 8; ++g) {
          const __m256 s = element ? apply_sign(va, neg_a, bits, sh, g) : va;
          _mm256_storeu_ps(out + 8 * g, _mm256_fmadd_ps(s, d[g], _mm256_loadu_ps(out + 8 * g)));
        }
        continue;
      }
      for (i64 j = std::max<i64>(0, slice.lo - cell); j < std::min<i64>(kChunk, slice.hi - cell); ++j)
        out[j] += (((bits >> j) & 1u) ? -a : a) * dy[j];
    }
  }
}
#endif

}  // namespace

void row_forward(const Mapping& map, const float* memory, const float* x, float* y, i64 n0, i64 n1) {
  std::memset(y + n0, 0, std::size_t(n1 - n0) * sizeof(float));
  i64 n = n0;
#if ROAST_RMM_AVX2
  if (fast_path(map))
    for (; n + kChunk <= n1; n += kChunk) forward_chunk(map, memory, x, n / map.tile_cols, n % map.tile_cols, y + n);
#endif
  if (n == n1) return;
  for_each_run(map, memory, 0, map.rows, n, n1, true, [&](const Run& r) {
    float* out = y + r.n;
    const float xk = x[r.k];
    if (r.signs) {
      for (i64 j = 0; j < r.len; ++j) out[j] += xk * r.signs[j] * r.src[j];
    } else {
      const float a = xk * r.scale;
      for (i64 j = 0; j < r.len; ++j) out[j] += a * r.src[j];
    }
  });
}

void row_backward_input(const Mapping& map, const float* memory, const float* dy, float* dx, i64 k0, i64 k1) {
  std::memset(dx + k0, 0, std::size_t(k1 - k0) * sizeof(float));
  i64 n = 0;
#if ROAST_RMM_AVX2
  if (fast_path(map))
    for (; n + kChunk <= map.cols; n += kChunk)
      backward_input_chunk(map, memory, dy + n, n / map.tile_cols, n % map.tile_cols, k0, k1, dx);
#endif
  if (n == map.cols) return;
  for_each_run(map, memory, k0, k1, n, map.cols, true,
               [&](const Run& r) { dx[r.k] += dot_scaled(dy + r.n, r.src, r.signs, r.scale, r.len); });
}

void row_backward_memory(const Mapping& map, const float* x, const float* dy, float* dM, CellRange slice) {
  i64 n = 0;
#if ROAST_RMM_AVX2
  if (fast_path(map))
    for (; n + kChunk <= map.cols; n += kChunk)
      backward_memory_chunk(map, x, dy + n, n / map.tile_cols, n % map.tile_cols, slice, dM);
#endif
  if (n == map.cols) return;
  for_each_run(
      map, nullptr, 0, map.rows, n, map.cols, true,
      [&](const Run& r) {
        const i64 j0 = std::max(slice.lo, r.cell) - r.cell, j1 = std::min(slice.hi, r.cell + r.len) - r.cell;
        float* out = dM + r.cell;
        const float xk = x[r.k];
        const float* d = dy + r.n;
        if (r.signs) {
          for (i64 j = j0; j < j1; ++j) out[j] += xk * r.signs[j] * d[j];
        } else {
          const float a = xk * r.scale;
          for (i64 j = j0; j < j1; ++j) out[j] += a * d[j];
        }
      },
      slice);
}

}  // namespace rmm
}  // namespace cpu
}  // namespace kernels
}  // namespace roast
