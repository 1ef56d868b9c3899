// ROAST-MM on the CPU: matrix products with a virtual weight W that lives in the memory.
//
// W is the K x N matrix of a Mapping (K = map.rows, N = map.cols):
//     W[k, n] = sign(k, n) * memory[loc(k, n)]        (lambda is applied by the products)
// Every function reads W through the mapping in GEMM-block order: the tiles of one block
// are packed (signs and lambda folded in) into the micro-kernel's panel layout, and W is
// never materialised whole (except by roast_mm_materialize, the reference/fallback).
// All arrays are contiguous row-major f32; `memory` is the base of the whole memory (the
// mapping's cells are absolute indices). Every scheme (dense, exact, roast, roast_local,
// hashednet) and every sign mode goes through the same entry points; any M, K, N >= 1.
//
// Results do not depend on the kernel's block sizes as a function (the map depends only on
// the Mapping); the floating-point summation order may. dM is deterministic: for a given
// input it is bitwise identical across runs and thread counts. OpenMP-parallel: call from
// outside a parallel region to use all threads (inside one, it runs on the calling thread).
#pragma once

#include <cstdint>

#include "roast/mapping.h"

namespace roast {
namespace kernels {
namespace cpu {

// Throws roast::Error unless `map` describes a matrix the kernels can serve: kind matrix,
// rows and cols >= 1, tile dims >= 1, a region large enough for the scheme (dense/exact:
// rows * cols cells; roast/roast_local: one tile; hashednet: one cell).
void roast_mm_check(const Mapping& map, const char* op);

// Y[M, N] = lambda * X[M, K] * W.   Y is overwritten.
void roast_mm_forward(const Mapping& map, const float* memory, const float* X, std::int64_t M, float* Y);

// dX[M, K] = lambda * dY[M, N] * W^T.   dX is overwritten.
void roast_mm_backward_input(const Mapping& map, const float* memory, const float* dY, std::int64_t M, float* dX);

// dM[loc(k, n)] += lambda * sign(k, n) * (X^T dY)[k, n] for every (k, n); X is [M, K],
// dY is [M, N], dM the gradient of the whole memory (same indexing as `memory`). Only the
// cells of the mapping's region are written. Race-free and deterministic.
void roast_mm_backward_memory(const Mapping& map, const float* X, const float* dY, std::int64_t M, float* dM);

// Both backward products (backward_input, then backward_memory), as one call so that the
// CUDA backend can run them concurrently.
void roast_mm_backward(const Mapping& map, const float* memory, const float* X, const float* dY, std::int64_t M,
                       float* dX, float* dM);

// W[K, N] = lambda * sign(k, n) * memory[loc(k, n)]: the materialised weight, lambda
// included (the fallback "materialise then GEMM" path and test references).
void roast_mm_materialize(const Mapping& map, const float* memory, float* W);

// dM[loc(k, n)] += lambda * sign(k, n) * dW[k, n] for a dense gradient dW[K, N] (the
// fallback path's memory gradient). Race-free and deterministic.
void roast_mm_accumulate_dense(const Mapping& map, const float* dW, float* dM);

}  // namespace cpu
}  // namespace kernels
}  // namespace roast
