// ROAST-MM on CUDA: the deterministic memory gradient from a dense dW (numerics.deterministic;
// roast_mm.cu calls it): owner computes for tiled mappings, a sort by cell otherwise.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <tuple>
#include <vector>

#include "kernels/backend.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/mapping_cache.cuh"
#include "kernels/cuda/ops_common.cuh"
#include "kernels/cuda/roast_mm_device.cuh"

namespace roast {
namespace kernels {
namespace cuda {
using rmm::TileInfo;
using rmm::WeightView;
namespace {

// Owner computes for a tiled mapping.
//
// A tile of a roast mapping reads one run of tile_size consecutive cells, so the tiles that
// reach a cell are those whose run covers it. The tiles are ordered by first cell (then by
// index) once per mapping, on the host, and each block of cells gets the range of that order
// whose runs meet it. A thread owns kOwnedPerThread cells (kOwnedThreads apart): it adds each
// cell's weights of dW in that order and adds the sums to dM once. No atomics and no sort:
// the result does not depend on the schedule (bitwise reproducible), and dW is read once.
constexpr int kOwnedThreads = 256, kOwnedPerThread = 4, kOwnedCells = kOwnedThreads * kOwnedPerThread;
constexpr std::int64_t kOwnedMaxTiles = std::int64_t(1) << 22;  // more tiles: the atomic kernels

struct OwnedTile {
  std::int64_t start;       // first cell, relative to the region
  std::uint64_t sign_hash;  // as in the view's table
  std::int32_t k0, n0;      // the tile's first row and column of W
};

struct OwnedOrder {
  const OwnedTile* tiles = nullptr;
  const std::int32_t* lo = nullptr;  // per block of cells: its range [lo, hi) of the order
  const std::int32_t* hi = nullptr;
  std::int64_t blocks = 0;
};

__global__ void __launch_bounds__(kOwnedThreads)
    owned_accumulate_kernel(WeightView w, OwnedOrder order, std::int64_t region_base, std::int64_t region_size,
                            const float* __restrict__ dW, float* __restrict__ dM) {
  __shared__ OwnedTile batch[kOwnedThreads];
  const std::int64_t tile_size = std::int64_t(w.tile_rows) * w.tile_cols;
  for (std::int64_t b = blockIdx.x; b < order.blocks; b += gridDim.x) {
    const std::int64_t cell0 = b * kOwnedCells + threadIdx.x;  // cells cell0 + kOwnedThreads j
    const int lo = order.lo[b], hi = order.hi[b];
    float sum[kOwnedPerThread] = {};
    for (int i0 = lo; i0 < hi; i0 += kOwnedThreads) {
      const int n = min(kOwnedThreads, hi - i0);
      __syncthreads();  // the previous batch is used up
      if (int(threadIdx.x) < n) batch[threadIdx.x] = order.tiles[i0 + threadIdx.x];
      __syncthreads();
      for (int i = 0; i < n; ++i) {
        const OwnedTile tile = batch[i];
        // The loads of this thread's cells are issued together; each sum still runs in the
        // order (a tile that does not cover a cell adds nothing to it).
        float v[kOwnedPerThread];
#pragma unroll
        for (int j = 0; j < kOwnedPerThread; ++j) {
          const std::int64_t off = cell0 + kOwnedThreads * j - tile.start;
          v[j] = 0.0f;
          if (off < 0 || off >= tile_size) continue;
          const std::uint32_t r = w.div_cols.div(std::uint32_t(off));
          const std::int64_t k = tile.k0 + std::int64_t(r), col = tile.n0 + std::int64_t(std::uint32_t(off) - r * w.tile_cols);
          if (k >= w.rows || col >= w.cols) continue;  // an edge tile's cells past W
          v[j] = w.sign_of(tile.sign_hash, std::uint32_t(off)) * __ldg(dW + k * w.cols + col);
        }
#pragma unroll
        for (int j = 0; j < kOwnedPerThread; ++j) sum[j] += v[j];
      }
    }
#pragma unroll
    for (int j = 0; j < kOwnedPerThread; ++j) {  // (a cell nothing reached keeps its value)
      const std::int64_t cell = cell0 + kOwnedThreads * j;
      if (cell < region_size && sum[j] != 0.0f) dM[region_base + cell] += w.lambda * sum[j];
    }
  }
}

// The owned order's device array: the tiles sorted by first cell, then the [lo, hi) range of
// the order that meets each block of cells.
MappingCache::Entry build_owned_order(const Mapping& map, std::int64_t n_tiles, std::int64_t n_tc,
                                      std::int64_t blocks) {
  std::vector<OwnedTile> tiles(static_cast<std::size_t>(n_tiles));
  for (std::int64_t t = 0; t < n_tiles; ++t) {  // (map.tiled(): the view's signed_tiles is sign_mode != none)
    const std::int64_t tr = t / n_tc, tc = t % n_tc;
    const TileInfo info = rmm::tile_info(map, tr, tc, false, map.sign_mode != SignMode::none);
    tiles[std::size_t(t)] = OwnedTile{info.start - map.region_base, info.sign_hash, std::int32_t(tr * map.tile_rows),
                                      std::int32_t(tc * map.tile_cols)};
  }
  // By first cell, then by index (k0, n0): the order each cell's sum follows.
  std::sort(tiles.begin(), tiles.end(), [](const OwnedTile& a, const OwnedTile& b) {
    return std::tie(a.start, a.k0, a.n0) < std::tie(b.start, b.k0, b.n0);
  });
  const std::int64_t size = map.tile_size();
  std::vector<std::int32_t> bounds(static_cast<std::size_t>(2 * blocks));  // lo of every block, then hi
  std::size_t a = 0, z = 0;  // block b meets the tiles with b * C - size < start < (b + 1) * C
  for (std::int64_t b = 0; b < blocks; ++b) {
    while (a < tiles.size() && tiles[a].start + size <= b * kOwnedCells) ++a;
    while (z < tiles.size() && tiles[z].start < (b + 1) * kOwnedCells) ++z;
    bounds[std::size_t(b)] = std::int32_t(a);
    bounds[std::size_t(blocks + b)] = std::int32_t(std::max(a, z));
  }
  // One allocation: the tiles, then the bounds.
  const std::size_t tile_bytes = tiles.size() * sizeof(OwnedTile), bound_bytes = bounds.size() * sizeof(std::int32_t);
  unsigned char* base = static_cast<unsigned char*>(device_malloc(tile_bytes + bound_bytes));
  // On the calling thread's stream (which may be the side stream of run_beside), finished
  // before the host vectors go.
  check(cudaMemcpyAsync(base, tiles.data(), tile_bytes, cudaMemcpyHostToDevice, stream()), "cudaMemcpyAsync (tile order)");
  check(cudaMemcpyAsync(base + tile_bytes, bounds.data(), bound_bytes, cudaMemcpyHostToDevice, stream()),
        "cudaMemcpyAsync (tile order)");
  check(cudaStreamSynchronize(stream()), "cudaStreamSynchronize (tile order)");
  return MappingCache::Entry{base, blocks};
}

// The order of a tiled mapping's tiles (built on the host on first use, kept in the mapping's
// cache), or none (blocks == 0) for mappings with more than kOwnedMaxTiles tiles.
OwnedOrder owned_order(const Mapping& map, const WeightView& w, MappingCache& cache) {
  const std::int64_t n_tc = w.n_tile_cols, n_tiles = ((map.rows + w.tile_rows - 1) / w.tile_rows) * n_tc;
  if (n_tiles > kOwnedMaxTiles) return {};
  const std::int64_t blocks = (map.region_size + kOwnedCells - 1) / kOwnedCells;
  const MappingCache::Entry entry =
      cache.get(rmm::key_of(map, 1), [&] { return build_owned_order(map, n_tiles, n_tc, blocks); });
  const unsigned char* base = static_cast<const unsigned char*>(entry.data);
  const std::int32_t* lo = reinterpret_cast<const std::int32_t*>(base + std::size_t(n_tiles) * sizeof(OwnedTile));
  return OwnedOrder{reinterpret_cast<const OwnedTile*>(base), lo, lo + blocks, blocks};
}

// dM += the memory gradient of dW by owned_accumulate_kernel; false (nothing done) when the
// mapping is not tiled or has too many tiles. Used in deterministic mode, and for memories
// larger than L2 (roast_mm_accumulate_dense). With the memory in L2 it measured no faster
// than the atomic scatter (H100, TF32, 512 x 4096^2: materialised dM 0.169 ms against 0.168)
// or slower (512 x 768 x 3072, 144 blocks: 0.061 against 0.039), while against the sort of
// deterministic mode it is 3-13x faster (fp32 dM at 32 / 512 x 4096^2 and 512 x 768
// x 3072: 0.117 / 0.424 / 0.102 ms against 1.556 / 1.859 / 0.347).
// Deterministic accumulation for the other mappings (hashednet, dense, exact, and tiled ones
// with more than kOwnedMaxTiles tiles): (cell, lambda * sign * dW) per weight, cells relative
// to the region (so the sort needs only the region's bits), then sorted_scatter_add: a stable
// sort by cell and one fixed-order sum per cell. Bitwise reproducible.
__global__ void cell_pairs_kernel(Mapping map, const float* __restrict__ dW, std::int64_t* __restrict__ cells,
                                  float* __restrict__ values) {
  const std::int64_t total = map.rows * map.cols;
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < total;
       i += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t k = i / map.cols, n = i - k * map.cols;
    cells[i] = map.loc(k, n) - map.region_base;
    values[i] = map.lambda * map.sign(k, n) * dW[i];
  }
}

}  // namespace

namespace rmm {

bool accumulate_owned(const Mapping& map, MappingCache& cache, const float* dW, float* dM) {
  if (!map.tiled() || !rmm::has_view(map)) return false;
  const WeightView w = rmm::view_of(map, cache);
  const OwnedOrder order = owned_order(map, w, cache);
  if (order.blocks == 0) return false;
  const unsigned grid = unsigned(std::min<std::int64_t>(order.blocks, 65535 * 8));
  owned_accumulate_kernel<<<grid, kOwnedThreads, 0, stream()>>>(w, order, map.region_base, map.region_size, dW, dM);
  check_launch("roast_mm accumulate (owner computes)");
  return true;
}

void accumulate_deterministic(const Mapping& map, const float* dW, float* dM) {
  const std::int64_t n = map.rows * map.cols;
  DeviceBuffer cells(std::size_t(n) * sizeof(std::int64_t)), values(std::size_t(n) * sizeof(float));
  cell_pairs_kernel<<<blocks_for(n), 256, 0, stream()>>>(map, dW, cells.as<std::int64_t>(), values.as<float>());
  check_launch("roast_mm deterministic dM (pairs)");
  sorted_scatter_add(cells.as<std::int64_t>(), values.as<float>(), n, bits_for(map.region_size), dM + map.region_base);
}

}  // namespace rmm
}  // namespace cuda
}  // namespace kernels
}  // namespace roast
