// The small-M ROAST-MM kernels on the tensor cores (mma.sync m16n8k8; launched by
// roast_mm_small.cu, whose header describes the scheme): TF32 above 4 rows, and fp32 as three
// TF32 products (3xTF32, see mma_3xtf32; each 32-deep run of the reduction summed from zero,
// then added in fp32), dX above 4 rows and the forward above 16. Computed transposed so that W
// is the A operand, read from the memory straight into registers (its tile sign one XOR of the
// sign bit), and X / dY the B operand, staged as rows in shared memory. Needs per-tile (or no)
// signs and tiles that hold whole MMA steps: forward tile_rows % 8 == 0 and tile_cols % 32 ==
// 0; dX tile_rows % 16 == 0 and tile_cols % 8 == 0.
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/roast_mm_small.cuh"
#include "kernels/cuda/roast_mm_tiled.cuh"

namespace roast {
namespace kernels {
namespace cuda {
namespace rmm {
namespace {

// Row strides of the staged rows of X / dY, chosen so that the B-fragment reads of a warp hit
// distinct banks: forward reads (row g, column t): 4 g + t, stride = 4 mod 32; dX reads 8
// bytes at (row g, column 2 t): 8 g + 2 t, stride = 8 mod 32.
constexpr int kMmaLdX = kMaxChunk + 4, kMmaLdY = kInputChunk + 8;
constexpr int kMmaSteps = 4;  // 8-deep MMA steps whose W fragments are loaded together

// dst[m][kk] = src[m * ld + c0 + kk] for m < ROWS and kk < lenp: zero for m >= M or kk >= len.
// A warp per row, lanes along it (16 bytes each where the rows allow): coalesced reads,
// conflict-free writes. dst rows are 16-byte aligned, lenp % 8 == 0.
template <int ROWS>
__device__ __forceinline__ void stage_rows(float* dst, int ld_dst, const float* __restrict__ src, std::int64_t ld,
                                           int M, std::int64_t c0, int len, int lenp) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
  if (ld % 4 == 0 && reinterpret_cast<std::uintptr_t>(src + c0) % 16 == 0) {
    for (int m = warp; m < ROWS; m += warps)
      for (int kk = 4 * lane; kk < lenp; kk += 128) {
        const float* q = src + m * ld + c0 + kk;
        float4 v = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        if (m < M && kk + 4 <= len) v = __ldg(reinterpret_cast<const float4*>(q));
        else if (m < M && kk < len) v = make_float4(q[0], kk + 1 < len ? q[1] : 0.0f, kk + 2 < len ? q[2] : 0.0f, 0.0f);
        *reinterpret_cast<float4*>(dst + m * ld_dst + kk) = v;
      }
    return;
  }
  for (int m = warp; m < ROWS; m += warps)
    for (int kk = lane; kk < lenp; kk += 32)
      dst[m * ld_dst + kk] = m < M && kk < len ? __ldg(src + m * ld + c0 + kk) : 0.0f;
}

// The tile sign as a mask of the fp32 sign bit.
__device__ __forceinline__ std::uint32_t sign_bit(const WeightView& w, std::uint64_t sign_hash) {
  return w.sign == kTileSign ? std::uint32_t(sign_hash >> 63) << 31 : 0u;
}
// A weight's fp32 bits with its sign applied (read as TF32 by the MMA); 0 outside W.
__device__ __forceinline__ std::uint32_t weight_bits(const float* p, bool valid, std::uint32_t sign) {
  return valid ? __float_as_uint(__ldg(p)) ^ sign : 0u;
}

// The MMAs of one B tile `b` (column j of X / dY) with a warp's two A tiles `a` (W) in one
// 8-deep step. TF32 adds into acc; fp32 splits b (`a` was split into a, a_lo by split_a) and
// adds the three products into part.
__device__ __forceinline__ void split_a(std::uint32_t (&a)[2][4], std::uint32_t (&a_lo)[2][4]) {
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int e = 0; e < 4; ++e) split_tf32(a[i][e], a_lo[i][e]);
}
template <int NT, bool F32>
__device__ __forceinline__ void column_mmas(float (&acc)[2][NT][4], float (&part)[2][NT][4], int j,
                                            const std::uint32_t (&a)[2][4], const std::uint32_t (&a_lo)[2][4],
                                            std::uint32_t (&b)[2]) {
  if constexpr (F32) {
    std::uint32_t b_lo[2];
    split_tf32(b[0], b_lo[0]), split_tf32(b[1], b_lo[1]);
#pragma unroll
    for (int i = 0; i < 2; ++i) mma_3xtf32(part[i][j], a[i], a_lo[i], b, b_lo);
  } else {
#pragma unroll
    for (int i = 0; i < 2; ++i) mma_tf32(acc[i][j], a[i], b);
  }
}

// acc += part (fp32: a run's sum added in fp32).
template <int NT>
__device__ __forceinline__ void add_to(float (&acc)[2][NT][4], const float (&part)[2][NT][4]) {
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < NT; ++j)
#pragma unroll
      for (int r = 0; r < 4; ++r) acc[i][j][r] += part[i][j][r];
}

// Writes a warp's results out[m][row] = scale * D[row][m] for m < M and row < rows, where the
// warp computed D = (the product)^T for rows row0 .. row0 + 31: acc[i][j][r] is D[row0 + 16 i
// + g + 8 (r / 2)][8 j + 2 t + r % 2] (the m16n8 accumulator layout).
template <int NT>
__device__ __forceinline__ void store_transposed(const float (&acc)[2][NT][4], float* __restrict__ out, int rows,
                                                 int row0, int M, float scale) {
  const int g = (threadIdx.x % 32) / 4, t = threadIdx.x % 4;
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < NT; ++j)
#pragma unroll
      for (int r = 0; r < 4; ++r) {
        const int row = row0 + 16 * i + g + 8 * (r / 2), m = 8 * j + 2 * t + r % 2;
        if (m < M && row < rows) out[std::int64_t(m) * rows + row] = scale * acc[i][j][r];
      }
}

// Forward, split-K: Y^T[n][m] = sum over the chunk's k of W[k][n] X[m][k]. A warp owns 32
// columns (two 16-row A tiles; one tile column of W, as tile_cols % 32 == 0) and X[:, chunk]
// is staged as rows xs[m][kk] (8 NT rows, zero past M). Each 8-deep step lies in one tile row
// (tile_rows % 8 == 0, chunks start at multiples of 8): one table read per tile segment.
// fp32 (3xTF32) asks for four blocks per SM, like the FMA kernel: 128 registers (ptxas
// spills 40 bytes) against 153 at three blocks; 0.054 -> 0.043 ms at 32 x 4096^2 (H100).
template <int NT, bool F32>
__global__ void __launch_bounds__(kColsPerBlock, F32 ? kForwardMinBlocks : 1)
    forward_mma_kernel(WeightView w, const float* __restrict__ memory, const float* __restrict__ X, int M, int chunk,
                       float* __restrict__ partial, float* __restrict__ Y) {
  __shared__ __align__(16) float xs[8 * NT * kMmaLdX];
  const int K = int(w.rows), N = int(w.cols), ld = w.tile_cols;
  const int kbeg = int(blockIdx.y) * chunk, len = min(K - kbeg, chunk), lenp = (len + 7) & ~7;
  stage_rows<8 * NT>(xs, kMmaLdX, X, K, M, kbeg, len, lenp);
  __syncthreads();
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int nw = int(blockIdx.x) * kColsPerBlock + warp * 32;
  if (nw >= N) return;
  // Columns past N (inside the warp's tile) are read but never written.
  const std::uint32_t tc = w.div_cols.div(std::uint32_t(nw));
  const int col = nw - int(tc) * ld + g;  // in-tile column of fragment row g
  float acc[2][NT][4] = {};
  for (int kk = 0; kk < len;) {  // tile segments: the chunk's rows inside one tile row
    const int k = kbeg + kk;
    const std::uint32_t tr = w.div_rows.div(std::uint32_t(k));
    const int kr = k - int(tr) * w.tile_rows, seg = min(len - kk, w.tile_rows - kr);
    const TileInfo ti = w.tiles[std::int64_t(tr) * w.n_tile_cols + tc];
    const std::uint32_t sb = sign_bit(w, ti.sign_hash);
    const float* p = memory + ti.start + std::int64_t(kr + t) * ld + col;
    for (int s0 = 0; s0 < seg; s0 += 8 * kMmaSteps) {
      std::uint32_t a[kMmaSteps][2][4];
#pragma unroll
      for (int s = 0; s < kMmaSteps; ++s) {
        const int r = s0 + 8 * s;  // step rows r .. r + 7 of the segment
        if (r >= seg) break;
        const float* q = p + std::int64_t(r) * ld;
        const bool r0 = r + t < seg, r1 = r + t + 4 < seg;  // false only past K
#pragma unroll
        for (int i = 0; i < 2; ++i) {
          a[s][i][0] = weight_bits(q + 16 * i, r0, sb);
          a[s][i][1] = weight_bits(q + 16 * i + 8, r0, sb);
          a[s][i][2] = weight_bits(q + 4 * ld + 16 * i, r1, sb);
          a[s][i][3] = weight_bits(q + 4 * ld + 16 * i + 8, r1, sb);
        }
      }
      float part[2][NT][4] = {};  // fp32: these 32 rows' sum, added to acc in fp32 (see mma_3xtf32)
#pragma unroll
      for (int s = 0; s < kMmaSteps; ++s) {
        const int r = s0 + 8 * s;
        if (r >= seg) break;
        std::uint32_t a_lo[2][4];
        if (F32) split_a(a[s], a_lo);
#pragma unroll
        for (int j = 0; j < NT; ++j) {
          const float* x = xs + (8 * j + g) * kMmaLdX + kk + r + t;
          std::uint32_t b[2] = {__float_as_uint(x[0]), __float_as_uint(x[4])};
          column_mmas<NT, F32>(acc, part, j, a[s], a_lo, b);
        }
      }
      if (F32) add_to(acc, part);
    }
    kk += seg;
  }
  float* out = partial != nullptr ? partial + std::int64_t(blockIdx.y) * M * N : Y;
  store_transposed<NT>(acc, out, N, nw, M, partial != nullptr ? 1.0f : w.lambda);
}

// dX, split-N: dX^T[k][m] = sum over the chunk's n of W[k][n] dY[m][n]. A warp owns 32 rows
// of W (two 16-row A tiles, each inside one tile row as tile_rows % 16 == 0); dY[:, chunk] is
// staged as rows ys[m][nn]. The reduction index of a step is permuted (MMA column t is n = 2 t,
// column t + 4 is n = 2 t + 1, the same for A and B), so that a thread's two weights of a row
// are neighbours and its two dY values one 8-byte read.
// fp32: four blocks per SM as for the forward (ptxas spills 128 bytes; still 0.076 -> 0.057 ms
// at 32 x 4096^2 on the H100).
template <int NT, bool F32>
__global__ void __launch_bounds__(kColsPerBlock, F32 ? kForwardMinBlocks : 1)
    backward_input_mma_kernel(WeightView w, const float* __restrict__ memory, const float* __restrict__ dY, int M,
                              float* __restrict__ partial) {
  __shared__ __align__(16) float ys[8 * NT * kMmaLdY];
  const int K = int(w.rows), N = int(w.cols), ld = w.tile_cols;
  const int n0 = int(blockIdx.y) * kInputChunk, len = min(N - n0, kInputChunk), lenp = (len + 7) & ~7;
  stage_rows<8 * NT>(ys, kMmaLdY, dY, N, M, n0, len, lenp);
  __syncthreads();
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int kw = int(blockIdx.x) * kColsPerBlock + warp * 32;
  if (kw >= K) return;
  const TileInfo* row_tiles[2];
  int row[2];         // in-tile row of fragment row g of A tile i
  bool live[2][2];    // row kw + 16 i + 8 h + g inside W
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    const int k = min(kw + 16 * i, K - 1);  // a tile past K reads row K - 1's tile (never used)
    const std::uint32_t tr = w.div_rows.div(std::uint32_t(k));
    row_tiles[i] = w.tiles + std::int64_t(tr) * w.n_tile_cols;
    row[i] = (k & ~15) - int(tr) * w.tile_rows + g;
    live[i][0] = kw + 16 * i + g < K;
    live[i][1] = kw + 16 * i + 8 + g < K;
  }
  float acc[2][NT][4] = {};
  for (int nn = 0; nn < len;) {  // tile segments: the chunk's columns inside one tile column
    const int n = n0 + nn;
    const std::uint32_t tc = w.div_cols.div(std::uint32_t(n));
    const int nc = n - int(tc) * ld, seg = min(len - nn, ld - nc);
    const float* p[2];
    std::uint32_t sb[2];
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      const TileInfo ti = row_tiles[i][tc];
      sb[i] = sign_bit(w, ti.sign_hash);
      p[i] = memory + ti.start + std::int64_t(row[i]) * ld + nc + 2 * t;
    }
    for (int s0 = 0; s0 < seg; s0 += 8 * kMmaSteps) {
      std::uint32_t a[kMmaSteps][2][4];
#pragma unroll
      for (int s = 0; s < kMmaSteps; ++s) {
        const int c = s0 + 8 * s;  // step columns c .. c + 7 of the segment
        if (c >= seg) break;
        const bool c0 = c + 2 * t < seg, c1 = c + 2 * t + 1 < seg;  // false only past N
#pragma unroll
        for (int i = 0; i < 2; ++i) {
          const float* q = p[i] + c;
          a[s][i][0] = weight_bits(q, c0 && live[i][0], sb[i]);
          a[s][i][1] = weight_bits(q + 8 * ld, c0 && live[i][1], sb[i]);
          a[s][i][2] = weight_bits(q + 1, c1 && live[i][0], sb[i]);
          a[s][i][3] = weight_bits(q + 8 * ld + 1, c1 && live[i][1], sb[i]);
        }
      }
      float part[2][NT][4] = {};  // fp32: these 32 columns' sum, added to acc in fp32
#pragma unroll
      for (int s = 0; s < kMmaSteps; ++s) {
        const int c = s0 + 8 * s;
        if (c >= seg) break;
        std::uint32_t a_lo[2][4];
        if (F32) split_a(a[s], a_lo);
#pragma unroll
        for (int j = 0; j < NT; ++j) {
          const float2 q = *reinterpret_cast<const float2*>(ys + (8 * j + g) * kMmaLdY + nn + c + 2 * t);
          std::uint32_t b[2] = {__float_as_uint(q.x), __float_as_uint(q.y)};
          column_mmas<NT, F32>(acc, part, j, a[s], a_lo, b);
        }
      }
      if (F32) add_to(acc, part);
    }
    nn += seg;
  }
  store_transposed<NT>(acc, partial + std::int64_t(blockIdx.y) * M * K, K, kw, M, 1.0f);
}

}  // namespace

void small_forward_mma(int tiles8, bool f32, dim3 grid, const WeightView& w, const float* memory, const float* X,
                       int M, int chunk, float* partial, float* Y) {
  if (f32) forward_mma_kernel<4, true><<<grid, kColsPerBlock, 0, stream()>>>(w, memory, X, M, chunk, partial, Y);
  else if (tiles8 == 1) forward_mma_kernel<1, false><<<grid, kColsPerBlock, 0, stream()>>>(w, memory, X, M, chunk, partial, Y);
  else if (tiles8 == 2) forward_mma_kernel<2, false><<<grid, kColsPerBlock, 0, stream()>>>(w, memory, X, M, chunk, partial, Y);
  else forward_mma_kernel<4, false><<<grid, kColsPerBlock, 0, stream()>>>(w, memory, X, M, chunk, partial, Y);
}

void small_backward_input_mma(int tiles8, bool f32, dim3 grid, const WeightView& w, const float* memory,
                              const float* dY, int M, float* partial) {
  const auto run = [&](auto kernel) { kernel<<<grid, kColsPerBlock, 0, stream()>>>(w, memory, dY, M, partial); };
  if (tiles8 == 1) f32 ? run(backward_input_mma_kernel<1, true>) : run(backward_input_mma_kernel<1, false>);
  else if (tiles8 == 2) f32 ? run(backward_input_mma_kernel<2, true>) : run(backward_input_mma_kernel<2, false>);
  else f32 ? run(backward_input_mma_kernel<4, true>) : run(backward_input_mma_kernel<4, false>);
}

}  // namespace rmm
}  // namespace cuda
}  // namespace kernels
}  // namespace roast
