// ROAST-MM on CUDA devices: the same five entry points, with the same signatures and
// contracts, as kernels/cpu/roast_mm.h (pointers are device pointers). Plain C++ header.
//
// Two paths compute each product:
//   fused        the weight is never materialised. Large products run a tiled GEMM (128 x 128
//                blocks, fp32 FMA or TF32 tensor cores by roast::precision(), three-stage
//                asynchronous copies) whose loader reads W straight from the memory: the tile
//                comes from a per-mapping table of tile starts and signs (computed once per
//                mapping and cached on the device), so a block's loads are runs of cells.
//                Small products (M <= 32, inference and small batches) run GEMV-style
//                kernels: split-K with a fixed-order second pass (forward), a warp per row
//                of W (dX); dM always runs the tiled kernel with atomic adds in its epilogue.
//   materialize  W = lambda * sign .* M[loc] is built (kernel), then cuBLAS; dM builds
//                dW = X^T dY with cuBLAS and scatters it back.
// roast::matmul_path() picks one; auto_select times both once per shape and keeps the faster
// (in deterministic mode it uses a fixed rule instead, since a timing-based choice could
// differ between runs: fused for M <= 32 and for the fp32 forward and dX that the wgmma
// kernels serve, else materialize).
// dM accumulates with atomics (race-free, order-dependent rounding) unless
// roast::deterministic() is set: then dW is built densely and each memory cell sums its
// weights in a fixed order (owner computes for tiled mappings, a sort by cell otherwise),
// bitwise reproducible.
// roast_mm_backward runs dM on a second stream beside dX (roast::cuda::run_beside), except on
// a shape's first call under auto_select, which times each product's paths in turn. The
// materialize path then holds dW (dM's side) and the built W (dX's) at once: 2 K N floats of
// scratch instead of K N.
#pragma once

#include <cstdint>

#include "roast/mapping.h"

namespace roast {
namespace kernels {
namespace cuda {

void roast_mm_check(const Mapping& map, const char* op);
void roast_mm_forward(const Mapping& map, const float* memory, const float* X, std::int64_t M, float* Y);
void roast_mm_backward_input(const Mapping& map, const float* memory, const float* dY, std::int64_t M, float* dX);
void roast_mm_backward_memory(const Mapping& map, const float* X, const float* dY, std::int64_t M, float* dM);
// Both backward products, dM on the side stream beside dX (roast::cuda::run_beside): the
// materialize path's W build, scatter and GEMMs are bound by different units and overlap.
void roast_mm_backward(const Mapping& map, const float* memory, const float* X, const float* dY, std::int64_t M,
                       float* dX, float* dM);
void roast_mm_materialize(const Mapping& map, const float* memory, float* W);
void roast_mm_accumulate_dense(const Mapping& map, const float* dW, float* dM);

// Which path auto_select chose (or would choose, after timing once) for this product:
// "fused" or "materialize". pass: 0 forward, 1 backward_input, 2 backward_memory.
const char* roast_mm_selected_path(const Mapping& map, std::int64_t M, int pass);
// Forgets every choice of auto_select, so that the next call of each shape times again (the
// bench, before timing each op: one product alone and the backward's pair choose apart).
void roast_mm_forget_paths();

}  // namespace cuda
}  // namespace kernels
}  // namespace roast
