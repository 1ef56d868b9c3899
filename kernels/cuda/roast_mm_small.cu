// ROAST-MM kernels for few rows (M <= kSmallM: inference, small batches). These products are
// bound by reading W once, so they walk W in the memory's order, with fp32 FMAs.
//   forward  a thread per column n of a K-chunk (split-K): it walks its column down the tile
//            rows (a thread's cells are a tile column; a warp's cells are runs of a tile row),
//            keeps M partial sums, and a second pass adds the chunks in a fixed order.
//   dX       M <= 4: a warp per row of W (lanes along the row). Otherwise a thread per row k of
//            W and chunk of N (split-N): it walks its row segment (runs of
//            the memory), keeps M partial sums; the same fixed-order second pass adds the chunks.
// (dM always runs the tiled kernel: its reduction is over the M rows, its outputs are all of W.)
#include <cuda_runtime.h>

#include <algorithm>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/roast_mm_device.cuh"
#include "kernels/cuda/runtime.h"

namespace roast {
namespace kernels {
namespace cuda {
namespace rmm {
namespace {

constexpr int kColsPerBlock = 128;
constexpr std::int64_t kMaxChunk = 256;

// acc[m] += x[m] * v for m < MAXM, x 16-byte aligned in shared memory.
template <int MAXM>
__device__ __forceinline__ void fma_rows(const float* x, float v, float (&acc)[MAXM]) {
  if constexpr (MAXM >= 4) {
#pragma unroll
    for (int m = 0; m < MAXM; m += 4) {
      const float4 q = *reinterpret_cast<const float4*>(x + m);
      acc[m] = fmaf(q.x, v, acc[m]);
      acc[m + 1] = fmaf(q.y, v, acc[m + 1]);
      acc[m + 2] = fmaf(q.z, v, acc[m + 2]);
      acc[m + 3] = fmaf(q.w, v, acc[m + 3]);
    }
  } else {
#pragma unroll
    for (int m = 0; m < MAXM; ++m) acc[m] = fmaf(x[m], v, acc[m]);
  }
}

template <int MAXM>
__global__ void __launch_bounds__(kColsPerBlock)
    forward_kernel(WeightView w, const float* __restrict__ memory, const float* __restrict__ X, int M,
                   std::int64_t chunk, float* __restrict__ partial, float* __restrict__ Y) {
  // X[:, chunk] as xs[kk][m], zero-padded to MAXM rows: one vector read serves 4 rows.
  __shared__ __align__(16) float xs[MAXM * kMaxChunk];
  const std::int64_t K = w.rows, N = w.cols;
  const std::int64_t kbeg = std::int64_t(blockIdx.y) * chunk;
  const std::int64_t len = min(K, kbeg + chunk) - kbeg;
  for (std::int64_t i = threadIdx.x; i < MAXM * len; i += blockDim.x) {
    const std::int64_t kk = i / MAXM, m = i - kk * MAXM;
    xs[i] = m < M ? X[m * K + kbeg + kk] : 0.0f;
  }
  __syncthreads();
  const std::int64_t n = std::int64_t(blockIdx.x) * kColsPerBlock + threadIdx.x;
  if (n >= N || len <= 0) return;

  float acc[MAXM];
#pragma unroll
  for (int m = 0; m < MAXM; ++m) acc[m] = 0.0f;
  const std::uint32_t tc = w.div_cols.div(std::uint32_t(n)), nc = std::uint32_t(n) - tc * w.tile_cols;
  std::uint32_t tr = w.div_rows.div(std::uint32_t(kbeg)), kr = std::uint32_t(kbeg) - tr * w.tile_rows;
  const TileInfo* tile = w.tiles + std::int64_t(tr) * w.n_tile_cols + tc;
  // Segment by segment (the rows of the chunk inside one tile): the loads of a segment are
  // independent, so the unrolled loop keeps several in flight.
  const bool per_element = w.sign == kElementSign;
  for (std::int64_t kk = 0; kk < len; tile += w.n_tile_cols, kr = 0) {
    const TileInfo t = *tile;
    const std::int64_t seg = min(len - kk, std::int64_t(w.tile_rows) - kr);
    const std::uint32_t w0 = kr * std::uint32_t(w.tile_cols) + nc;
    const float* p = memory + t.start + w0;
    const float s = w.sign_of(t.sign_hash, w0);  // the tile's sign (per-element signs below)
#pragma unroll 8
    for (std::int64_t j = 0; j < seg; ++j) {
      const float v = __ldg(p + j * w.tile_cols);
      const float sign = per_element ? w.sign_of(t.sign_hash, w0 + std::uint32_t(j) * w.tile_cols) : s;
      fma_rows<MAXM>(xs + (kk + j) * MAXM, sign * v, acc);
    }
    kk += seg;
  }
  for (int m = 0; m < M && m < MAXM; ++m) {
    if (partial != nullptr) partial[(std::int64_t(blockIdx.y) * M + m) * N + n] = acc[m];
    else Y[m * N + n] = w.lambda * acc[m];
  }
}

// Y[m, n] = lambda * sum over chunks s (in order) of partial[s, m, n].
__global__ void add_chunks_kernel(const float* __restrict__ partial, std::int64_t chunks, std::int64_t MN, float lambda,
                                  float* __restrict__ Y) {
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < MN;
       i += std::int64_t(gridDim.x) * blockDim.x) {
    float sum = 0.0f;
    for (std::int64_t s = 0; s < chunks; ++s) sum += partial[s * MN + i];
    Y[i] = lambda * sum;
  }
}

// dX, split along N: a thread per row k of W walks the chunk's columns of its row (a run of
// the memory per tile: consecutive loads hit the same cache lines), with dY[:, chunk] staged
// as ys[nn][m] (zero-padded to MAXM rows; every thread reads the same vector: a broadcast).
// Each chunk writes partial[chunk, m, k]; add_chunks_kernel sums the chunks in order.
constexpr std::int64_t kInputChunk = 256;

template <int MAXM>
__global__ void __launch_bounds__(256)
    backward_input_kernel(WeightView w, const float* __restrict__ memory, const float* __restrict__ dY, int M,
                          float* __restrict__ partial) {
  __shared__ __align__(16) float ys[MAXM * kInputChunk];
  const std::int64_t K = w.rows, N = w.cols;
  const std::int64_t n0 = std::int64_t(blockIdx.y) * kInputChunk;
  const std::int64_t len = min(kInputChunk, N - n0);
  for (std::int64_t i = threadIdx.x; i < MAXM * len; i += blockDim.x) {
    const std::int64_t nn = i / MAXM, m = i - nn * MAXM;
    ys[i] = m < M ? dY[m * N + n0 + nn] : 0.0f;
  }
  __syncthreads();
  const std::int64_t k = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k >= K) return;
  const std::uint32_t tr = w.div_rows.div(std::uint32_t(k)), kr = std::uint32_t(k) - tr * w.tile_rows;
  const TileInfo* row = w.tiles + std::int64_t(tr) * w.n_tile_cols;
  std::uint32_t tc = w.div_cols.div(std::uint32_t(n0)), nc = std::uint32_t(n0) - tc * w.tile_cols;
  float acc[MAXM];
#pragma unroll
  for (int m = 0; m < MAXM; ++m) acc[m] = 0.0f;
  const bool per_element = w.sign == kElementSign;
  for (std::int64_t nn = 0; nn < len; ++tc, nc = 0) {  // segment by segment: one tile at a time
    const TileInfo t = row[tc];
    const std::int64_t seg = min(len - nn, std::int64_t(w.tile_cols) - nc);
    const std::uint32_t w0 = kr * std::uint32_t(w.tile_cols) + nc;
    const float* p = memory + t.start + w0;
    const float s = w.sign_of(t.sign_hash, w0);
#pragma unroll 8
    for (std::int64_t j = 0; j < seg; ++j) {
      const float sign = per_element ? w.sign_of(t.sign_hash, w0 + std::uint32_t(j)) : s;
      fma_rows<MAXM>(ys + (nn + j) * MAXM, sign * __ldg(p + j), acc);
    }
    nn += seg;
  }
  for (int m = 0; m < M && m < MAXM; ++m) partial[(std::int64_t(blockIdx.y) * M + m) * K + k] = acc[m];
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

template <template <int> class Launch, class... Args>
void by_rows(std::int64_t M, Args... args) {
  if (M <= 1) Launch<1>::run(args...);
  else if (M <= 2) Launch<2>::run(args...);
  else if (M <= 4) Launch<4>::run(args...);
  else if (M <= 8) Launch<8>::run(args...);
  else if (M <= 16) Launch<16>::run(args...);
  else Launch<32>::run(args...);
}

template <int MAXM>
struct LaunchForward {
  static void run(dim3 grid, const WeightView& w, const float* memory, const float* X, int M, std::int64_t chunk,
                  float* partial, float* Y) {
    forward_kernel<MAXM><<<grid, kColsPerBlock, 0, stream()>>>(w, memory, X, M, chunk, partial, Y);
  }
};

template <int MAXM>
struct LaunchBackwardInput {
  static void run(dim3 grid, const WeightView& w, const float* memory, const float* dY, int M, float* partial) {
    backward_input_kernel<MAXM><<<grid, 256, 0, stream()>>>(w, memory, dY, M, partial);
  }
};

}  // namespace

void small_forward(const WeightView& w, const float* memory, const float* X, std::int64_t M, float* Y) {
  const std::int64_t K = w.rows, N = w.cols;
  const std::int64_t col_blocks = (N + kColsPerBlock - 1) / kColsPerBlock;
  // Enough blocks to keep many loads in flight (~16 per SM of a large part), chunks of 32..256
  // rows. The chunks' partial sums cost 2 * splits * M * N floats of traffic against K * N
  // reads of W: above 4 blocks per SM, keep that under a quarter (splits <= K / (8 M)).
  const std::int64_t want = std::max<std::int64_t>(1, (2112 + col_blocks - 1) / col_blocks);
  const std::int64_t fill = std::max<std::int64_t>(1, (528 + col_blocks - 1) / col_blocks);
  const std::int64_t traffic_cap = std::max<std::int64_t>(1, K / (8 * M));
  std::int64_t splits = std::min(want, (K + 31) / 32);
  if (splits > traffic_cap) splits = std::max(traffic_cap, std::min(splits, fill));
  splits = std::max(splits, (K + kMaxChunk - 1) / kMaxChunk);
  const std::int64_t chunk = (K + splits - 1) / splits;
  const std::int64_t chunks = (K + chunk - 1) / chunk;
  DeviceBuffer partial_buffer(chunks > 1 ? std::size_t(chunks * M * N) * sizeof(float) : 0);
  float* partial = partial_buffer.as<float>();
  by_rows<LaunchForward>(M, dim3(unsigned(col_blocks), unsigned(chunks)), w, memory, X, int(M), chunk, partial, Y);
  check_launch("roast_mm small forward");
  if (partial != nullptr) {
    add_chunks_kernel<<<blocks_for(M * N), 256, 0, stream()>>>(partial, chunks, M * N, w.lambda, Y);
    check_launch("roast_mm small forward (chunk sum)");
  }
}

void small_backward_input(const WeightView& w, const float* memory, const float* dY, std::int64_t M, float* dX) {
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
  by_rows<LaunchBackwardInput>(M, dim3(unsigned((K + 255) / 256), unsigned(chunks)), w, memory, dY, int(M), partial);
  check_launch("roast_mm small backward_input");
  add_chunks_kernel<<<blocks_for(M * K), 256, 0, stream()>>>(partial, chunks, M * K, w.lambda, dX);
  check_launch("roast_mm small backward_input (chunk sum)");
}

}  // namespace rmm
}  // namespace cuda
}  // namespace kernels
}  // namespace roast
