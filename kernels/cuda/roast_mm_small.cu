// ROAST-MM kernels for few rows (M <= kSmallM: inference, small batches). These products are
// bound by reading W once (16M weights at 4096^2 against 32 rows of X), so they walk W in the
// memory's order and split the long dimension into chunks to fill the GPU; a second pass adds
// the chunks' partial sums in a fixed order (deterministic), or, for the FMA forward on sm_90
// when the chunks are few, a cluster of blocks adds them in shared memory (in a fixed order
// too) in the same launch.
//   fp32 forward  a thread per C columns n of a K-chunk (split-K): it walks its columns down
//                 the tile rows (a warp's loads are runs of a tile row), keeps C x M sums, and
//                 reads X[:, chunk] from shared memory as vectors broadcast to the warp.
//   fp32 dX       M <= 4: a warp per row of W (lanes along the row). Otherwise a thread per
//                 row k of W and chunk of N (split-N), dY[:, chunk] staged as vectors (for
//                 mappings the tensor-core kernels do not serve).
//   tensor cores  TF32 above 4 rows, fp32 (3xTF32) for dX above 4 rows and the forward above
//                 16: the same splits on mma.sync, in roast_mm_small_mma.cu (its header has
//                 the scheme and the tiles it needs; the default 32 x 64 qualifies).
// (dM always runs the tiled kernel: its reduction is over the M rows, its outputs are all of W.)
#include <cooperative_groups.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/roast_mm_device.cuh"
#include "kernels/cuda/roast_mm_small.cuh"
#include "kernels/cuda/roast_mm_tiled.cuh"
#include "kernels/backend.h"
#include "roast/backend.h"

namespace roast {
namespace kernels {
namespace cuda {
namespace rmm {
namespace {


// Columns per thread of the fp32 forward kernel: two above 4 rows, so that each vector read
// of X feeds 8 FMAs. The loop is latency-bound, so the kernel asks for 4 blocks (16 warps)
// per SM: at 32 rows that caps it at 128 registers (ptxas spills ~70 bytes) and measured
// 1.6x faster than the 148-register, 3-block build (H100, 32 x 4096 x 4096).
constexpr int cols_per_thread(int maxm) { return maxm > 4 ? 2 : 1; }

// Row stride of a slab staged as [kk][m] (MAXM rows of X or dY per kk): 4 floats of padding
// put the 16-byte stores of 8 consecutive kk (a quarter warp) on distinct banks; the reads
// are warp-wide broadcasts of one vector.
template <int MAXM>
constexpr int slab_ld() {
  return MAXM >= 4 ? MAXM + 4 : MAXM;
}

// dst[kk][m] = src[m * ld + c0 + kk] for kk < len and m < MAXM, zero for m >= M. Threads run
// along kk, so the reads are coalesced runs of one row.
template <int MAXM>
__device__ __forceinline__ void stage_transposed(float* dst, const float* __restrict__ src, std::int64_t ld, int M,
                                                 std::int64_t c0, int len) {
  constexpr int kLd = slab_ld<MAXM>();
  const int threads = int(blockDim.x * blockDim.y);
  for (int kk = int(threadIdx.y * blockDim.x + threadIdx.x); kk < len; kk += threads) {
    const float* s = src + c0 + kk;
    float v[MAXM];
#pragma unroll
    for (int m = 0; m < MAXM; ++m) v[m] = m < M ? __ldg(s + m * ld) : 0.0f;
    if constexpr (MAXM >= 4) {
#pragma unroll
      for (int m = 0; m < MAXM; m += 4)
        *reinterpret_cast<float4*>(dst + kk * kLd + m) = make_float4(v[m], v[m + 1], v[m + 2], v[m + 3]);
    } else {
#pragma unroll
      for (int m = 0; m < MAXM; ++m) dst[kk * kLd + m] = v[m];
    }
  }
}

// acc[c][m] += x[m] * v[c] for m < MAXM, x 16-byte aligned in shared memory.
template <int MAXM, int C>
__device__ __forceinline__ void fma_rows(const float* x, const float (&v)[C], float (&acc)[C][MAXM]) {
  if constexpr (MAXM >= 4) {
#pragma unroll
    for (int m = 0; m < MAXM; m += 4) {
      const float4 q = *reinterpret_cast<const float4*>(x + m);
#pragma unroll
      for (int c = 0; c < C; ++c) {
        acc[c][m] = fmaf(q.x, v[c], acc[c][m]);
        acc[c][m + 1] = fmaf(q.y, v[c], acc[c][m + 1]);
        acc[c][m + 2] = fmaf(q.z, v[c], acc[c][m + 2]);
        acc[c][m + 3] = fmaf(q.w, v[c], acc[c][m + 3]);
      }
    }
  } else {
#pragma unroll
    for (int m = 0; m < MAXM; ++m) {
      const float q = x[m];
#pragma unroll
      for (int c = 0; c < C; ++c) acc[c][m] = fmaf(q, v[c], acc[c][m]);
    }
  }
}

// Row groups of a forward block whose K-chunks are summed in a cluster (forward_kernel).
constexpr int kRowGroups = 4;
constexpr int kMaxClusterChunks = 8;  // blocks per cluster (the portable maximum)

// The sum of a cluster's parts, in rank order: each block has left its part of the outputs,
// n floats, in its shared memory at `part`; block `rank` of `size` (which must be `blocks`)
// sums outputs i of its share over all blocks and hands each sum to out(i, sum). Returns once
// every block has read the others' parts (their shared memory stays until then). sm_90 only.
template <class Out>
__device__ __forceinline__ void sum_cluster_parts(const float* part, int n, int blocks, Out out) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  namespace cg = cooperative_groups;
  cg::cluster_group cluster = cg::this_cluster();
  const int size = int(cluster.num_blocks()), rank = int(cluster.block_rank());
  if (size != blocks || size > kMaxClusterChunks) __trap();  // a launch that breaks the rule is a bug
  cluster.sync();
  const int share = (n + size - 1) / size, threads = int(blockDim.x * blockDim.y);
  const int end = min(n, (rank + 1) * share);
  for (int i = rank * share + int(threadIdx.y * blockDim.x + threadIdx.x); i < end; i += threads) {
    float v[kMaxClusterChunks];
#pragma unroll
    for (int r = 0; r < kMaxClusterChunks; ++r) v[r] = r < size ? cluster.map_shared_rank(part, r)[i] : 0.0f;
    float sum = v[0];
#pragma unroll
    for (int r = 1; r < kMaxClusterChunks; ++r) sum += v[r];
    out(i, sum);
  }
  cluster.sync();
#else
  (void)part, (void)n, (void)blocks, (void)out;
  __trap();  // the host launches clusters only for sm_90 binaries (clusters_run_here)
#endif
}

// fp32 forward, split-K. A warp owns 32 * C consecutive columns (column c of a lane is
// lane + 32 c: every load is a coalesced run of a tile row) and walks them down its rows
// tile segment by tile segment; the loads of a segment are independent, so the unrolled
// loop keeps several in flight.
// A block of kColsPerBlock x blockDim.y threads covers blockDim.y consecutive chunks of K
// (one per row group, threadIdx.y), summed in the block (in order of y). CLUSTER: the
// blockIdx.y blocks form one cluster and sum their parts in shared memory (sum_cluster_parts)
// into Y; otherwise block y writes its part to partial[y] (add_chunks_kernel sums them) or,
// without a split, Y.
template <int MAXM, int C, bool CLUSTER>
__global__ void __launch_bounds__(kColsPerBlock * kRowGroups, kForwardMinBlocks / kRowGroups)
    forward_kernel(WeightView w, const float* __restrict__ memory, const float* __restrict__ X, int M, int chunk,
                   float* __restrict__ partial, float* __restrict__ Y) {
  constexpr int kLd = slab_ld<MAXM>();
  static_assert(C * MAXM * kColsPerBlock <= kLd * kMaxChunk, "a block's part must fit the X slab");
  __shared__ __align__(16) float xs[kLd * kMaxChunk];
  const std::int64_t K = w.rows, N = w.cols;
  const int groups = int(blockDim.y), group = int(threadIdx.y);
  const std::int64_t kblock = std::int64_t(blockIdx.y) * groups * chunk;
  stage_transposed<MAXM>(xs, X, K, M, kblock, int(min(K - kblock, std::int64_t(groups) * chunk)));
  __syncthreads();
  const std::int64_t kbeg = kblock + std::int64_t(group) * chunk;
  const int len = int(max(std::int64_t(0), min(K - kbeg, std::int64_t(chunk))));
  const float* xg = xs + group * chunk * kLd;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const std::int64_t n0 = (std::int64_t(blockIdx.x) * kColsPerBlock + warp * 32) * C + lane;
  // A column past N reads column n0's cells (valid; n0 itself past N reads column 0) and is
  // never written.
  std::uint32_t tc[C], nc[C];
#pragma unroll
  for (int c = 0; c < C; ++c) {
    const std::uint32_t n = std::uint32_t(n0 + 32 * c < N ? n0 + 32 * c : (n0 < N ? n0 : 0));
    tc[c] = w.div_cols.div(n);
    nc[c] = n - tc[c] * w.tile_cols;
  }
  float acc[C][MAXM];
#pragma unroll
  for (int c = 0; c < C; ++c)
#pragma unroll
    for (int m = 0; m < MAXM; ++m) acc[c][m] = 0.0f;
  const std::uint32_t tr = w.div_rows.div(std::uint32_t(min(kbeg, K - 1)));
  std::uint32_t kr = std::uint32_t(min(kbeg, K - 1)) - tr * w.tile_rows;
  const TileInfo* row_tiles = w.tiles + std::int64_t(tr) * w.n_tile_cols;
  const bool per_element = w.sign == kElementSign;
  for (int kk = 0; kk < len; row_tiles += w.n_tile_cols, kr = 0) {
    const int seg = min(len - kk, int(w.tile_rows - kr));
    const float* p[C];
    std::uint64_t th[C];
    std::uint32_t w0[C];
    float s[C];
#pragma unroll
    for (int c = 0; c < C; ++c) {
      const TileInfo t = row_tiles[tc[c]];
      w0[c] = kr * std::uint32_t(w.tile_cols) + nc[c];
      p[c] = memory + t.start + w0[c];
      th[c] = t.sign_hash;
      s[c] = w.sign_of(th[c], w0[c]);  // the tile's sign (per-element signs below)
    }
    auto row = [&](int j) {
      float v[C];
#pragma unroll
      for (int c = 0; c < C; ++c) {
        const float sign = per_element ? w.sign_of(th[c], w0[c] + std::uint32_t(j * w.tile_cols)) : s[c];
        v[c] = sign * __ldg(p[c] + j * w.tile_cols);
      }
      fma_rows<MAXM, C>(xg + (kk + j) * kLd, v, acc);
    };
    // In a cluster, a few rows of X: little work per load and one block per SM, so runs of 16
    // loads in flight (6.6 against 7.9 us at 1 x 1024^2 on the H100). Not in the 128-thread
    // blocks of the partial sums: the registers they take cost blocks per SM (1 and 4 x
    // 4096^2: 23 -> 29 us).
    int j = 0;
    if constexpr (CLUSTER && MAXM <= 4)
      for (; j + 16 <= seg; j += 16)
#pragma unroll
        for (int u = 0; u < 16; ++u) row(j + u);
#pragma unroll 4
    for (; j < seg; ++j) row(j);
    kk += seg;
  }
  // The block's sum, in order of the row groups, into group 0's acc; the slab is free once
  // every group has passed its loop.
  float* part = xs;  // part[(c * MAXM + m) * kColsPerBlock + x]
  const int x = threadIdx.x;
  for (int g = 1; g < groups; ++g) {
    __syncthreads();
    if (group == g)
#pragma unroll
      for (int c = 0; c < C; ++c)
#pragma unroll
        for (int m = 0; m < MAXM; ++m) part[(c * MAXM + m) * kColsPerBlock + x] = acc[c][m];
    __syncthreads();
    if (group == 0)
#pragma unroll
      for (int c = 0; c < C; ++c)
#pragma unroll
        for (int m = 0; m < MAXM; ++m) acc[c][m] += part[(c * MAXM + m) * kColsPerBlock + x];
  }
  const std::int64_t col0 = std::int64_t(blockIdx.x) * kColsPerBlock * C;  // the block's first column
  if constexpr (CLUSTER) {
    __syncthreads();
    if (group == 0)
#pragma unroll
      for (int c = 0; c < C; ++c)
#pragma unroll
        for (int m = 0; m < MAXM; ++m) part[(c * MAXM + m) * kColsPerBlock + x] = acc[c][m];
    // Output i = (c * MAXM + m) * kColsPerBlock + x is row m, column col0 + 32 (x / 32) C +
    // 32 c + x % 32.
    sum_cluster_parts(part, C * MAXM * kColsPerBlock, int(gridDim.y), [&](int i, float sum) {
      const int xi = i % kColsPerBlock, cm = i / kColsPerBlock, c = cm / MAXM, m = cm % MAXM;
      const std::int64_t n = col0 + std::int64_t(xi / 32) * 32 * C + 32 * c + xi % 32;
      if (m < M && n < N) Y[m * N + n] = w.lambda * sum;
    });
    return;
  }
  if (group != 0) return;
  float* out = partial != nullptr ? partial + std::int64_t(blockIdx.y) * M * N : Y;
  const float scale = partial != nullptr ? 1.0f : w.lambda;
#pragma unroll
  for (int c = 0; c < C; ++c) {
    if (n0 + 32 * c >= N) break;
#pragma unroll
    for (int m = 0; m < MAXM; ++m)
      if (m < M) out[m * N + n0 + 32 * c] = scale * acc[c][m];
  }
}

// Y[i] = lambda * sum over chunks s (in order) of partial[s, i]; the loads of 8 chunks are
// issued together.
__global__ void add_chunks_kernel(const float* __restrict__ partial, std::int64_t chunks, std::int64_t MN, float lambda,
                                  float* __restrict__ Y) {
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < MN;
       i += std::int64_t(gridDim.x) * blockDim.x) {
    float sum = 0.0f;
    std::int64_t s = 0;
    for (; s + 8 <= chunks; s += 8) {
      float v[8];
#pragma unroll
      for (int u = 0; u < 8; ++u) v[u] = partial[(s + u) * MN + i];
#pragma unroll
      for (int u = 0; u < 8; ++u) sum += v[u];
    }
    for (; s < chunks; ++s) sum += partial[s * MN + i];
    Y[i] = lambda * sum;
  }
}

// fp32 dX, split along N: a thread per row k of W walks the chunk's columns of its row (a run
// of the memory per tile: consecutive loads hit the same cache lines), with dY[:, chunk]
// staged as ys[nn][m] (every thread reads the same vector: a broadcast). Each chunk writes
// partial[chunk, m, k]; add_chunks_kernel sums the chunks in order.
template <int MAXM>
__global__ void __launch_bounds__(256)
    backward_input_kernel(WeightView w, const float* __restrict__ memory, const float* __restrict__ dY, int M,
                          float* __restrict__ partial) {
  constexpr int kLd = slab_ld<MAXM>();
  __shared__ __align__(16) float ys[kLd * kInputChunk];
  const std::int64_t K = w.rows, N = w.cols;
  const std::int64_t n0 = std::int64_t(blockIdx.y) * kInputChunk;
  const int len = int(min(std::int64_t(kInputChunk), N - n0));
  stage_transposed<MAXM>(ys, dY, N, M, n0, len);
  __syncthreads();
  const std::int64_t k = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k >= K) return;
  const std::uint32_t tr = w.div_rows.div(std::uint32_t(k)), kr = std::uint32_t(k) - tr * w.tile_rows;
  const TileInfo* row = w.tiles + std::int64_t(tr) * w.n_tile_cols;
  std::uint32_t tc = w.div_cols.div(std::uint32_t(n0)), nc = std::uint32_t(n0) - tc * w.tile_cols;
  float acc[1][MAXM];
#pragma unroll
  for (int m = 0; m < MAXM; ++m) acc[0][m] = 0.0f;
  const bool per_element = w.sign == kElementSign;
  for (int nn = 0; nn < len; ++tc, nc = 0) {  // segment by segment: one tile at a time
    const TileInfo t = row[tc];
    const int seg = min(len - nn, int(w.tile_cols - nc));
    const std::uint32_t w0 = kr * std::uint32_t(w.tile_cols) + nc;
    const float* p = memory + t.start + w0;
    const float s = w.sign_of(t.sign_hash, w0);
#pragma unroll 8
    for (int j = 0; j < seg; ++j) {
      const float sign = per_element ? w.sign_of(t.sign_hash, w0 + std::uint32_t(j)) : s;
      const float v[1] = {sign * __ldg(p + j)};
      fma_rows<MAXM, 1>(ys + (nn + j) * kLd, v, acc);
    }
    nn += seg;
  }
#pragma unroll
  for (int m = 0; m < MAXM; ++m)
    if (m < M) partial[(std::int64_t(blockIdx.y) * M + m) * K + k] = acc[0][m];
}

// dX for M <= kRowsPerWarpM: a warp per row k of W, lanes along the row (coalesced runs of the
// memory), dY read through the cache, warp-shuffle reduction. Fewer passes than the split-N
// kernel when each weight feeds only a few rows.
constexpr std::int64_t kRowsPerWarpM = 4;

template <int MAXM>
__global__ void __launch_bounds__(256)
    backward_input_warp_kernel(WeightView w, const float* __restrict__ memory, const float* __restrict__ dY, int M,
                               float* __restrict__ dX) {
  const int lane = threadIdx.x % 32;
  const std::int64_t K = w.rows, N = w.cols;
  const std::int64_t k = std::int64_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  if (k >= K) return;
  const std::uint32_t tr = w.div_rows.div(std::uint32_t(k)), kr = std::uint32_t(k) - tr * w.tile_rows;
  const TileInfo* row = w.tiles + std::int64_t(tr) * w.n_tile_cols;
  float acc[MAXM];
#pragma unroll
  for (int m = 0; m < MAXM; ++m) acc[m] = 0.0f;
  for (std::int64_t n = lane; n < N; n += 32) {
    const std::uint32_t tc = w.div_cols.div(std::uint32_t(n));
    const std::uint32_t wi = kr * std::uint32_t(w.tile_cols) + std::uint32_t(n) - tc * w.tile_cols;
    const TileInfo t = row[tc];
    const float v = w.sign_of(t.sign_hash, wi) * __ldg(memory + t.start + wi);
#pragma unroll
    for (int m = 0; m < MAXM; ++m)
      if (m < M) acc[m] = fmaf(__ldg(dY + m * N + n), v, acc[m]);
  }
#pragma unroll
  for (int m = 0; m < MAXM; ++m) {
    if (m >= M) break;
    float v = acc[m];
    for (int off = 16; off > 0; off /= 2) v += __shfl_down_sync(0xffffffffu, v, off);
    if (lane == 0) dX[m * K + k] = w.lambda * v;
  }
}

bool tile_signs(const WeightView& w) { return w.sign != kElementSign; }
// The tensor-core kernels serve TF32 above 4 rows, and fp32 (as 3xTF32) above 4 rows for dX
// but above 16 for the forward: there the fp32 FMA forward is already 1.6-2.8x cuBLAS (H100,
// 4096^2), against 0.55-0.57x for the FMA dX.
bool mma_forward_ok(const WeightView& w, bool tf32, std::int64_t M) {
  return M > (tf32 ? 4 : 16) && tile_signs(w) && w.tile_rows % 8 == 0 &&
         w.tile_cols % 32 == 0;
}
bool mma_input_ok(const WeightView& w, std::int64_t M) {
  return M > 4 && tile_signs(w) && w.tile_rows % 16 == 0 && w.tile_cols % 8 == 0;
}

template <template <int> class Launch, class... Args>
void by_rows(std::int64_t M, Args... args) {
  if (M <= 1) Launch<1>::run(args...);
  else if (M <= 2) Launch<2>::run(args...);
  else if (M <= 4) Launch<4>::run(args...);
  else if (M <= 8) Launch<8>::run(args...);
  else if (M <= 16) Launch<16>::run(args...);
  else Launch<32>::run(args...);
}

// The forward's launch: `groups` row groups per block; `cluster`: grid.y's blocks as one
// cluster (their chunks summed in shared memory, FMA kernel only).
template <int MAXM>
struct LaunchForward {
  static void run(dim3 grid, int groups, bool cluster, bool mma, bool tf32, const WeightView& w, const float* memory,
                  const float* X, int M, int chunk, float* partial, float* Y) {
    // fp32 takes the MMAs (3xTF32) only above 16 rows (mma_forward_ok); should the two rules
    // ever disagree, fp32 falls to the FMA kernel, never to plain TF32.
    const bool f32 = !tf32;
    if (MAXM >= 8 && mma && (!f32 || MAXM > 16)) {
      small_forward_mma(MAXM / 8, f32, grid, w, memory, X, M, chunk, partial, Y);
      return;
    }
    cudaLaunchConfig_t config = {};
    config.gridDim = grid;
    config.blockDim = dim3(kColsPerBlock, unsigned(groups));
    config.stream = stream();
    cudaLaunchAttribute attribute;
    attribute.id = cudaLaunchAttributeClusterDimension;
    attribute.val.clusterDim.x = 1;
    attribute.val.clusterDim.y = grid.y;
    attribute.val.clusterDim.z = 1;
    config.attrs = &attribute;
    config.numAttrs = cluster ? 1 : 0;
    void (*kernel)(WeightView, const float*, const float*, int, int, float*, float*) =
        cluster ? forward_kernel<MAXM, cols_per_thread(MAXM), true> : forward_kernel<MAXM, cols_per_thread(MAXM), false>;
    check(cudaLaunchKernelEx(&config, kernel, w, memory, X, M, chunk, partial, Y), "roast_mm small forward");
  }
};

// Whether the current device runs sm_90 code of this file, and so can sum chunks in a
// cluster (a probe of the device context).
bool clusters_run_here() {
  return context().fact(reinterpret_cast<const void*>(&forward_kernel<1, 1, true>), 0, [] {
    cudaFuncAttributes attributes;
    check(cudaFuncGetAttributes(&attributes, forward_kernel<1, 1, true>), "cudaFuncGetAttributes (small forward)");
    return attributes.binaryVersion >= 90 ? 1 : 0;
  }) == 1;
}

template <int MAXM>
struct LaunchBackwardInput {
  static void run(std::int64_t K, std::int64_t chunks, bool mma, bool tf32, const WeightView& w, const float* memory,
                  const float* dY, int M, float* partial) {
    if (MAXM >= 8 && mma) {
      const dim3 grid(unsigned((K + kColsPerBlock - 1) / kColsPerBlock), unsigned(chunks));
      small_backward_input_mma(MAXM / 8, !tf32, grid, w, memory, dY, M, partial);
      return;
    }
    const dim3 grid(unsigned((K + 255) / 256), unsigned(chunks));
    backward_input_kernel<MAXM><<<grid, 256, 0, stream()>>>(w, memory, dY, M, partial);
  }
};

}  // namespace

void add_chunks(const float* partial, std::int64_t chunks, std::int64_t n, float lambda, float* out) {
  add_chunks_kernel<<<blocks_for(n), 256, 0, stream()>>>(partial, chunks, n, lambda, out);
  check_launch("roast_mm chunk sum");
}

void small_forward(const WeightView& w, bool tf32, const float* memory, const float* X, std::int64_t M, float* Y) {
  const std::int64_t K = w.rows, N = w.cols;
  const bool mma = mma_forward_ok(w, tf32, M);
  const std::int64_t cols_per_block = kColsPerBlock * (mma ? 1 : cols_per_thread(int(M)));
  const std::int64_t col_blocks = (N + cols_per_block - 1) / cols_per_block;
  // Enough blocks to keep many loads in flight (~16 per SM), chunks of 32..256 rows. The
  // chunks' partial sums cost 2 * splits * M * N floats of traffic against K * N reads of W:
  // above 4 blocks per SM, keep that under a quarter (splits <= K / (8 M)).
  const std::int64_t sms = sm_count();
  const std::int64_t want = std::max<std::int64_t>(1, (16 * sms + col_blocks - 1) / col_blocks);
  const std::int64_t fill = std::max<std::int64_t>(1, (4 * sms + col_blocks - 1) / col_blocks);
  const std::int64_t traffic_cap = std::max<std::int64_t>(1, K / (8 * M));
  std::int64_t splits = std::min(want, (K + 31) / 32);
  if (splits > traffic_cap) splits = std::max(traffic_cap, std::min(splits, fill));
  splits = std::max(splits, (K + kMaxChunk - 1) / kMaxChunk);
  // fp32 on the tensor cores: one wave of four blocks per SM where the chunks allow it (at 24
  // rows x 4096^2 the rule above gave 672 blocks for 528 slots and took 0.054 ms; 0.042 ms
  // with this rule).
  if (mma && !tf32)
    splits = std::max((K + kMaxChunk - 1) / kMaxChunk, std::min((K + 31) / 32, kForwardMinBlocks * sms / col_blocks));
  std::int64_t chunk = (K + splits - 1) / splits;
  if (mma) chunk = (chunk + 7) / 8 * 8;  // MMA steps never straddle chunks (still <= kMaxChunk)
  std::int64_t chunks = (K + chunk - 1) / chunk;
  // The FMA kernel sums up to kRowGroups x kMaxClusterChunks chunks on the chip: row groups of
  // a block, then the blocks of a cluster (sm_90), in one launch without partial sums in
  // global memory or a second kernel. Measured on the H100 at 1..4 x 1024 x 1024 (32 chunks:
  // 4 row groups, clusters of 8): 9.8-12.5 -> 6.4-7.0 us, against cuBLAS's 7.5-10.3.
  int groups = 1;
  bool cluster = false;
  if (!mma && chunks > 1 && clusters_run_here()) {
    const std::int64_t g = (chunks + kMaxClusterChunks - 1) / kMaxClusterChunks;
    if (g <= kRowGroups && g * chunk <= kMaxChunk) {
      groups = int(g);
      chunks = (chunks + g - 1) / g;  // blocks along K, one cluster
      cluster = chunks > 1;
    }
  }
  DeviceBuffer partial_buffer(chunks > 1 && !cluster ? std::size_t(chunks * M * N) * sizeof(float) : 0);
  float* partial = partial_buffer.as<float>();
  by_rows<LaunchForward>(M, dim3(unsigned(col_blocks), unsigned(chunks)), groups, cluster, mma, tf32, w, memory, X, int(M),
                         int(chunk), partial, Y);
  check_launch("roast_mm small forward");
  if (partial != nullptr) {
    add_chunks_kernel<<<blocks_for(M * N), 256, 0, stream()>>>(partial, chunks, M * N, w.lambda, Y);
    check_launch("roast_mm small forward (chunk sum)");
  }
}

void small_backward_input(const WeightView& w, bool tf32, const float* memory, const float* dY, std::int64_t M,
                          float* dX) {
  if (M <= kRowsPerWarpM) {
    const unsigned blocks = unsigned((w.rows + 7) / 8);
    if (M == 1) backward_input_warp_kernel<1><<<blocks, 256, 0, stream()>>>(w, memory, dY, int(M), dX);
    else backward_input_warp_kernel<kRowsPerWarpM><<<blocks, 256, 0, stream()>>>(w, memory, dY, int(M), dX);
    check_launch("roast_mm small backward_input (warp per row)");
    return;
  }
  const std::int64_t K = w.rows, chunks = (w.cols + kInputChunk - 1) / kInputChunk;
  DeviceBuffer partial_buffer(std::size_t(chunks * M * K) * sizeof(float));
  float* partial = partial_buffer.as<float>();
  by_rows<LaunchBackwardInput>(M, K, chunks, mma_input_ok(w, M), tf32, w, memory, dY, int(M), partial);
  check_launch("roast_mm small backward_input");
  add_chunks_kernel<<<blocks_for(M * K), 256, 0, stream()>>>(partial, chunks, M * K, w.lambda, dX);
  check_launch("roast_mm small backward_input (chunk sum)");
}

}  // namespace rmm
}  // namespace cuda
}  // namespace kernels
}  // namespace roast
