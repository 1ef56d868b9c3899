// ROAST-MM backward-memory dM[loc(k, n)] += lambda * sign(k, n) * (X^T dY)[k, n], and the
// fallback dM += lambda * sign .* dW for a dense dW.
//
// Tiled mappings go to roast_mm_backward_memory_tiles.cpp (owner computes, no barriers);
// this file serves the dense/exact and hashednet layouts, and M <= kSmallRows.
// Strategy for hashednet (race-free, deterministic): the K x N gradient G = X^T dY is cut
// into units of uk x un, numbered row-major. Units are processed in rounds of T (threads):
//   1. compute: thread t computes unit round * T + t into its buffer with the packed GEMM
//      (A = X^T, B = dY) and folds lambda * sign into it (hashednet also records cells);
//   2. barrier; scatter: thread t adds every unit of the round, in unit order, but only the
//      cells inside its own slice [lo_t, hi_t) of the region (double-buffered units, so one
//      barrier per round).
// Each cell thus receives its additions in unit order whatever T is, so dM is bitwise
// reproducible across runs and thread counts. The dense/exact layouts are injective (no
// two weights share a cell), so there each thread adds its own units directly. For
// M <= kSmallRows (tiled and dense layouts) see backward_memory_small.
#include <omp.h>

#include <vector>

#include "kernels/cpu/roast_mm_internal.h"

namespace roast {
namespace kernels {
namespace cpu {

using rmm::i64;

namespace {

bool injective(const Mapping& map) { return map.scheme == Scheme::dense || map.scheme == Scheme::exact; }

// A unit's block of G: rows [k0, k1), columns [n0, n1), row stride ld in its buffer.
struct Unit {
  i64 k0, k1, n0, n1, ld;
};

// Multiplies G (laid out as `u`) by lambda * sign(k, n); for hashednet also stores each
// element's cell in `cells` (same layout).
void fold_signs(const Mapping& map, const Unit& u, float* G, i64* cells) {
  if (map.scheme != Scheme::hashednet) {
    rmm::for_each_run(map, nullptr, u.k0, u.k1, u.n0, u.n1, true, [&](const rmm::Run& r) {
      float* g = G + (r.k - u.k0) * u.ld + (r.n - u.n0);
      if (r.signs) {
        for (i64 j = 0; j < r.len; ++j) g[j] *= r.signs[j];
      } else {
        for (i64 j = 0; j < r.len; ++j) g[j] *= r.scale;
      }
    });
    return;
  }
  const bool signed_elements = map.sign_mode == SignMode::element;
  for (i64 k = u.k0; k < u.k1; ++k) {
    const std::uint64_t loc_key = map.element_loc_key(k), sign_key = map.element_sign_key(k);
    float* g = G + (k - u.k0) * u.ld;
    i64* cell = cells + (k - u.k0) * u.ld;
    for (i64 n = u.n0; n < u.n1; ++n) {
      cell[n - u.n0] = map.element_cell(loc_key, n);
      const float s = signed_elements ? Mapping::element_sign(sign_key, n) : 1.0f;
      g[n - u.n0] *= map.lambda * s;
    }
  }
}

// dM[c] += G for the unit's cells c in [lo, hi) (G already carries lambda * sign).
void scatter_unit(const Mapping& map, const Unit& u, const float* G, const i64* cells, i64 lo, i64 hi, float* dM) {
  if (map.scheme == Scheme::hashednet) {
    for (i64 k = u.k0; k < u.k1; ++k) {
      const float* g = G + (k - u.k0) * u.ld;
      const i64* cell = cells + (k - u.k0) * u.ld;
      for (i64 j = 0; j < u.n1 - u.n0; ++j)
        if (cell[j] >= lo && cell[j] < hi) dM[cell[j]] += g[j];
    }
    return;
  }
  rmm::for_each_run(
      map, nullptr, u.k0, u.k1, u.n0, u.n1, false,
      [&](const rmm::Run& r) {
        const i64 first = std::max(lo, r.cell), last = std::min(hi, r.cell + r.len);
        const float* g = G + (r.k - u.k0) * u.ld + (r.n - u.n0) - r.cell;
        for (i64 c = first; c < last; ++c) dM[c] += g[c];
      },
      rmm::CellRange{lo, hi});
}

// M <= kSmallRows, tiled or dense: no GEMM and no buffer. Thread t walks the runs of the
// whole of W that touch its slice [lo, hi) of the region (whole tiles elsewhere are skipped
// after one hash) and adds lambda * sign * x[m, k] dy[m, n] into its cells, row m by row m,
// in a fixed order: race-free, and the same order whatever the thread count.
void backward_memory_small(const Mapping& map, const float* X, const float* dY, i64 M, float* dM) {
  const i64 K = map.rows, N = map.cols;
#pragma omp parallel
  {
    const i64 n_threads = omp_get_num_threads(), t = omp_get_thread_num();
    const rmm::CellRange slice{map.region_base + map.region_size * t / n_threads,
                               map.region_base + map.region_size * (t + 1) / n_threads};
    for (i64 m = 0; m < M; ++m) rmm::row_backward_memory(map, X + m * K, dY + m * N, dM, slice);
  }
}

}  // namespace

void roast_mm_backward_memory(const Mapping& map, const Numerics& numerics, MappingCache*, const float* X,
                              const float* dY, i64 M, float* dM) {
  roast_mm_check(map, "roast_mm_backward_memory");
  if (M <= 0) return;
  // bf16: X and dY rounded (lambda * sign multiplies the fp32 product, as on CUDA).
  const bool bf16 = numerics.precision == Precision::bf16;
  if (M <= rmm::kSmallRows && map.scheme != Scheme::hashednet) {
    // Few rows, read directly: rounded copies (M * (K + N) floats).
    if (bf16)
      backward_memory_small(map, rmm::bf16_copy(rmm::kSlotBf16X, X, M * map.rows),
                            rmm::bf16_copy(rmm::kSlotBf16Y, dY, M * map.cols), M, dM);
    else
      backward_memory_small(map, X, dY, M, dM);
    return;
  }
  if (map.tiled()) {
    rmm::backward_memory_tiled(map, X, dY, M, dM, bf16);
    return;
  }
  const i64 K = map.rows, N = map.cols;
  const bool tiled = map.tiled();
  const rmm::Blocking unit_blk = rmm::choose_blocking(tiled ? map.tile_rows : 1, tiled ? map.tile_cols : 1);
  const i64 uk = unit_blk.kc, un = 2 * unit_blk.nc;  // 256 x 512 G values: few rounds, in L2
  const i64 n_unit_cols = rmm::ceil_div(N, un), n_units = rmm::ceil_div(K, uk) * n_unit_cols;
  // The unit GEMM: rows k, columns n, depth M; columns in one panel of the unit's width.
  const rmm::Blocking gemm_blk{unit_blk.mc, rmm::choose_blocking(1, 1).kc, un};
  const rmm::OperandA xt{X, K, true, bf16};
  const rmm::PackDense dy(dY, N, bf16);
  const auto unit_of = [&](i64 index) {
    const i64 k0 = index / n_unit_cols * uk, n0 = index % n_unit_cols * un;
    return Unit{k0, std::min(K, k0 + uk), n0, std::min(N, n0 + un), un};
  };
  const i64 lo_all = map.region_base, size = map.region_size, unit_floats = uk * un;
  const bool hashed_cells = map.scheme == Scheme::hashednet;
  std::vector<float*> buffers;  // thread t's two unit buffers (rounds alternate between them)
  std::vector<i64*> cell_buffers;

#pragma omp parallel
  {
    const i64 n_threads = omp_get_num_threads(), t = omp_get_thread_num();
#pragma omp single
    {
      buffers.assign(std::size_t(n_threads), nullptr);
      cell_buffers.assign(std::size_t(n_threads), nullptr);
    }
    buffers[std::size_t(t)] = rmm::thread_floats(rmm::kSlotUnit, 2 * unit_floats);
    cell_buffers[std::size_t(t)] =
        hashed_cells ? static_cast<i64*>(rmm::thread_bytes(rmm::kSlotCells, std::size_t(2 * unit_floats) * sizeof(i64)))
                     : nullptr;
    const i64 lo = lo_all + size * t / n_threads, hi = lo_all + size * (t + 1) / n_threads;
#pragma omp barrier
    // One barrier per round: round r computes into buffer r % 2, so computing round r + 1
    // never overwrites a buffer that another thread may still be scattering (round r - 1
    // scatters finished before everyone passed round r's barrier).
    for (i64 first = 0, round = 0; first < n_units; first += n_threads, ++round) {
      const i64 offset = (round % 2) * unit_floats;
      if (first + t < n_units) {
        const Unit u = unit_of(first + t);
        float* G = buffers[std::size_t(t)] + offset;
        i64* cells = hashed_cells ? cell_buffers[std::size_t(t)] + offset : nullptr;
        rmm::gemm_block(xt, dy, M, u.k0, u.k1, u.n0, u.n1, gemm_blk, G, u.ld);
        fold_signs(map, u, G, cells);
        if (injective(map)) scatter_unit(map, u, G, cells, lo_all, lo_all + size, dM);
      }
      if (injective(map)) continue;
#pragma omp barrier
      for (i64 owner = 0; owner < n_threads && first + owner < n_units; ++owner)
        scatter_unit(map, unit_of(first + owner), buffers[std::size_t(owner)] + offset,
                     hashed_cells ? cell_buffers[std::size_t(owner)] + offset : nullptr, lo, hi, dM);
    }
  }
}

void roast_mm_accumulate_dense(const Mapping& map, const Numerics&, MappingCache*, const float* dW, float* dM) {
  roast_mm_check(map, "roast_mm_accumulate_dense");
  const i64 K = map.rows, N = map.cols;
  const i64 lo_all = map.region_base, size = map.region_size;
  const rmm::Blocking blk = rmm::choose_blocking(map.tiled() ? map.tile_rows : 1, map.tiled() ? map.tile_cols : 1);
  const i64 uk = blk.kc, n_units = rmm::ceil_div(K, uk);
#pragma omp parallel
  {
    const i64 n_threads = omp_get_num_threads(), t = omp_get_thread_num();
    // Each thread folds signs into a copy of a row block of dW and adds the cells of its slice.
    const i64 lo = lo_all + size * t / n_threads, hi = lo_all + size * (t + 1) / n_threads;
    float* G = rmm::thread_floats(rmm::kSlotUnit, uk * N);
    i64* cells = map.scheme == Scheme::hashednet
                     ? static_cast<i64*>(rmm::thread_bytes(rmm::kSlotCells, std::size_t(uk * N) * sizeof(i64)))
                     : nullptr;
    for (i64 b = 0; b < n_units; ++b) {
      const Unit u{b * uk, std::min(K, b * uk + uk), 0, N, N};
      if (injective(map) && b % n_threads != t) continue;  // injective: one owner per block
      std::copy(dW + u.k0 * N, dW + u.k1 * N, G);
      fold_signs(map, u, G, cells);
      if (injective(map)) scatter_unit(map, u, G, cells, lo_all, lo_all + size, dM);
      else scatter_unit(map, u, G, cells, lo, hi, dM);
    }
  }
}

}  // namespace cpu
}  // namespace kernels
}  // namespace roast
