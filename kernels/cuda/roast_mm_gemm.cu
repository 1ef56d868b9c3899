// The tiled ROAST-MM GEMM kernels: forward, dX and dM, fp32 (FMA) or TF32 (tensor cores).
//
// One kernel template serves the three products; they differ only in how the A and B
// operand blocks are read and how the result leaves:
//   pass 0 forward   Y[M, N]  = lambda * X[M, K] * W          A = X,    B = W      (via the view)
//   pass 1 dX        dX[M, K] = lambda * dY[M, N] * W^T       A = dY,   B = W^T    (via the view)
//   pass 2 dM        dM[loc]  += lambda * sign * (X^T dY)     A = X^T,  B = dY; the epilogue
//                                                             scatters into the memory (atomics)
// GEMM view: C[Mg, Ng] = sum over Kg of A[Mg, Kg] * B[Kg, Ng]. Blocks of 128 x 128 outputs,
// 256 threads (two blocks per SM), K steps of 16. fp32: each thread owns 8 x 8 outputs.
// TF32: each warp owns 64 x 32 outputs as m16n8k8 MMAs. Two kernels share that core:
//   gemm_async_kernel  three stages of asynchronous copies (cp.async). Used for dM, and for
//                      forward / dX when a K step's 16 rows (columns) of W lie in one tile
//                      row (column) with per-tile signs (the usual 32 x 64 tiles): a thread
//                      then looks its tile up once per step and copies strided runs.
//   gemm_kernel        register-staged double buffering, every W element through
//                      WeightView::load: any tile shape and element signs.
// Loads are arranged so that consecutive threads read consecutive addresses: along k of a
// row of X / dY, along n of a tile row of W (runs of the memory).
// On sm_90a, every product first tries the wgmma kernels (roast_mm_wgmma.cu: forward and dX in
// TF32 and in fp32 as 3xTF32, dM in TF32), which serve the usual tiles; these kernels take the
// rest, and dM in fp32.
#include <cuda_runtime.h>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/roast_mm_device.cuh"
#include "kernels/cuda/roast_mm_tiled.cuh"
#include "roast/backend.h"

namespace roast {
namespace kernels {
namespace cuda {
namespace rmm {
namespace {

constexpr int kBM = 128, kBN = 128, kBK = 16, kThreads = 256;
constexpr int kPad = 8;  // keeps the MMA fragment reads and the float4 reads free of bank conflicts
constexpr int kLdA = kBM + kPad, kLdB = kBN + kPad;
// The pipelined kernel keeps the A block of passes 0 and 1 as rows (As[i][kk], stride kLdAr)
// so that a thread copies 16 contiguous bytes of X / dY; the padding keeps the fragment
// reads free of bank conflicts.
constexpr int kLdAr = kBK + 4;
constexpr int kPerThread = kBM * kBK / kThreads;  // 8 elements of A and of B per thread per step


// Operand loads. Each thread reads 8 elements of the A block and 8 of the B block per K step
// into registers (load_*) and writes them to shared memory after the step's compute
// (store_*), as As[kk][i] and Bs[kk][j]. Out-of-range elements are 0.
//
// Plain matrices (X, dY) are read as float4 when `vec` (rows a multiple of 4 floats, 16-byte
// aligned base): 4 threads read 64 contiguous bytes. W elements go through WeightView::load.

__device__ __forceinline__ float4 load4(const float* p, std::int64_t row, std::int64_t rows, std::int64_t col,
                                        std::int64_t cols, std::int64_t ld) {
  if (row >= rows) return make_float4(0.0f, 0.0f, 0.0f, 0.0f);
  const float* q = p + row * ld + col;
  if (col + 3 < cols) return __ldg(reinterpret_cast<const float4*>(q));
  return make_float4(col < cols ? __ldg(q) : 0.0f, col + 1 < cols ? __ldg(q + 1) : 0.0f,
                     col + 2 < cols ? __ldg(q + 2) : 0.0f, 0.0f);
}

// A plain row-major matrix block for the GEMM operand: element (i, kk) of the block is
// S[r0 + kk][c0 + i] when TRANS (pass 2: X^T, dY as B), else S[r0 + i][c0 + kk].
template <bool TRANS>
__device__ __forceinline__ void load_plain(const float* S, std::int64_t rows, std::int64_t cols, std::int64_t r0,
                                           std::int64_t c0, bool vec, float (&r)[kPerThread]) {
  const int t = threadIdx.x;
  if (vec) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const float4 v = TRANS ? load4(S, r0 + t / 32 + 8 * h, rows, c0 + (t % 32) * 4, cols, cols)
                             : load4(S, r0 + t / 4 + 64 * h, rows, c0 + (t % 4) * 4, cols, cols);
      r[4 * h] = v.x, r[4 * h + 1] = v.y, r[4 * h + 2] = v.z, r[4 * h + 3] = v.w;
    }
    return;
  }
#pragma unroll
  for (int q = 0; q < kPerThread; ++q) {
    const std::int64_t row = TRANS ? r0 + t / kBM + 2 * q : r0 + t / kBK + 16 * q;
    const std::int64_t col = TRANS ? c0 + t % kBM : c0 + t % kBK;
    r[q] = (row < rows && col < cols) ? __ldg(S + row * cols + col) : 0.0f;
  }
}

// Where load_plain's element q goes in the [kk][i] shared layout.
template <bool TRANS, bool TF32>
__device__ __forceinline__ void store_plain(float* S, int ld, bool vec, const float (&r)[kPerThread]) {
  const int t = threadIdx.x;
#pragma unroll
  for (int q = 0; q < kPerThread; ++q) {
    int i, kk;
    if (vec) {
      const int h = q / 4, c = q % 4;
      i = TRANS ? (t % 32) * 4 + c : t / 4 + 64 * h;
      kk = TRANS ? t / 32 + 8 * h : (t % 4) * 4 + c;
    } else {
      i = TRANS ? t % kBM : t / kBK + 16 * q;
      kk = TRANS ? t / kBM + 2 * q : t % kBK;
    }
    S[kk * ld + i] = TF32 ? __uint_as_float(to_tf32(r[q])) : r[q];
  }
}

template <int PASS>
__device__ __forceinline__ void load_a(const Operands& op, bool vec, std::int64_t m0, std::int64_t k0,
                                       float (&r)[kPerThread]) {
  if (PASS == 2) load_plain<true>(op.X, op.M, op.K, k0, m0, vec, r);
  else if (PASS == 0) load_plain<false>(op.X, op.M, op.K, m0, k0, vec, r);
  else load_plain<false>(op.dY, op.M, op.N, m0, k0, vec, r);
}

template <int PASS>
__device__ __forceinline__ void load_b(const Operands& op, bool vec, std::int64_t n0, std::int64_t k0,
                                       float (&r)[kPerThread]) {
  const int t = threadIdx.x;
  const WeightView& w = op.w;
  if (PASS == 2) {
    load_plain<true>(op.dY, op.M, op.N, k0, n0, vec, r);
  } else if (PASS == 1) {  // any mapping: B[kk][j] = W[n0 + j][k0 + kk], kk fastest
    const int kk = t % kBK;
#pragma unroll
    for (int q = 0; q < kPerThread; ++q) {
      const std::int64_t wk = n0 + t / kBK + 16 * q, wn = k0 + kk;
      r[q] = (wk < op.K && wn < op.N) ? w.load(op.memory, std::uint32_t(wk), std::uint32_t(wn)) : 0.0f;
    }
  } else {  // any mapping: B[kk][j] = W[k0 + kk][n0 + j], j fastest
    const int j = t % kBN;
#pragma unroll
    for (int q = 0; q < kPerThread; ++q) {
      const std::int64_t row = k0 + t / kBN + 2 * q, col = n0 + j;
      r[q] = (row < op.K && col < op.N) ? w.load(op.memory, std::uint32_t(row), std::uint32_t(col)) : 0.0f;
    }
  }
}

template <int PASS, bool TF32>
__device__ __forceinline__ void store_a(float* As, bool vec, const float (&r)[kPerThread]) {
  store_plain<PASS == 2, TF32>(As, kLdA, vec, r);
}

template <int PASS, bool TF32>
__device__ __forceinline__ void store_b(float* Bs, bool vec, const float (&r)[kPerThread]) {
  if (PASS == 2) {
    store_plain<true, TF32>(Bs, kLdB, vec, r);
    return;
  }
  const int t = threadIdx.x;
#pragma unroll
  for (int q = 0; q < kPerThread; ++q) {
    const int j = PASS == 1 ? t / kBK + 16 * q : t % kBN;
    const int kk = PASS == 1 ? t % kBK : t / kBN + 2 * q;
    Bs[kk * kLdB + j] = TF32 ? __uint_as_float(to_tf32(r[q])) : r[q];
  }
}

// Accumulators: fp32 keeps acc[8][8] for rows {ty*4 + a, 64 + ty*4 + a} and cols
// {tx*4 + b, 64 + tx*4 + b}; TF32 keeps acc[4][4][4] MMA fragments (see OutLayout).
struct Acc {
  float v[64];
};

__device__ __forceinline__ void fma_step(const float* As, const float* Bs, Acc& acc) {
  const int ty = threadIdx.x / 16, tx = threadIdx.x % 16;
#pragma unroll
  for (int kk = 0; kk < kBK; ++kk) {
    const float4 a0 = *reinterpret_cast<const float4*>(As + kk * kLdA + ty * 4);
    const float4 a1 = *reinterpret_cast<const float4*>(As + kk * kLdA + 64 + ty * 4);
    const float4 b0 = *reinterpret_cast<const float4*>(Bs + kk * kLdB + tx * 4);
    const float4 b1 = *reinterpret_cast<const float4*>(Bs + kk * kLdB + 64 + tx * 4);
    const float a[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
    const float b[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
    for (int x = 0; x < 8; ++x)
#pragma unroll
      for (int y = 0; y < 8; ++y) acc.v[x * 8 + y] = fmaf(a[x], b[y], acc.v[x * 8 + y]);
  }
}

// A[row][k] of the A block: stored as As[k][row] (the register-staged kernel, and pass 2),
// or as rows As[row][k] (ROWS: the pipelined kernel's passes 0 and 1).
template <bool ROWS>
__device__ __forceinline__ float a_at(const float* As, int row, int k) {
  return ROWS ? As[row * kLdAr + k] : As[k * kLdA + row];
}

template <bool ROWS>
__device__ __forceinline__ void mma_step(const float* As, const float* Bs, Acc& acc) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int wm = (warp / 4) * 64, wn = (warp % 4) * 32, g = lane / 4, t4 = lane % 4;
#pragma unroll
  for (int k8 = 0; k8 < kBK; k8 += 8) {
    std::uint32_t a[4][4], b[4][2];
#pragma unroll
    for (int mi = 0; mi < 4; ++mi) {
      const int r0 = wm + mi * 16 + g;
      a[mi][0] = __float_as_uint(a_at<ROWS>(As, r0, k8 + t4));
      a[mi][1] = __float_as_uint(a_at<ROWS>(As, r0 + 8, k8 + t4));
      a[mi][2] = __float_as_uint(a_at<ROWS>(As, r0, k8 + t4 + 4));
      a[mi][3] = __float_as_uint(a_at<ROWS>(As, r0 + 8, k8 + t4 + 4));
    }
#pragma unroll
    for (int ni = 0; ni < 4; ++ni) {
      const int c = wn + ni * 8 + g;
      b[ni][0] = __float_as_uint(Bs[(k8 + t4) * kLdB + c]);
      b[ni][1] = __float_as_uint(Bs[(k8 + t4 + 4) * kLdB + c]);
    }
#pragma unroll
    for (int mi = 0; mi < 4; ++mi)
#pragma unroll
      for (int ni = 0; ni < 4; ++ni) {
        float(&c)[4] = *reinterpret_cast<float(*)[4]>(&acc.v[(mi * 4 + ni) * 4]);
        mma_tf32(c, a[mi], b[ni]);
      }
  }
}

// Block-relative (row, col) of accumulator e.
template <bool TF32>
struct OutLayout {
  __device__ __forceinline__ static void coord(int e, int* row, int* col) {
    if (!TF32) {
      const int ty = threadIdx.x / 16, tx = threadIdx.x % 16, x = e / 8, y = e % 8;
      *row = (x < 4 ? ty * 4 + x : 64 + ty * 4 + x - 4);
      *col = (y < 4 ? tx * 4 + y : 64 + tx * 4 + y - 4);
    } else {
      const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
      const int frag = e / 4, c = e % 4, mi = frag / 4, ni = frag % 4;
      *row = (warp / 4) * 64 + mi * 16 + lane / 4 + (c >= 2 ? 8 : 0);
      *col = (warp % 4) * 32 + ni * 8 + (lane % 4) * 2 + (c & 1);
    }
  }
};
static_assert(32 * (kBN + 4) <= 2 * kBK * kLdA, "the epilogue's slab must fit in the A buffers");

template <int PASS, bool TF32>
__global__ void __launch_bounds__(kThreads, 2) gemm_kernel(Operands op, bool vec_a, bool vec_b) {
  __shared__ __align__(16) float As[2][kBK * kLdA];
  __shared__ __align__(16) float Bs[2][kBK * kLdB];
  // The reduction length of this pass (the output bounds are checked by the loaders/epilogue).
  const std::int64_t Kg = PASS == 0 ? op.K : (PASS == 1 ? op.N : op.M);
  const std::int64_t m0 = std::int64_t(blockIdx.y) * kBM, n0 = std::int64_t(blockIdx.x) * kBN;

  Acc acc;
#pragma unroll
  for (int e = 0; e < 64; ++e) acc.v[e] = 0.0f;

  float ra[kPerThread], rb[kPerThread];
  load_a<PASS>(op, vec_a, m0, 0, ra);
  load_b<PASS>(op, vec_b, n0, 0, rb);
  store_a<PASS, TF32>(As[0], vec_a, ra);
  store_b<PASS, TF32>(Bs[0], vec_b, rb);
  __syncthreads();
  const std::int64_t steps = (Kg + kBK - 1) / kBK;
  for (std::int64_t s = 0; s < steps; ++s) {
    const int cur = int(s & 1);
    const bool more = s + 1 < steps;
    if (more) {
      load_a<PASS>(op, vec_a, m0, (s + 1) * kBK, ra);
      load_b<PASS>(op, vec_b, n0, (s + 1) * kBK, rb);
    }
    if (TF32) mma_step<false>(As[cur], Bs[cur], acc);
    else fma_step(As[cur], Bs[cur], acc);
    if (more) {
      store_a<PASS, TF32>(As[cur ^ 1], vec_a, ra);
      store_b<PASS, TF32>(Bs[cur ^ 1], vec_b, rb);
    }
    __syncthreads();
  }

  epilogue<PASS, OutLayout<TF32>, kThreads>(op, acc.v, m0, n0, &As[0][0]);
}
// ---- the pipelined kernel: asynchronous copies, three stages ---------------------------
// Used for pass 2 always, and for passes 0 and 1 when a step's W block lies in one tile
// row (column) with per-tile signs.
// Each thread copies its elements of a stage straight into shared memory (cp.async, zero
// fill beyond the edges), two stages ahead of the one being computed. Tile signs and the
// TF32 rounding cannot be applied by a copy: after its copies land, each thread fixes up
// its own elements in place (sign bits kept per stage), before the block's barrier.
constexpr int kStages = 3;
constexpr int kStageA = kBM * kLdAr > kBK * kLdA ? kBM * kLdAr : kBK * kLdA;
constexpr int kStageFloats = kStageA + kBK * kLdB;
constexpr int kAsyncSmemBytes = kStages * kStageFloats * int(sizeof(float));
static_assert(32 * (kBN + 4) <= kStages * kStageFloats, "the epilogue's slab must fit");

// Element q of this thread in load_plain's layout: block coordinates (i, kk).
template <bool TRANS>
__device__ __forceinline__ void plain_pos(bool vec, int q, int* i, int* kk) {
  const int t = threadIdx.x;
  if (vec) {
    const int h = q / 4, c = q % 4;
    *i = TRANS ? (t % 32) * 4 + c : t / 4 + 64 * h;
    *kk = TRANS ? t / 32 + 8 * h : (t % 4) * 4 + c;
  } else {
    *i = TRANS ? t % kBM : t / kBK + 16 * q;
    *kk = TRANS ? t / kBM + 2 * q : t % kBK;
  }
}

// Asynchronous counterpart of load_plain + store_plain.
template <bool TRANS>
__device__ __forceinline__ void copy_plain(float* dst, int ld, const float* S, std::int64_t rows, std::int64_t cols,
                                           std::int64_t r0, std::int64_t c0, bool vec) {
  const int t = threadIdx.x;
  if (vec && TRANS) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int kk = t / 32 + 8 * h, i4 = (t % 32) * 4;
      const std::int64_t row = r0 + kk, col = c0 + i4;
      const std::int64_t n = row < rows ? max(std::int64_t(0), min(std::int64_t(4), cols - col)) : 0;
      cp_async16(dst + kk * ld + i4, n > 0 ? S + row * cols + col : S, int(n * 4));
    }
    return;
  }
#pragma unroll
  for (int q = 0; q < kPerThread; ++q) {
    int i, kk;
    plain_pos<TRANS>(vec, q, &i, &kk);
    const std::int64_t row = TRANS ? r0 + kk : r0 + i, col = TRANS ? c0 + i : c0 + kk;
    const bool valid = row < rows && col < cols;
    cp_async4(dst + kk * ld + i, valid ? S + row * cols + col : S, valid);
  }
}

// A block of S[m0 .. m0+127][k0 .. k0+15] as rows As[i][kk] (stride kLdAr).
__device__ __forceinline__ void copy_rows(float* As, const float* S, std::int64_t rows, std::int64_t cols,
                                          std::int64_t m0, std::int64_t k0, bool vec) {
  const int t = threadIdx.x;
  if (vec) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int i = t / 4 + 64 * h, kq = (t % 4) * 4;
      const std::int64_t row = m0 + i, col = k0 + kq;
      const std::int64_t n = row < rows ? max(std::int64_t(0), min(std::int64_t(4), cols - col)) : 0;
      cp_async16(As + i * kLdAr + kq, n > 0 ? S + row * cols + col : S, int(n * 4));
    }
    return;
  }
#pragma unroll
  for (int q = 0; q < kPerThread; ++q) {
    const int i = t / kBK + 16 * q, kk = t % kBK;
    const std::int64_t row = m0 + i, col = k0 + kk;
    const bool valid = row < rows && col < cols;
    cp_async4(As + i * kLdAr + kk, valid ? S + row * cols + col : S, valid);
  }
}

// fma_step for A stored as rows (As[i][kk]).
__device__ __forceinline__ void fma_step_rows(const float* As, const float* Bs, Acc& acc) {
  const int ty = threadIdx.x / 16, tx = threadIdx.x % 16;
#pragma unroll
  for (int k4 = 0; k4 < kBK; k4 += 4) {
    float4 a[8];
#pragma unroll
    for (int x = 0; x < 8; ++x) {
      const int row = x < 4 ? ty * 4 + x : 64 + ty * 4 + x - 4;
      a[x] = *reinterpret_cast<const float4*>(As + row * kLdAr + k4);
    }
#pragma unroll
    for (int c = 0; c < 4; ++c) {
      const float4 b0 = *reinterpret_cast<const float4*>(Bs + (k4 + c) * kLdB + tx * 4);
      const float4 b1 = *reinterpret_cast<const float4*>(Bs + (k4 + c) * kLdB + 64 + tx * 4);
      const float b[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
      for (int x = 0; x < 8; ++x) {
        const float av = c == 0 ? a[x].x : c == 1 ? a[x].y : c == 2 ? a[x].z : a[x].w;
#pragma unroll
        for (int y = 0; y < 8; ++y) acc.v[x * 8 + y] = fmaf(av, b[y], acc.v[x * 8 + y]);
      }
    }
  }
}

// Issues the copies of K step k0 into one stage; returns this thread's sign bits of W
// (bit q set: element q of B is negated at fix-up).
template <int PASS>
__device__ __forceinline__ std::uint32_t issue_stage(const Operands& op, float* As, float* Bs, bool vec_a,
                                                     bool vec_b, std::int64_t m0, std::int64_t n0, std::int64_t k0) {
  const int t = threadIdx.x;
  const WeightView& w = op.w;
  if (PASS == 2) copy_plain<true>(As, kLdA, op.X, op.M, op.K, k0, m0, vec_a);
  else if (PASS == 0) copy_rows(As, op.X, op.M, op.K, m0, k0, vec_a);
  else copy_rows(As, op.dY, op.M, op.N, m0, k0, vec_a);
  std::uint32_t bits = 0;
  if (PASS == 2) {
    copy_plain<true>(Bs, kLdB, op.dY, op.M, op.N, k0, n0, vec_b);
  } else if (PASS == 0) {  // rows k0..k0+15 of W lie in one tile row
    const int j = t % kBN;
    const std::int64_t col = n0 + j;
    const std::uint32_t tr = w.div_rows.div(std::uint32_t(k0)), kr0 = std::uint32_t(k0) - tr * w.tile_rows;
    const float* p = op.memory;
    if (col < op.N) {
      const std::uint32_t tc = w.div_cols.div(std::uint32_t(col)), nc = std::uint32_t(col) - tc * w.tile_cols;
      const TileInfo ti = w.tiles[std::int64_t(tr) * w.n_tile_cols + tc];
      p = op.memory + ti.start + std::int64_t(kr0) * w.tile_cols + nc;
      if (w.sign == kTileSign && (ti.sign_hash >> 63)) bits = 0xFFu;
    }
#pragma unroll
    for (int q = 0; q < kPerThread; ++q) {
      const int kk = t / kBN + 2 * q;
      const bool valid = col < op.N && k0 + kk < op.K;
      cp_async4(Bs + kk * kLdB + j, valid ? p + std::int64_t(kk) * w.tile_cols : op.memory, valid);
    }
  } else {  // PASS 1: columns k0..k0+15 of W lie in one tile column
    const int kk = t % kBK;
    const std::int64_t wn = k0 + kk;
    const std::uint32_t tc = w.div_cols.div(std::uint32_t(k0));
    const std::uint32_t nc = std::uint32_t(k0) - tc * w.tile_cols + std::uint32_t(kk);
#pragma unroll
    for (int q = 0; q < kPerThread; ++q) {
      const int j = t / kBK + 16 * q;
      const std::int64_t wk = n0 + j;
      const bool valid = wk < op.K && wn < op.N;
      const float* src = op.memory;
      if (valid) {
        const std::uint32_t tr = w.div_rows.div(std::uint32_t(wk)), kr = std::uint32_t(wk) - tr * w.tile_rows;
        const TileInfo ti = w.tiles[std::int64_t(tr) * w.n_tile_cols + tc];
        src = op.memory + ti.start + std::int64_t(kr) * w.tile_cols + nc;
        if (w.sign == kTileSign && (ti.sign_hash >> 63)) bits |= 1u << q;
      }
      cp_async4(Bs + kk * kLdB + j, src, valid);
    }
  }
  return bits;
}

// Tile signs of this thread's own elements of a landed stage. (In TF32 the MMA reads the
// fp32 bits and ignores the low mantissa bits: truncation instead of the register path's
// round-to-nearest, within the TF32 tolerance; tested.)
template <int PASS>
__device__ __forceinline__ void fix_stage(float* Bs, bool vec_b, std::uint32_t bits) {
  if (PASS == 2 || bits == 0) return;
  const int t = threadIdx.x;
  (void)vec_b;
#pragma unroll
  for (int q = 0; q < kPerThread; ++q) {
    if (!((bits >> q) & 1u)) continue;
    int j, kk;
    if (PASS == 0) j = t % kBN, kk = t / kBN + 2 * q;
    else j = t / kBK + 16 * q, kk = t % kBK;
    Bs[kk * kLdB + j] = -Bs[kk * kLdB + j];
  }
}

template <int PASS, bool TF32>
__global__ void __launch_bounds__(kThreads, 2) gemm_async_kernel(Operands op, bool vec_a, bool vec_b) {
  extern __shared__ __align__(16) float smem[];
  const std::int64_t Kg = PASS == 0 ? op.K : (PASS == 1 ? op.N : op.M);
  const std::int64_t m0 = std::int64_t(blockIdx.y) * kBM, n0 = std::int64_t(blockIdx.x) * kBN;
  const std::int64_t steps = (Kg + kBK - 1) / kBK;
  auto as = [&](int st) { return smem + st * kStageFloats; };
  auto bs = [&](int st) { return smem + st * kStageFloats + kStageA; };

  Acc acc;
#pragma unroll
  for (int e = 0; e < 64; ++e) acc.v[e] = 0.0f;
  std::uint32_t bits = 0;  // 8 sign bits per stage
#pragma unroll
  for (int st = 0; st < kStages - 1; ++st) {
    if (st < steps) bits |= issue_stage<PASS>(op, as(st), bs(st), vec_a, vec_b, m0, n0, st * kBK) << (8 * st);
    cp_async_commit();
  }
  for (std::int64_t step = 0; step < steps; ++step) {
    const int cur = int(step % kStages);
    cp_async_wait<kStages - 2>();
    fix_stage<PASS>(bs(cur), vec_b, (bits >> (8 * cur)) & 0xFFu);
    __syncthreads();  // every thread's copies and fix-ups are in; the stage computed last is free
    // The next copies go before the compute (measured: 20-30% faster than after it).
    const std::int64_t next = step + kStages - 1;
    if (next < steps) {
      const int st = int(next % kStages);
      bits = (bits & ~(0xFFu << (8 * st))) |
             (issue_stage<PASS>(op, as(st), bs(st), vec_a, vec_b, m0, n0, next * kBK) << (8 * st));
    }
    cp_async_commit();
    if (PASS == 2) TF32 ? mma_step<false>(as(cur), bs(cur), acc) : fma_step(as(cur), bs(cur), acc);
    else TF32 ? mma_step<true>(as(cur), bs(cur), acc) : fma_step_rows(as(cur), bs(cur), acc);
  }
  cp_async_wait<0>();
  __syncthreads();
  epilogue<PASS, OutLayout<TF32>, kThreads>(op, acc.v, m0, n0, smem);
}

bool aligned4(const float* p, std::int64_t ld) {
  return p != nullptr && ld % 4 == 0 && reinterpret_cast<std::uintptr_t>(p) % 16 == 0;
}

template <int PASS, bool TF32>
void launch_precision(dim3 grid, const Operands& op, bool fast, bool vec_a, bool vec_b) {
  if (PASS == 2 || fast) {
    // 51 KB of stages: above the 48 KB default, allowed once per device.
    context().fact(reinterpret_cast<const void*>(&gemm_async_kernel<PASS, TF32>), 0, [] {
      check(cudaFuncSetAttribute(gemm_async_kernel<PASS, TF32>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                 kAsyncSmemBytes),
            "cudaFuncSetAttribute (roast_mm)");
      return 1;
    });
    gemm_async_kernel<PASS, TF32><<<grid, kThreads, kAsyncSmemBytes, stream()>>>(op, vec_a, vec_b);
  } else {
    gemm_kernel<PASS, TF32><<<grid, kThreads, 0, stream()>>>(op, vec_a, vec_b);
  }
}

template <int PASS>
void launch(const Operands& op) {
  if (wgmma_gemm(op)) return;
  const std::int64_t Mg = PASS == 2 ? op.K : op.M;
  const std::int64_t Ng = PASS == 1 ? op.K : op.N;
  const dim3 grid(unsigned((Ng + kBN - 1) / kBN), unsigned((Mg + kBM - 1) / kBM));
  if (grid.y > 65535) fail("roast_matmul: ", Mg, " rows exceed the CUDA grid (at most ", 65535 * kBM, ")");
  // The per-tile fast loaders need a step's 16 rows (columns) of W inside one tile, per-tile signs.
  const bool per_tile = op.w.sign != kElementSign;
  const bool fast = per_tile && (PASS == 0 ? op.w.tile_rows % kBK == 0 : PASS == 1 ? op.w.tile_cols % kBK == 0 : false);
  const bool vec_a = PASS == 1 ? aligned4(op.dY, op.N) : aligned4(op.X, op.K);
  const bool vec_b = PASS == 2 && aligned4(op.dY, op.N);
  if (op.tf32) launch_precision<PASS, true>(grid, op, fast, vec_a, vec_b);
  else launch_precision<PASS, false>(grid, op, fast, vec_a, vec_b);
  check_launch("roast_mm gemm kernel");
}

}  // namespace

void gemm_forward(const WeightView& w, bool tf32, const float* memory, const float* X, std::int64_t M, float* Y) {
  launch<0>(Operands{0, M, w.rows, w.cols, X, nullptr, memory, Y, w, tf32});
}
void gemm_backward_input(const WeightView& w, bool tf32, const float* memory, const float* dY, std::int64_t M,
                         float* dX) {
  launch<1>(Operands{1, M, w.rows, w.cols, nullptr, dY, memory, dX, w, tf32});
}
void gemm_backward_memory(const WeightView& w, bool tf32, const float* X, const float* dY, std::int64_t M, float* dM) {
  launch<2>(Operands{2, M, w.rows, w.cols, X, dY, nullptr, dM, w, tf32});
}

}  // namespace rmm
}  // namespace cuda
}  // namespace kernels
}  // namespace roast
