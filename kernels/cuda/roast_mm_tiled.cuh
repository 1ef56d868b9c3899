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
  bool tf32 = false;      // the caller's precision: TF32 products, else fp32
};

// Atomic adds without a returned value: one cell, and (sm_90+) two 8-byte aligned cells in
// one operation (each cell's add atomic on its own).
__device__ __forceinline__ void red_add(float* cell, float v) {
  asm volatile("red.global.add.f32 [%0], %1;\n" ::"l"(cell), "f"(v) : "memory");
}
__device__ __forceinline__ void red_add2(float* cell, float a, float b) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("red.global.add.v2.f32 [%0], {%1, %2};\n" ::"l"(cell), "f"(a), "f"(b) : "memory");
#else
  red_add(cell, a), red_add(cell + 1, b);
#endif
}

// The tiles under a block's rows row0 .. row0 + rows - 1 and columns col0 .. col0 + cols - 1,
// copied by the block into shared memory (`room`, `room_tiles` entries) when they fit, else
// read from the weight's table. Call from every thread, then __syncthreads().
struct TileWindow {
  const TileInfo* tiles;
  std::uint32_t tr0, tc0;
  std::int64_t stride;  // entries per tile row
  __device__ __forceinline__ const TileInfo& at(std::uint32_t tr, std::uint32_t tc) const {
    return tiles[std::int64_t(tr - tr0) * stride + (tc - tc0)];
  }
};
__device__ __forceinline__ TileWindow tile_window(const WeightView& w, std::uint32_t row0, int rows,
                                                  std::uint32_t col0, int cols, TileInfo* room, int room_tiles) {
  const std::uint32_t tr0 = w.div_rows.div(row0), tc0 = w.div_cols.div(col0);
  const int ntr = int(w.div_rows.div(row0 + std::uint32_t(rows) - 1) - tr0) + 1;
  const int ntc = int(w.div_cols.div(col0 + std::uint32_t(cols) - 1) - tc0) + 1;
  if (ntr * ntc > room_tiles) return {w.tiles, 0, 0, w.n_tile_cols};
  for (int i = int(threadIdx.x); i < ntr * ntc; i += int(blockDim.x))
    room[i] = w.tiles[std::int64_t(tr0 + std::uint32_t(i / ntc)) * w.n_tile_cols + tc0 + std::uint32_t(i % ntc)];
  return {room, tr0, tc0, ntc};
}

// dM: adds lambda * sign * vals to the cells of the block's rows row0 .. row0 + rows - 1 and
// columns col0 .. col0 + cols - 1 (inside `tiles`; row r's values at vals + r * ld, e.g. in
// shared memory), warp w taking rows w, w + 8, .... It goes by the columns' tile runs (a run:
// the columns of one tile, consecutive cells in every row), so a run's column split is worked
// out once per warp and each row's part of it costs a tile lookup and the adds: each lane adds
// two 8-byte aligned cells in one operation, and lane 31 adds the run's unaligned first and
// last cells alone. (Adding each thread's accumulator pairs straight from the registers made
// half of them two adds, as half the tile starts are odd; four aligned cells per operation
// measured 2-3% slower at 512 x 10240^2. A warp per row, working out each run's split for
// every row, spent ~110 instructions per row's run (ncu, 1M-float 512 x 10240^2) and was
// slower: H100 TF32 dM 0.70 -> 0.66 ms there, 512 x 4096^2 0.131 -> 0.122, 4096^3 0.62 ->
// 0.60, 128M floats unchanged at 0.80-0.82, where the adds waited on DRAM until the dM kernel
// prefetched its cells: docs/benchmarks.md.)
__device__ __forceinline__ void scatter_block(const WeightView& w, const TileWindow& tiles, float* dM, std::uint32_t row0,
                                              int rows, std::uint32_t col0, int cols, const float* vals, int ld) {
  const int lane = int(threadIdx.x) % 32, warp = int(threadIdx.x) / 32, warps = int(blockDim.x) / 32;
  for (int c = 0; c < cols;) {
    const std::uint32_t col = col0 + std::uint32_t(c), tc = w.div_cols.div(col), nc = col - tc * std::uint32_t(w.tile_cols);
    const int len = min(cols - c, w.tile_cols - int(nc));
    for (int r = warp; r < rows; r += warps) {
      const std::uint32_t row = row0 + std::uint32_t(r), tr = w.div_rows.div(row);
      const std::uint32_t first = (row - tr * std::uint32_t(w.tile_rows)) * std::uint32_t(w.tile_cols) + nc;  // in-tile index
      const TileInfo t = tiles.at(tr, tc);
      float* cell = dM + t.start + first;
      const float* v = vals + r * ld + c;
      const int lead = min(len, int((reinterpret_cast<std::uintptr_t>(cell) >> 2) & 1));
      const int pairs = (len - lead) / 2;
      const bool last = ((len - lead) & 1) != 0;
      if (w.sign != kElementSign) {  // one factor for the whole run
        const float f = w.lambda * w.sign_of(t.sign_hash, 0);
        for (int i = lane; i < pairs; i += 32) red_add2(cell + lead + 2 * i, f * v[lead + 2 * i], f * v[lead + 2 * i + 1]);
        if (lane == 31) {
          if (lead) red_add(cell, f * v[0]);
          if (last) red_add(cell + len - 1, f * v[len - 1]);
        }
      } else {
        for (int i = lane; i < pairs; i += 32) {
          const int at = lead + 2 * i;
          const std::uint32_t e = first + std::uint32_t(at);
          red_add2(cell + at, w.lambda * w.sign_of(t.sign_hash, e) * v[at], w.lambda * w.sign_of(t.sign_hash, e + 1) * v[at + 1]);
        }
        if (lane == 31) {
          if (lead) red_add(cell, w.lambda * w.sign_of(t.sign_hash, first) * v[0]);
          if (last) red_add(cell + len - 1, w.lambda * w.sign_of(t.sign_hash, first + std::uint32_t(len - 1)) * v[len - 1]);
        }
      }
    }
    c += len;
  }
}

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
// op.tf32 says. Each returns false, having done nothing, when it cannot serve the
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
