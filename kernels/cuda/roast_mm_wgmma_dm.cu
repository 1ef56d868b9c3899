// ROAST-MM dM on Hopper tensor cores (wgmma, sm_90a, TF32; the building blocks are in
// roast_mm_wgmma_core.cuh, the forward and dX kernels in roast_mm_wgmma.cu).
//
// dW [K x N] = X^T [K x M] * dY [M x N], reduced over the M rows. TF32 wgmma reads both
// operands from shared memory with the reduction contiguous, so the caller first transposes X
// and dY (cuBLAS geam: Xt = X^T, K x M; Yt = dY^T, N x M). A block of two warpgroups computes
// 128 W-rows k x 128 columns n, A = rows of Xt and B = rows of Yt in a ring of kDmStages
// stages (PlainRows, 128-byte swizzle), and adds each result, times lambda and its tile's
// sign, into its memory cell. The block's sums go through shared memory so that the warps add
// them by column tile runs, two aligned cells per atomic operation (scatter_block). Launch bounds of
// two blocks per SM, so that one block's atomic adds run beside the other's MMAs. Measured on
// the H100 (TF32, 512 x 10240^2, in the same runs): dM 0.66 ms with 1M floats, 0.71 with 16M,
// 0.80-0.82 with 128M (the materialised dM 0.86-1.14); 512 x 4096^2 0.122; with 16M and 128M
// floats now 0.69-0.70 and 0.70-0.71, prefetching the cells (prefetch_cells). A warp per W-row
// (each row working out its own runs) took 0.70-0.71 / 0.71 / 0.80-0.81 and 0.131; each
// thread adding its accumulator pairs straight from the registers, 8 bytes where aligned and
// two adds where not (half the tile starts are odd), an earlier 0.70-0.71 / 0.79 /
// 0.89-1.00 ms and 0.145. With 128M floats the adds wait on DRAM (each misses L2 and reads
// its sector first). Blocks of 128 x 256 (one per SM) were slower: 0.75-0.76 ms at 1M floats.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <mutex>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/roast_mm_tiled.cuh"
#include "kernels/cuda/roast_mm_wgmma_core.cuh"
#include "roast/backend.h"

namespace roast {
namespace kernels {
namespace cuda {
namespace rmm {
namespace {

// dM (backward_memory_kernel below): 128 x 128 output blocks, a ring of three stages.
constexpr int kDmCols = 128, kDmStages = 3, kDmLd = kDmCols + 8;
// After the block's sums (kWRows x kDmLd floats), the ring holds this many TileInfo entries.
constexpr int kDmTiles = (kDmStages * (kWRows + kDmCols) * kBK - kWRows * kDmLd) * int(sizeof(float)) / int(sizeof(TileInfo));
static_assert(kDmTiles >= 256, "the block's sums and tiles must fit the ring");
constexpr int dm_smem_bytes() { return kDmStages * (kWRows + kDmCols) * kBK * int(sizeof(float)) + 1024; }

struct DmOperands {
  std::int64_t M, K, N;
  const float* Xt;  // K x M
  const float* Yt;  // N x M
  float* dM;
  WeightView w;
  bool prefetch;  // the memory is larger than L2: prefetch_cells before the adds
};

#if defined(ROAST_MM_WGMMA)  // the device code below exists only in the sm_90a compilation

// The dM blocks run in groups of this many rows of blocks (see backward_memory_kernel).
#ifndef ROAST_DM_GROUP
#define ROAST_DM_GROUP 16
#endif
constexpr int kDmGroup = ROAST_DM_GROUP;

// d += A * B, both from shared-memory descriptors.
__device__ __forceinline__ void wgmma_ss_m64n128k8(float (&d)[64], std::uint64_t a, std::uint64_t b) {
  asm volatile(
      "{\n"
      "wgmma.mma_async.sync.aligned.m64n128k8.f32.tf32.tf32 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, %64, %65, 1, 1, 1;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
      : "l"(a), "l"(b));
}

// The block's memory cells into L2 (`prefetch.global.L2`, the first and last cell of each
// row's 32-column chunk, lines of one tile run), issued a few steps before the adds: with a
// memory larger than L2 each add would otherwise miss and wait for DRAM. Measured on the H100
// (TF32 512 x 10240^2, two runs each against the same code without): dM with 128M floats
// 0.793-0.794 -> 0.703-0.714 ms, 16M 0.716-0.721 -> 0.696-0.703; with 1M floats (in L2)
// 0.658-0.670 -> 0.682-0.686, so only memories larger than L2 prefetch. Issued two or five
// steps before the adds instead of three: the same within noise. (Prefetched before the
// block's MMAs instead, the lines evicted the operand rows: docs/benchmarks.md.)
__device__ __forceinline__ void prefetch_cells(const DmOperands& op, int k0, int n0) {
  const WeightView& w = op.w;
  const int t = threadIdx.x, r = t / 2, h = t % 2;  // two threads per W-row, 64 columns each
  if (k0 + r >= op.K) return;
  const std::uint32_t row = std::uint32_t(k0 + r), tr = w.div_rows.div(row), kr = row - tr * std::uint32_t(w.tile_rows);
  for (int c = 64 * h; c < 64 * h + 64; c += 32) {
    const std::uint32_t col = std::uint32_t(n0 + c);
    if (col >= op.N) break;
    const std::uint32_t tc = w.div_cols.div(col), nc = col - tc * std::uint32_t(w.tile_cols);
    const int len = min(min(32, w.tile_cols - int(nc)), int(op.N - col));  // cells of the chunk in this tile
    const TileInfo tile = w.tiles[std::int64_t(tr) * w.n_tile_cols + tc];
    const float* cell = op.dM + tile.start + std::int64_t(kr) * w.tile_cols + nc;
    asm volatile("prefetch.global.L2 [%0];" ::"l"(cell));
    asm volatile("prefetch.global.L2 [%0];" ::"l"(cell + len - 1));
  }
}

__global__ void __launch_bounds__(kThreads, 2) backward_memory_kernel(DmOperands op) {
  extern __shared__ unsigned char smem_raw[];
  float* smem = ring_base(smem_raw);
  constexpr int kAFloats = kWRows * kBK, kStageFloats = (kWRows + kDmCols) * kBK;
  const int M = int(op.M), steps = (M + kBK - 1) / kBK;
  // Blocks in groups of kDmGroup rows of 128 W-rows, the rows of a group varying fastest: the
  // blocks running at once (two per SM) read a few MB of X^T and dY^T rather than all of dY^T.
  // Measured on the H100 (TF32 512 x 10240^2, against rows of blocks along N): dM with 16M
  // floats 0.84 -> 0.80 ms, 1M and 128M unchanged (0.70, 0.90); groups of 8 0.81; 4096^3 and
  // 512 x 4096^2 within 2%.
  const int kblocks = int(gridDim.y), nblocks = int(gridDim.x);
  const int linear = int(blockIdx.y) * nblocks + int(blockIdx.x), per_group = kDmGroup * nblocks;
  const int first_kb = linear / per_group * kDmGroup, group_rows = min(kDmGroup, kblocks - first_kb);
  const int k0 = (first_kb + linear % per_group % group_rows) * kWRows, n0 = linear % per_group / group_rows * kDmCols;
  const PlainRows<kWRows> a(op.Xt, int(op.K), M, k0);
  const PlainRows<kDmCols> b(op.Yt, int(op.N), M, n0);
#pragma unroll
  for (int s = 0; s < kDmStages - 1; ++s) {
    if (s < steps) {
      a.copy(smem + s * kStageFloats, s);
      b.copy(smem + s * kStageFloats + kAFloats, s);
    }
    cp_async_commit();
  }
  float acc[kDmCols / 2];
#pragma unroll
  for (int e = 0; e < kDmCols / 2; ++e) acc[e] = 0.0f;
  const int wg = threadIdx.x / 128;
  for (int step = 0; step < steps; ++step) {
    float* stage = smem + (step % kDmStages) * kStageFloats;
    cp_async_wait<kDmStages - 2>();
    fence_proxy_async();
    __syncthreads();  // stage `step` has landed everywhere; every MMA of step - 1 has finished
    if (step + kDmStages - 1 < steps) {
      float* next = smem + ((step + kDmStages - 1) % kDmStages) * kStageFloats;
      a.copy(next, step + kDmStages - 1);
      b.copy(next + kAFloats, step + kDmStages - 1);
    }
    cp_async_commit();
    const std::uint64_t da = smem_desc(stage + wg * 64 * kBK), db = smem_desc(stage + kAFloats);
    wgmma_fence();
#pragma unroll
    for (int s8 = 0; s8 < kBK / 8; ++s8) wgmma_ss_m64n128k8(acc, da + 2 * s8, db + 2 * s8);
    wgmma_commit();
    if (op.prefetch && step == max(steps - 3, 0)) prefetch_cells(op, k0, n0);
    wgmma_wait<0>();
    fence_registers(acc);
  }
  // The block's sums through shared memory (the ring, free now), then the warps add them by
  // tile runs (scatter_block). Accumulator e: W-row k0 + 64 wg + 16 (warp % 4) +
  // lane / 4 + 8 ((e >> 1) & 1), column n0 + 8 (e >> 2) + 2 (lane % 4) + (e & 1). Rows of
  // kDmLd floats: a half-warp's 8-byte stores hit distinct banks.
  cp_async_wait<0>();
  __syncthreads();
  const int cols = min(kDmCols, int(op.N) - n0), rows = min(kWRows, int(op.K) - k0);
  const TileWindow tiles = tile_window(op.w, std::uint32_t(k0), rows, std::uint32_t(n0), cols,
                                       reinterpret_cast<TileInfo*>(smem + kWRows * kDmLd), kDmTiles);
  const int lane = threadIdx.x % 32, row = wg * 64 + ((threadIdx.x % 128) / 32) * 16 + lane / 4;
#pragma unroll
  for (int e = 0; e < kDmCols / 2; e += 2)
    *reinterpret_cast<float2*>(smem + (row + 8 * ((e >> 1) & 1)) * kDmLd + 8 * (e >> 2) + 2 * (lane % 4)) =
        make_float2(acc[e], acc[e + 1]);
  __syncthreads();
  scatter_block(op.w, tiles, op.dM, std::uint32_t(k0), rows, std::uint32_t(n0), cols, smem, kDmLd);
}

#else  // no sm_90a code: the kernel exists for the host's launch code only

__global__ void backward_memory_kernel(DmOperands op) { (void)op; }

#endif  // ROAST_MM_WGMMA

}  // namespace

// dM on the tensor cores (TF32): X and dY transposed by cuBLAS into scratch, then
// backward_memory_kernel. Needs M % 4 == 0 (16-byte rows of the transposes). Only from
// kMinDmRows rows: with few MMA steps per atomic add the tiled kernel's scatter is faster
// (H100, 32 x 4096^2: 0.056 against 0.093 ms; from 512 rows this kernel wins).
constexpr std::int64_t kMinDmRows = 512;

bool wgmma_backward_memory(const Operands& op) {
  if (!op.tf32 || op.M % 4 != 0 || op.M < kMinDmRows) return false;
  if ((op.K + kWRows - 1) / kWRows > 65535 || op.M * std::max(op.K, op.N) >= (std::int64_t(1) << 31)) return false;
  if (!wgmma_available()) return false;
  context().fact(reinterpret_cast<const void*>(&backward_memory_kernel), 0, [] {
    check(cudaFuncSetAttribute(backward_memory_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, dm_smem_bytes()),
          "cudaFuncSetAttribute (roast_mm wgmma dM)");
    return 1;
  });
  DeviceBuffer xt(std::size_t(op.K * op.M) * sizeof(float)), yt(std::size_t(op.N * op.M) * sizeof(float));
  // Row-major P (M x C) is column-major C x M; its transpose, column-major M x C, is row-major C x M.
  const auto transpose = [&](const float* P, std::int64_t C, float* out) {
    const float one = 1.0f, zero = 0.0f;
    check_blas(cublasSgeam(blas(), CUBLAS_OP_T, CUBLAS_OP_N, int(op.M), int(C), &one, P, int(C), &zero, out, int(op.M),
                           out, int(op.M)),
               "cublasSgeam (transpose for dM)");
  };
  transpose(op.X, op.K, xt.as<float>());
  transpose(op.dY, op.N, yt.as<float>());
  const bool prefetch = larger_than_l2(op.w.cells);
  const DmOperands dm{op.M, op.K, op.N, xt.as<float>(), yt.as<float>(), op.out, op.w, prefetch};
  const dim3 grid(unsigned((op.N + kDmCols - 1) / kDmCols), unsigned((op.K + kWRows - 1) / kWRows));
  backward_memory_kernel<<<grid, kThreads, dm_smem_bytes(), stream()>>>(dm);
  check_launch("roast_mm wgmma dM");
  return true;
}

}  // namespace rmm
}  // namespace cuda
}  // namespace kernels
}  // namespace roast
