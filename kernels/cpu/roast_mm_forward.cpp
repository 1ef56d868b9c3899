// ROAST-MM forward Y = lambda * X * W, the mapping check, and the materialised W.
//
// M > kSmallRows: the packed GEMM (gemm_parallel with PackW): per thread, for each column
// panel and depth block, the panel's tiles are packed once (K * N reads of the memory per
// call, amortised over M rows) and multiplied by the micro-kernel.
// M <= kSmallRows: GEMV-like passes without packing (roast_mm_rowvec.cpp), one per row of X,
// threads owning column panels of Y.
#include <omp.h>

#include "kernels/cpu/roast_mm_internal.h"
#include "roast/error.h"
#include "roast/plan.h"

namespace roast {
namespace kernels {
namespace cpu {

using rmm::i64;

void roast_mm_check(const Mapping& map, const char* op) {
  ROAST_CHECK(map.kind == TensorKind::matrix, op, ": the mapping must describe a matrix");
  ROAST_CHECK(map.rows >= 1 && map.cols >= 1, op, ": the weight must be at least 1 x 1, got ", map.rows, " x ",
              map.cols);
  ROAST_CHECK(map.tile_rows >= 1 && map.tile_cols >= 1, op, ": tile dims must be positive, got ", map.tile_rows,
              " x ", map.tile_cols);
  ROAST_CHECK(map.region_base >= 0, op, ": region_base must be >= 0, got ", map.region_base);
  i64 need = 1;
  if (map.scheme == Scheme::dense || map.scheme == Scheme::exact) need = map.rows * map.cols;
  if (map.tiled()) need = map.tile_size();
  ROAST_CHECK(map.region_size >= need, op, ": a ", scheme_name(map.scheme), " mapping of a ", map.rows, " x ",
              map.cols, " weight (tile ", map.tile_rows, " x ", map.tile_cols, ") needs a region of at least ", need,
              " cells, got ", map.region_size);
}

void roast_mm_forward(const Mapping& map, const Numerics& numerics, MappingCache*, const float* memory, const float* X,
                      i64 M, float* Y) {
  roast_mm_check(map, "roast_mm_forward");
  if (M <= 0) return;
  const bool bf16 = numerics.precision == Precision::bf16;
  const i64 width_unit = map.tiled() ? map.tile_cols : 1;
  const rmm::Blocking blk = rmm::choose_blocking(map.tiled() ? map.tile_rows : 1, width_unit);
  // bf16 always packs (the packers round); the unpacked single-row passes are fp32 only.
  if (M <= rmm::kSmallRows && !bf16) {
    const i64 n_panels = rmm::ceil_div(map.cols, blk.nc);
#pragma omp parallel for schedule(static)
    for (i64 p = 0; p < n_panels; ++p)
      for (i64 m = 0; m < M; ++m)
        rmm::row_forward(map, memory, X + m * map.rows, Y + m * map.cols, p * blk.nc, std::min(map.cols, (p + 1) * blk.nc));
    return;
  }
  const rmm::PackW pack(map, memory, bf16);
  rmm::gemm_parallel(rmm::OperandA{X, map.rows, false, bf16}, pack, M, map.cols, map.rows, blk, Y, map.cols);
}

// The CPU has one path, the fused kernels, and nothing to time.
const char* roast_mm_selected_path(const Mapping&, const Numerics&, i64, int) { return "fused"; }
void roast_mm_forget_paths() {}

void roast_mm_materialize(const Mapping& map, MappingCache*, const float* memory, float* W) {
  roast_mm_check(map, "roast_mm_materialize");
  const i64 K = map.rows, N = map.cols;
  const i64 rows_per_block = map.tiled() ? map.tile_rows : 1;
  const i64 n_blocks = rmm::ceil_div(K, rows_per_block);
#pragma omp parallel for schedule(static)
  for (i64 b = 0; b < n_blocks; ++b) {
    const i64 k0 = b * rows_per_block, k1 = std::min(K, k0 + rows_per_block);
    rmm::for_each_run(map, memory, k0, k1, 0, N, true, [&](const rmm::Run& r) {
      float* w = W + r.k * N + r.n;
      for (i64 j = 0; j < r.len; ++j) w[j] = r.src[j] * (r.signs ? r.signs[j] : r.scale);
    });
  }
}

}  // namespace cpu
}  // namespace kernels
}  // namespace roast
