// Pieces shared by the tiled ROAST-MM GEMM kernels (roast_mm_gemm.cu: fp32 FMA and TF32
// mma.sync; roast_mm_wgmma.cu: TF32 wgmma on sm_90a): the operands of one product, the
// asynchronous-copy wrappers and the epilogue that writes a block of 128 x 128 results.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/roast_mm_device.cuh"

namespace roast {
namespace kernels {
namespace cuda {
namespace rmm {

// One product in GEMM form: C[Mg, Ng] = sum over Kg of A[Mg, Kg] * B[Kg, Ng], where
//   pass 0 forward   Y[M, N]  = lambda * X[M, K] * W          A = X,    B = W
//   pass 1 dX        dX[M, K] = lambda * dY[M, N] * W^T       A = dY,   B = W^T
//   pass 2 dM        dM[loc]  += lambda * sign * (X^T dY)     A = X^T,  B = dY
struct Operands {
  int pass;
  std::int64_t M, K, N;   // the product's own dimensions (X is M x K, W is K x N)
  const float* X;         // pass 0, 2
  const float* dY;        // pass 1, 2
  const float* memory;    // pass 0, 1
  float* out;             // Y (pass 0), dX (pass 1), dM (pass 2)
  WeightView w;
};

__device__ __forceinline__ void cp_async4(float* dst, const float* src, bool valid) {
  const unsigned d = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(d), "l"(src), "r"(valid ? 4 : 0));
}
__device__ __forceinline__ void cp_async16(float* dst, const float* src, int bytes) {
  const unsigned d = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(d), "l"(src), "r"(bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

// D += A * B on the tensor cores, m16n8k8 TF32 (sm_80+); the fp32 bits are read as TF32.
// Fragments (g = lane / 4, t = lane % 4): a = A[g][t], A[g+8][t], A[g][t+4], A[g+8][t+4];
// b = B[t][g], B[t+4][g]; c = C[g][2t], C[g][2t+1], C[g+8][2t], C[g+8][2t+1].
__device__ __forceinline__ void mma_tf32(float (&c)[4], const std::uint32_t (&a)[4], const std::uint32_t (&b)[2]) {
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

// fp32 precision on the tensor cores as three TF32 products (3xTF32): x = hi + lo, both
// rounded to TF32 (cvt.rna), and a * b ~ a_lo * b_hi + a_hi * b_lo + a_hi * b_hi. The dropped
// a_lo * b_lo and the rounding of lo are about 2^-22 of |a b|, against fp32's 2^-24 per
// product. The MMAs round their sums toward zero, so callers sum short runs of the reduction
// (32 indices) on the tensor cores, starting from zero, and add those runs in fp32.
__device__ __forceinline__ std::uint32_t to_tf32(float x) {
  std::uint32_t r;
  asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(r) : "f"(x));
  return r;
}
// hi (an fp32 value on entry) becomes its TF32 high part, lo the low part.
__device__ __forceinline__ void split_tf32(std::uint32_t& hi, std::uint32_t& lo) {
  const float x = __uint_as_float(hi);
  hi = to_tf32(x);
  lo = to_tf32(x - __uint_as_float(hi));
}
__device__ __forceinline__ void split_tf32(float& hi, float& lo) {
  std::uint32_t h = __float_as_uint(hi), l;
  split_tf32(h, l);
  hi = __uint_as_float(h), lo = __uint_as_float(l);
}
// c += a * b (m16n8k8) to fp32 accuracy from the split operands, small products first.
__device__ __forceinline__ void mma_3xtf32(float (&c)[4], const std::uint32_t (&a_hi)[4], const std::uint32_t (&a_lo)[4],
                                           const std::uint32_t (&b_hi)[2], const std::uint32_t (&b_lo)[2]) {
  mma_tf32(c, a_lo, b_hi);
  mma_tf32(c, a_hi, b_lo);
  mma_tf32(c, a_hi, b_hi);
}

// Writes a block's ROWS x 128 results (times lambda) in slabs of 32 rows staged through
// shared memory (at least 32 x 132 floats at `stage`), so that each warp writes (or, for dM,
// atomically adds) 32 consecutive columns of one row: whole 128-byte lines of Y / dX, runs of
// one tile row of the memory. Layout::coord(e, &row, &col) places this thread's value e; the
// block has THREADS threads. Only the slabs part_begin .. part_end - 1 are written (a cluster
// shares a tile's slabs out, see sum_over_cluster).
template <int PASS, class Layout, int THREADS, int NV, int ROWS = 128>
__device__ __forceinline__ void epilogue(const Operands& op, const float (&acc)[NV], std::int64_t m0,
                                         std::int64_t n0, float* stage, int part_begin = 0,
                                         int part_end = ROWS / 32) {
  constexpr int kRows = 32, kCols = 128, kLd = kCols + 4;
  for (int part = part_begin; part < part_end; ++part) {
#pragma unroll
    for (int e = 0; e < NV; ++e) {
      int r, c;
      Layout::coord(e, &r, &c);
      if (r / kRows == part) stage[(r - part * kRows) * kLd + c] = acc[e];
    }
    __syncthreads();
    const int c = threadIdx.x % kCols;
    for (int r = threadIdx.x / kCols; r < kRows; r += THREADS / kCols) {
      const std::int64_t row = m0 + part * kRows + r, col = n0 + c;
      const float v = op.w.lambda * stage[r * kLd + c];
      if (PASS == 0) {
        if (row < op.M && col < op.N) op.out[row * op.N + col] = v;
      } else if (PASS == 1) {
        if (row < op.M && col < op.K) op.out[row * op.K + col] = v;
      } else if (row < op.K && col < op.N) {
        float s;
        const std::int64_t cell = op.w.cell(std::uint32_t(row), std::uint32_t(col), &s);
        atomicAdd(op.out + cell, s * v);
      }
    }
    __syncthreads();
  }
}

// The tensor-core (wgmma, sm_90a) kernels of roast_mm_wgmma.cu, in TF32 or fp32 (3xTF32) as
// roast::precision() says. Each returns false, having done nothing, when it cannot serve the
// product: dM in fp32, no sm_90a code or device, or a mapping / operand layout outside its
// fast path (see the file's header).
bool wgmma_gemm(const Operands& op);
// TF32 dM on wgmma (roast_mm_wgmma_dm.cu), called by wgmma_gemm for pass 2; false as above.
bool wgmma_backward_memory(const Operands& op);
// Whether the current device runs the sm_90a code of the wgmma kernels (asked once per device).
bool wgmma_available();

}  // namespace rmm
}  // namespace cuda
}  // namespace kernels
}  // namespace roast
