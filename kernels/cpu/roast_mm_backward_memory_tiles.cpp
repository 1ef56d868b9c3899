// ROAST-MM backward-memory for tiled mappings (roast, roast_local) and M > kSmallRows:
//     dM[loc(k, n)] += lambda * sign(k, n) * (X^T dY)[k, n]
//
// Owner computes, no shared gradient buffers: the region is cut into T slices of cells, one
// per thread. Thread t walks every tile (tile columns outer, tile rows inner), keeps the
// tile rows whose cells touch its slice (a tile is one contiguous run of cells, so this is
// a range test after one hash), computes exactly those rows of G = X^T dY with the
// micro-kernel, and adds lambda * sign * G into the cells of its slice. Rows straddling a
// slice edge are computed by both neighbours, each adding its own part; nothing else is
// computed twice. Each cell receives its additions in (tile column, tile row) order
// whatever T is, so dM is bitwise reproducible across runs and thread counts; the only
// barrier is after the shared packing of X^T.
//
// Packing: X^T once per call, per tile row, in kMR-row strips over depth blocks of M
// (shared, read-only); dY once per tile column per thread in kNR-column strips.
#include <omp.h>

#include "kernels/cpu/roast_mm_internal.h"

namespace roast {
namespace kernels {
namespace cpu {
namespace rmm {

namespace {

// Geometry of the packed operands: depth M in blocks of kc; a tile row block is bk rows
// (rounded up to whole kMR strips), a tile column bn columns (whole kNR strips).
struct TileGemm {
  i64 M, kc, rows_padded, cols_padded;
  // Floats of packed X^T per tile row: rows_padded x M.
  i64 xt_per_tile_row() const { return rows_padded * M; }
};

// Packs X^T for the rows [tr * bk, ...) of every tile row tr: block pc of tile row tr
// starts at xt + tr * xt_per_tile_row() + rows_padded * pc (strips of kc x kMR inside).
void pack_xt(const Mapping& map, const float* X, const TileGemm& g, bool bf16, float* xt) {
  const i64 K = map.rows, bk = map.tile_rows, n_tile_rows = map.n_tile_rows();
  const OperandA xt_op{X, K, true, bf16};
#pragma omp for schedule(static)
  for (i64 tr = 0; tr < n_tile_rows; ++tr) {
    const i64 rows = std::min(bk, K - tr * bk);
    for (i64 pc = 0; pc < g.M; pc += g.kc)
      pack_a(xt_op, tr * bk, rows, pc, std::min(g.kc, g.M - pc), xt + tr * g.xt_per_tile_row() + g.rows_padded * pc);
  }
}

// The tile rows [r0, r1) of tile (tr, tc) whose cells touch `slice` (r0 == r1: none).
void rows_in_slice(const Mapping& map, i64 start, i64 n_rows, i64 n_cols, CellRange slice, i64& r0, i64& r1) {
  r0 = r1 = 0;
  if (slice.misses(start, (n_rows - 1) * map.tile_cols + n_cols)) return;
  r0 = 0;
  while (r0 < n_rows && slice.misses(start + r0 * map.tile_cols, n_cols)) ++r0;
  r1 = n_rows;
  while (r1 > r0 && slice.misses(start + (r1 - 1) * map.tile_cols, n_cols)) --r1;
}

// Gt (rows_padded x cols_padded) rows [s0 * kMR, s1 * kMR), columns [0, cols) rounded up to
// kNR, = X^T[tile rows] * dY[tile cols].
void tile_product(const TileGemm& g, const float* xt_tile, const float* dy_packed, i64 s0, i64 s1, i64 cols,
                  float* Gt) {
  for (i64 pc = 0; pc < g.M; pc += g.kc) {
    const i64 kc = std::min(g.kc, g.M - pc);
    const float* a_block = xt_tile + g.rows_padded * pc;
    const float* b_block = dy_packed + g.cols_padded * pc;
    for (i64 j = 0; j < cols; j += kNR)
      for (i64 s = s0; s < s1; ++s)
        micro_kernel(kc, a_block + s * kMR * kc, b_block + j * kc, Gt + s * kMR * g.cols_padded + j, g.cols_padded,
                     pc > 0);
  }
}

}  // namespace

void backward_memory_tiled(const Mapping& map, const float* X, const float* dY, i64 M, float* dM, bool bf16) {
  const i64 K = map.rows, N = map.cols, bk = map.tile_rows, bn = map.tile_cols;
  const TileGemm g{M, choose_blocking(1, 1).kc, round_up(bk, kMR), round_up(bn, kNR)};
  float* xt = thread_floats(kSlotStage, map.n_tile_rows() * g.xt_per_tile_row());  // the caller's, shared
  const i64 n_tile_rows = map.n_tile_rows(), n_tile_cols = map.n_tile_cols();

#pragma omp parallel
  {
    pack_xt(map, X, g, bf16, xt);  // ends with the implicit barrier of its omp for
    const i64 n_threads = omp_get_num_threads(), t = omp_get_thread_num();
    const CellRange slice{map.region_base + map.region_size * t / n_threads,
                          map.region_base + map.region_size * (t + 1) / n_threads};
    float* dy_packed = thread_floats(kSlotPackB, g.cols_padded * M);
    float* Gt = thread_floats(kSlotUnit, g.rows_padded * g.cols_padded);
    const PackDense dy_op(dY, N, bf16);
    for (i64 tc = 0; tc < n_tile_cols; ++tc) {
      const i64 n0 = tc * bn, n_cols = std::min(bn, N - n0);
      bool packed = false;
      for (i64 tr = 0; tr < n_tile_rows; ++tr) {
        const i64 k0 = tr * bk, n_rows = std::min(bk, K - k0);
        i64 r0, r1;
        rows_in_slice(map, map.tile_start(tr, tc), n_rows, n_cols, slice, r0, r1);
        if (r0 == r1) continue;
        if (!packed) {
          for (i64 pc = 0; pc < M; pc += g.kc)
            dy_op.pack(pc, std::min(g.kc, M - pc), n0, n_cols, dy_packed + g.cols_padded * pc);
          packed = true;
        }
        tile_product(g, xt + tr * g.xt_per_tile_row(), dy_packed, r0 / kMR, ceil_div(r1, kMR), n_cols, Gt);
        for_each_run(
            map, nullptr, k0 + r0, k0 + r1, n0, n0 + n_cols, true,
            [&](const Run& r) {
              const i64 j0 = std::max(slice.lo, r.cell) - r.cell, j1 = std::min(slice.hi, r.cell + r.len) - r.cell;
              const float* gt = Gt + (r.k - k0) * g.cols_padded;
              float* d = dM + r.cell;
              if (r.signs) {
                for (i64 j = j0; j < j1; ++j) d[j] += gt[j] * r.signs[j];
              } else {
                for (i64 j = j0; j < j1; ++j) d[j] += gt[j] * r.scale;
              }
            },
            slice);
      }
    }
  }
}

}  // namespace rmm
}  // namespace cpu
}  // namespace kernels
}  // namespace roast
