// ROAST-MM backward-input dX = lambda * dY * W^T.
//
// M > kSmallRows: the packed GEMM with B = W^T (PackWt): the depth is N, the output
// columns are K; a tile row of W becomes one packed column, so the fetch is the same
// contiguous read at a hashed offset as in the forward, written transposed.
// M <= kSmallRows: per row of dY, dot products of each tile row of W with dY
// (roast_mm_rowvec.cpp), threads owning row blocks of W (columns of dX).
#include "kernels/cpu/roast_mm_internal.h"

namespace roast {
namespace kernels {
namespace cpu {

using rmm::i64;

void roast_mm_backward_input(const Mapping& map, const Numerics& numerics, MappingCache*, const float* memory,
                             const float* dY, i64 M, float* dX) {
  roast_mm_check(map, "roast_mm_backward_input");
  if (M <= 0) return;
  const bool bf16 = numerics.precision == Precision::bf16;
  const bool tiled = map.tiled();
  // Depth (N) in whole tile columns, output width (K) in whole tile rows.
  const rmm::Blocking blk = rmm::choose_blocking(tiled ? map.tile_cols : 1, tiled ? map.tile_rows : 1);
  if (M <= rmm::kSmallRows && !bf16) {  // bf16 always packs (the packers round)
    const i64 n_blocks = rmm::ceil_div(map.rows, blk.nc);
#pragma omp parallel for schedule(static)
    for (i64 b = 0; b < n_blocks; ++b)
      for (i64 m = 0; m < M; ++m)
        rmm::row_backward_input(map, memory, dY + m * map.cols, dX + m * map.rows, b * blk.nc,
                                std::min(map.rows, (b + 1) * blk.nc));
    return;
  }
  const rmm::PackWt pack(map, memory, bf16);
  rmm::gemm_parallel(rmm::OperandA{dY, map.cols, false, bf16}, pack, M, map.rows, map.cols, blk, dX, map.rows);
}

void roast_mm_backward(const Mapping& map, const Numerics& numerics, MappingCache* cache, const float* memory,
                       const float* X, const float* dY, i64 M, float* dX, float* dM) {
  roast_mm_backward_input(map, numerics, cache, memory, dY, M, dX);
  roast_mm_backward_memory(map, numerics, cache, X, dY, M, dM);
}

}  // namespace cpu
}  // namespace kernels
}  // namespace roast
