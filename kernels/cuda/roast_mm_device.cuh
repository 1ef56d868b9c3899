// Device-side view of one mapped weight W [K x N] for the ROAST-MM kernels (.cu only).
//
// Every supported mapping is read as a grid of tiles BR x BC whose rows are runs of
// consecutive cells: roast / roast_local use their tiles; dense and exact are one tile per
// row (BR = 1, BC = N, start = base + k * N). A per-mapping table holds each tile's first
// cell and sign hash, so W[k, n] costs two multiply-high divisions, one table read (shared
// by the neighbouring threads of a warp) and one read of the memory.
// hashednet has no tiles (every weight hashes alone); its products take the materialize path.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/mapping_cache.cuh"
#include "kernels/types.h"
#include "roast/hash.h"
#include "roast/mapping.h"

namespace roast {
namespace kernels {
namespace cuda {
namespace rmm {

// q = n / d for 0 <= n < 2^31 by multiply-high (Granlund-Montgomery), d >= 1.
struct FastDiv {
  std::uint32_t d = 1, magic = 0, shift = 0;
  FastDiv() = default;
  explicit FastDiv(std::uint32_t divisor) : d(divisor) {
    while ((std::uint64_t(1) << shift) < divisor) ++shift;
    magic = std::uint32_t(((std::uint64_t(1) << 32) * ((std::uint64_t(1) << shift) - divisor)) / divisor + 1);
  }
  __device__ __forceinline__ std::uint32_t div(std::uint32_t n) const {
    return std::uint32_t((std::uint64_t(__umulhi(n, magic)) + n) >> shift);
  }
};

struct TileInfo {
  std::int64_t start;      // memory cell of the tile's element (0, 0)
  std::uint64_t sign_hash; // tile-sign hash H(seed ^ salt, layer, tr, tc); 0 when unsigned
};

enum SignKind : int { kNoSign = 0, kTileSign = 1, kElementSign = 2 };

struct WeightView {
  const TileInfo* tiles = nullptr;  // [n_tile_rows * n_tile_cols]
  FastDiv div_rows, div_cols;       // by BR and BC
  std::int32_t tile_rows = 1, tile_cols = 1;
  std::int64_t n_tile_cols = 1;
  std::int32_t sign = kNoSign;
  std::int64_t rows = 0, cols = 0;  // K, N
  std::int64_t cells = 0;           // the memory cells the weight reads (its region)
  float lambda = 1.0f;

  // Sign of in-tile element w (row-major within the tile) of a tile with sign hash th.
  __device__ __forceinline__ float sign_of(std::uint64_t th, std::uint32_t w) const {
    if (sign == kNoSign) return 1.0f;
    if (sign == kTileSign) return hash::sign_of(th);
    return Mapping::element_sign_in_tile(th, w);
  }
  // The memory cell of W[k, n] and its sign (lambda not included).
  __device__ __forceinline__ std::int64_t cell(std::uint32_t k, std::uint32_t n, float* s) const {
    const std::uint32_t tr = div_rows.div(k), tc = div_cols.div(n);
    const std::uint32_t w = (k - tr * std::uint32_t(tile_rows)) * std::uint32_t(tile_cols) + (n - tc * std::uint32_t(tile_cols));
    const TileInfo t = tiles[std::int64_t(tr) * n_tile_cols + tc];
    *s = sign_of(t.sign_hash, w);
    return t.start + w;
  }
  // W[k, n] / lambda = sign * memory[cell].
  __device__ __forceinline__ float load(const float* __restrict__ memory, std::uint32_t k, std::uint32_t n) const {
    float s;
    const std::int64_t c = cell(k, n, &s);
    return s * __ldg(memory + c);
  }
};

// The table entry of tile (tr, tc): on the device for the view's table, on the host for the
// owned order of deterministic dM.
__host__ __device__ inline TileInfo tile_info(const Mapping& map, std::int64_t tr, std::int64_t tc, bool dense,
                                       bool signed_tiles) {
  TileInfo t;
  t.start = dense ? map.region_base + tr * map.cols : map.tile_start(tr, tc);
  t.sign_hash = signed_tiles ? map.tile_sign_hash(tr, tc) : 0;
  return t;
}

// The cache key of a mapping's array of `kind` (0 tile table, 1 owned order) in its MappingCache.
MappingCache::Key key_of(const Mapping& m, int kind);

// The deterministic memory gradient from a dense dW (roast_mm_owned.cu): dM[cell] += the sum
// of lambda * sign * dW over the cell's weights in a fixed order. accumulate_owned: owner
// computes for tiled mappings (false when the mapping has no view or too many tiles);
// accumulate_deterministic: a sort by cell, for any mapping.
bool accumulate_owned(const Mapping& map, MappingCache& cache, const float* dW, float* dM);
void accumulate_deterministic(const Mapping& map, const float* dW, float* dM);

// True when the fused kernels can serve the mapping (a tiled view exists and dimensions fit
// the 32-bit index math).
bool has_view(const Mapping& map);
// The view of a mapping; its tile table is built on first use and kept in `cache` (the
// MappingCache of the memory that owns the mapping: roast_mm.cu).
WeightView view_of(const Mapping& map, MappingCache& cache);

// The tiled GEMM kernels (roast_mm_gemm.cu), any M; TF32 tensor cores when tf32, else fp32.
void gemm_forward(const WeightView& w, bool tf32, const float* memory, const float* X, std::int64_t M, float* Y);
void gemm_backward_input(const WeightView& w, bool tf32, const float* memory, const float* dY, std::int64_t M,
                         float* dX);
void gemm_backward_memory(const WeightView& w, bool tf32, const float* X, const float* dY, std::int64_t M, float* dM);

// Whether the wgmma kernels (roast_mm_wgmma.cu) serve pass 0 (forward) or 1 (dX) of this
// mapping on the current device (then only the operands' alignment and size can still send a
// product to the other kernels).
bool wgmma_fits(const WeightView& w, int pass);

// The small-M kernels (roast_mm_small.cu), M <= kSmallM: fp32 FMAs, or tensor cores (TF32
// above 4 rows; fp32 as 3xTF32 for dX above 4 rows and the forward above 16). (dM has none:
// the tiled kernel serves every M.)
constexpr std::int64_t kSmallM = 32;
// out[i] = lambda * the sum over s = 0 .. chunks - 1, in that order, of partial[s * n + i].
void add_chunks(const float* partial, std::int64_t chunks, std::int64_t n, float lambda, float* out);
void small_forward(const WeightView& w, bool tf32, const float* memory, const float* X, std::int64_t M, float* Y);
void small_backward_input(const WeightView& w, bool tf32, const float* memory, const float* dY, std::int64_t M,
                          float* dX);

}  // namespace rmm
}  // namespace cuda
}  // namespace kernels
}  // namespace roast
