// The packed GEMM engine of ROAST-MM: a 6 x 16 FMA micro-kernel, A packing, and the
// block loops (BLIS order: panel of B packed once per depth block, A packed per row block,
// micro-kernels over the packed panels). B is packed by a PackB (from hashed tiles of W,
// from W^T, or from a dense matrix), which is where the ROAST fetch happens.
//
// On this machine's Zen 3 cores the micro-kernel runs at ~80 GFLOP/s per core, above
// Eigen's sgemm (~60), which is why it is used instead of calling Eigen per panel.
#include <omp.h>

#include <cstdlib>
#include <cstring>
#include <memory>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

#include "kernels/bf16.h"
#include "kernels/cpu/roast_mm_internal.h"

namespace roast {
namespace kernels {
namespace cpu {
namespace rmm {

namespace {

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
struct ThreadScratch {
  std::unique_ptr<void, FreeDeleter> data[kNumSlots];
  std::size_t capacity[kNumSlots] = {};
};

}  // namespace

// acc ? C += Ap * Bp : C = Ap * Bp for a full kMR x kNR block; Ap is kc x kMR, Bp kc x kNR.
#if defined(__AVX2__) && defined(__FMA__)
void micro_kernel(i64 kc, const float* Ap, const float* Bp, float* C, i64 ldc, bool acc) {
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  for (i64 p = 0; p < kc; ++p) {
    const __m256 b0 = _mm256_load_ps(Bp), b1 = _mm256_load_ps(Bp + 8);
    __m256 a = _mm256_broadcast_ss(Ap + 0);
    c00 = _mm256_fmadd_ps(a, b0, c00);
    c01 = _mm256_fmadd_ps(a, b1, c01);
    a = _mm256_broadcast_ss(Ap + 1);
    c10 = _mm256_fmadd_ps(a, b0, c10);
    c11 = _mm256_fmadd_ps(a, b1, c11);
    a = _mm256_broadcast_ss(Ap + 2);
    c20 = _mm256_fmadd_ps(a, b0, c20);
    c21 = _mm256_fmadd_ps(a, b1, c21);
    a = _mm256_broadcast_ss(Ap + 3);
    c30 = _mm256_fmadd_ps(a, b0, c30);
    c31 = _mm256_fmadd_ps(a, b1, c31);
    a = _mm256_broadcast_ss(Ap + 4);
    c40 = _mm256_fmadd_ps(a, b0, c40);
    c41 = _mm256_fmadd_ps(a, b1, c41);
    a = _mm256_broadcast_ss(Ap + 5);
    c50 = _mm256_fmadd_ps(a, b0, c50);
    c51 = _mm256_fmadd_ps(a, b1, c51);
    Ap += kMR;
    Bp += kNR;
  }
  const __m256 rows[kMR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  for (int r = 0; r < kMR; ++r) {
    float* c = C + r * ldc;
    __m256 lo = rows[r][0], hi = rows[r][1];
    if (acc) {
      lo = _mm256_add_ps(lo, _mm256_loadu_ps(c));
      hi = _mm256_add_ps(hi, _mm256_loadu_ps(c + 8));
    }
    _mm256_storeu_ps(c, lo);
    _mm256_storeu_ps(c + 8, hi);
  }
}
#else
void micro_kernel(i64 kc, const float* Ap, const float* Bp, float* C, i64 ldc, bool acc) {
  float t[kMR][kNR] = {};
  for (i64 p = 0; p < kc; ++p, Ap += kMR, Bp += kNR)
    for (int r = 0; r < kMR; ++r)
      for (int c = 0; c < kNR; ++c) t[r][c] += Ap[r] * Bp[c];
  for (int r = 0; r < kMR; ++r)
    for (int c = 0; c < kNR; ++c) C[r * ldc + c] = acc ? C[r * ldc + c] + t[r][c] : t[r][c];
}
#endif

namespace {

// The micro-kernel on a partial block (mr <= kMR rows, nr <= kNR columns of C valid).
void micro_kernel_edge(i64 kc, const float* Ap, const float* Bp, float* C, i64 ldc, i64 mr, i64 nr, bool acc) {
  alignas(64) float t[kMR * kNR];
  micro_kernel(kc, Ap, Bp, t, kNR, false);
  for (i64 r = 0; r < mr; ++r)
    for (i64 c = 0; c < nr; ++c) C[r * ldc + c] = acc ? C[r * ldc + c] + t[r * kNR + c] : t[r * kNR + c];
}

}  // namespace

void* thread_bytes(Slot slot, std::size_t n_bytes) {
  thread_local ThreadScratch scratch;
  if (scratch.capacity[slot] < n_bytes) {
    const std::size_t rounded = (n_bytes + 4095) / 4096 * 4096;
    void* p = std::aligned_alloc(64, rounded);
    if (!p) throw std::bad_alloc();
    scratch.data[slot].reset(p);
    scratch.capacity[slot] = rounded;
  }
  return scratch.data[slot].get();
}

Blocking choose_blocking(i64 depth_unit, i64 width_unit) {
  // kc x nc floats of packed B (256 KB) and mc x kc of packed A (144 KB) stay in the 1 MB L2;
  // one kc x kNR micro-panel of B (16 KB) stays in L1 while the micro-kernel walks A.
  constexpr i64 kTargetDepth = 256, kTargetWidth = 256, kRows = 144;
  const i64 kc = depth_unit * std::max<i64>(1, kTargetDepth / depth_unit);
  const i64 nc = width_unit * std::max<i64>(1, kTargetWidth / width_unit);
  return {kRows, kc, nc};
}

void pack_a(const OperandA& A, i64 i0, i64 mc, i64 p0, i64 kc, float* Ap) {
  for (i64 s = 0; s < mc; s += kMR) {
    float* strip = Ap + s * kc;
    const i64 n_rows = std::min(kMR, mc - s);
    if (A.trans) {  // op(A)[i, p] = A[p, i]: kMR consecutive floats per depth step
      for (i64 p = 0; p < kc; ++p) {
        const float* src = A.a + (p0 + p) * A.lda + i0 + s;
        float* dst = strip + p * kMR;
        for (i64 r = 0; r < n_rows; ++r) dst[r] = src[r];
        for (i64 r = n_rows; r < kMR; ++r) dst[r] = 0.0f;
      }
      continue;
    }
    for (i64 r = 0; r < kMR; ++r) {
      if (r >= n_rows) {
        for (i64 p = 0; p < kc; ++p) strip[p * kMR + r] = 0.0f;
        continue;
      }
      const float* src = A.a + (i0 + s + r) * A.lda + p0;
      for (i64 p = 0; p < kc; ++p) strip[p * kMR + r] = src[p];
    }
  }
  if (A.bf16) bf16_round_n(Ap, Ap, round_up(mc, kMR) * kc);
}

void gemm_block(const OperandA& A, const PackB& B, i64 depth, i64 i0, i64 i1, i64 j0, i64 j1, const Blocking& blk,
                float* C, i64 ldc) {
  if (i1 <= i0 || j1 <= j0) return;
  float* Bp = thread_floats(kSlotPackB, blk.kc * round_up(blk.nc, kNR));
  float* Ap = thread_floats(kSlotPackA, round_up(blk.mc, kMR) * blk.kc);
  for (i64 jc = j0; jc < j1; jc += blk.nc) {
    const i64 nc = std::min(blk.nc, j1 - jc);
    for (i64 pc = 0; pc < depth; pc += blk.kc) {
      const i64 kc = std::min(blk.kc, depth - pc);
      B.pack(pc, kc, jc, nc, Bp);
      for (i64 ic = i0; ic < i1; ic += blk.mc) {
        const i64 mc = std::min(blk.mc, i1 - ic);
        pack_a(A, ic, mc, pc, kc, Ap);
        for (i64 jr = 0; jr < nc; jr += kNR) {
          const float* b = Bp + jr * kc;
          const i64 nr = std::min(kNR, nc - jr);
          for (i64 ir = 0; ir < mc; ir += kMR) {
            float* c = C + (ic - i0 + ir) * ldc + (jc - j0 + jr);
            const i64 mr = std::min(kMR, mc - ir);
            if (mr == kMR && nr == kNR) micro_kernel(kc, Ap + ir * kc, b, c, ldc, pc > 0);
            else micro_kernel_edge(kc, Ap + ir * kc, b, c, ldc, mr, nr, pc > 0);
          }
        }
      }
    }
  }
}

void gemm_parallel(const OperandA& A, const PackB& B, i64 rows, i64 cols, i64 depth, const Blocking& blk, float* C,
                   i64 ldc) {
  const i64 n_panels = ceil_div(cols, blk.nc);
#pragma omp parallel
  {
    const i64 n_threads = omp_get_num_threads(), t = omp_get_thread_num();
    // tn groups of whole column panels; each group split into tm row ranges (multiples of kMR).
    const i64 tn = std::min(n_threads, n_panels);
    const i64 tm = std::max<i64>(1, std::min(n_threads / tn, rows / (2 * kMR)));
    if (t < tn * tm) {
      const i64 jt = t % tn, it = t / tn;
      const i64 p0 = n_panels * jt / tn, p1 = n_panels * (jt + 1) / tn;
      const i64 i0 = (rows * it / tm) / kMR * kMR;
      const i64 i1 = it + 1 == tm ? rows : (rows * (it + 1) / tm) / kMR * kMR;
      const i64 j0 = p0 * blk.nc, j1 = std::min(cols, p1 * blk.nc);
      gemm_block(A, B, depth, i0, i1, j0, j1, blk, C + i0 * ldc + j0, ldc);
    }
  }
}

}  // namespace rmm
}  // namespace cpu
}  // namespace kernels
}  // namespace roast
