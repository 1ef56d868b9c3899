// ROAST-MM backward-input dX = lambda * dY * W^T.
//
// M > kSmallRows: the packed GEMM with B = W^T (PackWt): the depth is N, the output
// columns are K; a tile row of W becomes one packed column, so the fetch is the same
// contiguous read at a hashed offset as in the forward, written transposed.
// M <= kSmallRows: dot products of each run of W with dY, threads owning row blocks of W
// (columns of dX), so no two threads write the same dX element.
#include <cstring>

#include "kernels/cpu/roast_mm_internal.h"

namespace roast {
namespace kernels {
namespace cpu {

using rmm::i64;

namespace {
// dX[:, k0 : k1] for M <= kSmallRows rows: dx[m, k] += sum_j dy[m, n + j] * w(k, n + j).
void backward_input_small_block(const Mapping& map, const float* memory, const float* dY, i64 M, float* dX, i64 k0,
                                i64 k1) {
  const i64 K = map.rows, N = map.cols;
  for (i64 m = 0; m < M; ++m) std::memset(dX + m * K + k0, 0, std::size_t(k1 - k0) * sizeof(float));
  rmm::for_each_run(map, memory, k0, k1, 0, N, true, [&](const rmm::Run& r) {
    for (i64 m = 0; m < M; ++m) {
      dX[m * K + r.k] += rmm::dot_scaled(dY + m * N + r.n, r.src, r.signs, r.scale, r.len);
    }
  });
}

}  // namespace

void roast_mm_backward_input(const Mapping& map, const float* memory, const float* dY, i64 M, float* dX) {
  roast_mm_check(map, "roast_mm_backward_input");
  if (M <= 0) return;
  const bool tiled = map.tiled();
  // Depth (N) in whole tile columns, output width (K) in whole tile rows.
  const rmm::Blocking blk = rmm::choose_blocking(tiled ? map.tile_cols : 1, tiled ? map.tile_rows : 1);
  if (M <= rmm::kSmallRows) {
    const i64 n_blocks = rmm::ceil_div(map.rows, blk.nc);
#pragma omp parallel for schedule(static)
    for (i64 b = 0; b < n_blocks; ++b)
      backward_input_small_block(map, memory, dY, M, dX, b * blk.nc, std::min(map.rows, (b + 1) * blk.nc));
    return;
  }
  const rmm::PackWt pack(map, memory);
  rmm::gemm_parallel(rmm::OperandA{dY, map.cols, false}, pack, M, map.rows, map.cols, blk, dX, map.rows);
}

}  // namespace cpu
}  // namespace kernels
}  // namespace roast
