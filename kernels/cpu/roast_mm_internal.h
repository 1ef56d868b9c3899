// Internals of ROAST-MM (kernels/cpu/roast_mm*.cpp): runs of W, packing, the GEMM engine.
//
// Precision::bf16 is emulated at packing time: the packers and pack_a round what they packed
// to bfloat16 (a pass over the packed block, outside the micro-kernel's loop; flags false in
// fp32, so the fp32 path is unchanged), and the micro-kernel accumulates in fp32. The weight
// is rounded after lambda * sign is folded in: bf16(lambda * sign * memory[loc]).
//
// A "run" is a piece of one row of W whose cells are consecutive in the memory: one row of
// one tile (roast, roast_local), one row segment of a block (dense, exact), or, for
// hashednet, a row segment gathered cell by cell into scratch. Every kernel walks W as runs
// and folds lambda * sign into what it reads or writes.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "kernels/backend.h"
#include "roast/mapping.h"

namespace roast {
namespace kernels {
namespace cpu {
namespace rmm {

using i64 = std::int64_t;

constexpr i64 kMR = 6;   // rows of C per micro-kernel call
constexpr i64 kNR = 16;  // columns of C per micro-kernel call (two AVX registers)
// Up to this many rows of X (or dY), the kernels skip packing and stream the runs of W
// directly (GEMV-like): the micro-kernel would waste most of its 6 rows.
constexpr i64 kSmallRows = 3;

inline i64 round_up(i64 x, i64 to) { return (x + to - 1) / to * to; }
inline i64 ceil_div(i64 x, i64 by) { return (x + by - 1) / by; }

// Per-thread scratch, 64-byte aligned, grown on demand and kept for the thread's lifetime
// (OpenMP threads persist, so steady-state calls allocate nothing). One buffer per slot.
enum Slot : int { kSlotPackB, kSlotPackA, kSlotRun, kSlotUnit, kSlotCells, kSlotStage, kSlotBf16X, kSlotBf16Y, kNumSlots };
void* thread_bytes(Slot slot, std::size_t n_bytes);
inline float* thread_floats(Slot slot, i64 n) { return static_cast<float*>(thread_bytes(slot, std::size_t(n) * 4)); }

// out[j] = s * sign of in-tile element w0 + j (sign mode `element` of a tiled mapping whose
// tile sign hash is th), for j < len; w0 + len <= tile size.
void tile_element_signs(std::uint64_t th, i64 w0, i64 len, float s, float* out);

// One contiguous run of W: row k, columns [n, n + len). Value j (lambda and sign included)
// is src[j] * (signs ? signs[j] : scale). cell is the memory cell of (k, n); the run's
// cells are cell .. cell + len - 1 (cell = -1 for a hashednet gather, whose src already
// holds the scaled values and scale = 1).
struct Run {
  i64 k, n, len, cell;
  const float* src;
  float scale;
  const float* signs;
};

// Cells [lo, hi) of the memory: a thread's slice when threads partition the memory.
struct CellRange {
  i64 lo, hi;
  bool misses(i64 cell, i64 len) const { return cell + len <= lo || cell >= hi; }
};
constexpr CellRange kAllCells{INT64_MIN / 2, INT64_MAX / 2};

// Calls f(const Run&) for every run of the block rows [k0, k1) x cols [n0, n1) of W, in a
// fixed order (tile columns, then tile rows, then rows). With with_signs false, signs and
// scale are left at lambda's sign-free value (callers that only need cells). memory may be
// null when only cells are needed (not for hashednet). Runs are valid during f only.
// Runs whose cells miss `range` are skipped before any sign work (whole tiles at a time);
// hashednet, whose runs have no cells, ignores the range.
template <class F>
void for_each_run(const Mapping& map, const float* memory, i64 k0, i64 k1, i64 n0, i64 n1, bool with_signs, F&& f,
                  CellRange range = kAllCells) {
  const bool element = with_signs && map.sign_mode == SignMode::element && map.scheme != Scheme::exact;
  if (map.tiled()) {
    const i64 br = map.tile_rows, bc = map.tile_cols;
    float* signs = element ? thread_floats(kSlotRun, bc) : nullptr;
    for (i64 tc = n0 / bc; tc * bc < n1; ++tc) {
      const i64 ns = std::max(n0, tc * bc), ne = std::min(n1, tc * bc + bc);
      for (i64 tr = k0 / br; tr * br < k1; ++tr) {
        const i64 start = map.tile_start(tr, tc);
        if (range.misses(start, map.tile_size())) continue;
        std::uint64_t th = 0;
        float scale = map.lambda;
        if (with_signs && map.sign_mode != SignMode::none) {
          th = map.tile_sign_hash(tr, tc);
          if (map.sign_mode == SignMode::tile) scale *= hash::sign_of(th);
        }
        const i64 ks = std::max(k0, tr * br), ke = std::min(k1, tr * br + br);
        for (i64 k = ks; k < ke; ++k) {
          const i64 w0 = (k - tr * br) * bc + (ns - tc * bc);
          if (range.misses(start + w0, ne - ns)) continue;
          if (element) tile_element_signs(th, w0, ne - ns, map.lambda, signs);
          const i64 cell = start + w0;
          f(Run{k, ns, ne - ns, cell, memory ? memory + cell : nullptr, scale, signs});
        }
      }
    }
    return;
  }
  const i64 len = n1 - n0;
  if (map.scheme == Scheme::hashednet) {
    float* values = thread_floats(kSlotRun, len);
    const bool signed_elements = with_signs && map.sign_mode == SignMode::element;
    for (i64 k = k0; k < k1; ++k) {
      const std::uint64_t loc_key = map.element_loc_key(k), sign_key = map.element_sign_key(k);
      for (i64 j = 0; j < len; ++j) {
        const float v = memory[map.element_cell(loc_key, n0 + j)];
        values[j] = signed_elements ? map.lambda * Mapping::element_sign(sign_key, n0 + j) * v : map.lambda * v;
      }
      f(Run{k, n0, len, -1, values, 1.0f, nullptr});
    }
    return;
  }
  // dense / exact: row k of the block is one run; element signs use the per-weight hash.
  float* signs = element ? thread_floats(kSlotRun, len) : nullptr;
  for (i64 k = k0; k < k1; ++k) {
    const i64 cell = map.region_base + k * map.cols + n0;
    if (range.misses(cell, len)) continue;
    if (element) {
      const std::uint64_t sign_key = map.element_sign_key(k);
      for (i64 j = 0; j < len; ++j) signs[j] = map.lambda * Mapping::element_sign(sign_key, n0 + j);
    }
    f(Run{k, n0, len, cell, memory ? memory + cell : nullptr, map.lambda, signs});
  }
}

// Block sizes of the packed GEMM. kc (depth) and nc (panel width) are whole multiples of
// the tile where the scheme is tiled, so that runs are whole tile rows; mc rows of A are
// packed at a time. They change speed only, never the function computed.
struct Blocking {
  i64 mc, kc, nc;
};
// Blocking for C = A * B where B's rows (depth) step in units of depth_unit and its columns
// in units of width_unit (1 when untiled).
Blocking choose_blocking(i64 depth_unit, i64 width_unit);

// acc ? C += Ap * Bp : C = Ap * Bp for one full kMR x kNR block of C (leading dim ldc);
// Ap is a packed kc x kMR strip, Bp a packed kc x kNR strip (64-byte aligned).
void micro_kernel(i64 kc, const float* Ap, const float* Bp, float* C, i64 ldc, bool acc);

// sum_j a[j] * b[j] * (signs ? signs[j] : scale), in 8 lanes.
float dot_scaled(const float* a, const float* b, const float* signs, float scale, i64 len);

// dM for tiled mappings and M > kSmallRows (roast_mm_backward_memory_tiles.cpp); with bf16,
// X and dY rounded to bfloat16 as they are packed.
void backward_memory_tiled(const Mapping& map, const float* X, const float* dY, i64 M, float* dM, bool bf16);

// Single-row kernels (roast_mm_rowvec.cpp), for M <= kSmallRows, one row at a time:
// y[n0 : n1] = x * W[:, n0 : n1] (lambda included; y overwritten there);
void row_forward(const Mapping& map, const float* memory, const float* x, float* y, i64 n0, i64 n1);
// dx[k0 : k1] = W[k0 : k1, :] * dy (overwritten there);
void row_backward_input(const Mapping& map, const float* memory, const float* dy, float* dx, i64 k0, i64 k1);
// dM[c] += lambda * sign * x[k] * dy[n] for the cells c = loc(k, n) inside `slice` (tiled,
// dense and exact layouts; not hashednet), in a fixed order.
void row_backward_memory(const Mapping& map, const float* x, const float* dy, float* dM, CellRange slice);

// Packs op(A)[i0 : i0 + mc, p0 : p0 + kc] into kMR-row strips: Ap[s][p][r] (strip s,
// depth p, row r), rows past `rows` zero. A is row-major with leading dim lda; with
// a_trans, op(A) = A^T (A is depth x rows); with bf16, the packed values are rounded.
struct OperandA {
  const float* a;
  i64 lda;
  bool trans;
  bool bf16 = false;
};
void pack_a(const OperandA& A, i64 i0, i64 mc, i64 p0, i64 kc, float* Ap);

// Packs a depth x width block of B into kNR-column strips: Bp[s][p][c] (strip s, depth p,
// column c), columns past width zero. Implementations below fill it from W, W^T or a
// dense matrix.
class PackB {
 public:
  virtual ~PackB() = default;
  virtual void pack(i64 p0, i64 kc, i64 j0, i64 nc, float* Bp) const = 0;
};
// Every packer takes a bf16 flag: when set, the packed block is rounded to bfloat16.
// B = lambda * sign .* W (depth = K, width = N).
class PackW : public PackB {
 public:
  PackW(const Mapping& map, const float* memory, bool bf16 = false) : map_(map), memory_(memory), bf16_(bf16) {}
  void pack(i64 p0, i64 kc, i64 j0, i64 nc, float* Bp) const override;

 private:
  const Mapping& map_;
  const float* memory_;
  bool bf16_;
};
// B = (lambda * sign .* W)^T (depth = N, width = K).
class PackWt : public PackB {
 public:
  PackWt(const Mapping& map, const float* memory, bool bf16 = false) : map_(map), memory_(memory), bf16_(bf16) {}
  void pack(i64 p0, i64 kc, i64 j0, i64 nc, float* Bp) const override;

 private:
  const Mapping& map_;
  const float* memory_;
  bool bf16_;
};
// B = a dense row-major matrix with leading dim ldb.
class PackDense : public PackB {
 public:
  PackDense(const float* b, i64 ldb, bool bf16 = false) : b_(b), ldb_(ldb), bf16_(bf16) {}
  void pack(i64 p0, i64 kc, i64 j0, i64 nc, float* Bp) const override;

 private:
  const float* b_;
  i64 ldb_;
  bool bf16_;
};

// Rounds a packed B block of width nc and depth kc (its whole strips) to bfloat16.
void round_packed_b(i64 kc, i64 nc, float* Bp);
// x[0 : n] rounded to bfloat16 into the calling thread's scratch `slot` (kSlotBf16X or
// kSlotBf16Y): operands of the kernels that read X or dY directly instead of packing them.
const float* bf16_copy(Slot slot, const float* x, i64 n);

// C[i0 : i1, j0 : j1] = op(A)[i0 : i1, :] * B[:, j0 : j1] over depth [0, depth), on the
// calling thread. C points at element (i0, j0) and has leading dim ldc. j0 should be a
// multiple of blk.nc so that packed blocks start on tile boundaries.
void gemm_block(const OperandA& A, const PackB& B, i64 depth, i64 i0, i64 i1, i64 j0, i64 j1, const Blocking& blk,
                float* C, i64 ldc);

// Splits C = op(A) * B (rows x cols) over the OpenMP threads: threads own disjoint column
// panels of width blk.nc, or row ranges when there are fewer panels than threads.
void gemm_parallel(const OperandA& A, const PackB& B, i64 rows, i64 cols, i64 depth, const Blocking& blk, float* C,
                   i64 ldc);

}  // namespace rmm
}  // namespace cpu
}  // namespace kernels
}  // namespace roast
