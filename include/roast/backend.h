// Numeric options of the compute backend, as a value.
//
//   roast::Numerics numerics;
//   numerics.precision = roast::Precision::tf32;   // tensor-core matrix products on CUDA
//   numerics.deterministic = true;                  // bitwise-reproducible CUDA gradients
//
// A Numerics travels from the config (keys `precision` and `deterministic`, docs/config.md)
// through the model's forward context (nn::Context::numerics) to each op and kernel that
// depends on it; there is no process-wide switch, so two models with different options can
// run in one process. `deterministic` affects CUDA devices only (CPU kernels are always
// deterministic); `precision` tf32 affects CUDA only, bf16 both devices (the CPU emulates it
// so that its numerics can be tested without a GPU).
#pragma once

#include <string>

namespace roast {

// fp32: single-precision accuracy (the default). On CUDA the fused ROAST-MM forward and dX
// may compute it on the tensor cores as three TF32 products (3xTF32: relative error near
// 2^-22, tested against cuBLAS SGEMM's); dense GEMMs, and every product under
// MatmulPath::materialize, are cuBLAS SGEMM. tf32: matrix products (dense GEMMs and the
// ROAST-MM kernels) on tensor cores with 10-bit mantissa inputs and fp32 accumulation;
// element-wise ops, reductions and the optimizer stay fp32.
// bf16: matrix products (ROAST-MM, dense GEMMs) and attention's q k^T and P v take operands
// rounded to bfloat16 (round to nearest even) and accumulate in fp32. The memory, its
// gradient, the optimizer state and every stored activation stay fp32: operands are converted
// when a product reads them (the weight from lambda * sign * memory). On CUDA (compute
// capability 8.0 or later, else roast::Error) ROAST-MM builds the layer's dense weight in
// bf16 and calls cuBLAS with bf16 inputs and fp32 output (the `materialize` path, whatever
// matmul_path says); dense GEMMs convert both operands; attention rounds q, k and v before its
// fused kernel. On the CPU the same roundings are applied when operands are packed (or copied)
// for the fp32 kernels: the same function, up to the order of fp32 additions (docs/gpu.md).
enum class Precision { fp32, tf32, bf16 };
// Parses "fp32", "tf32" or "bf16"; throws roast::Error naming the valid values otherwise.
Precision parse_precision(const std::string& text);
const char* precision_name(Precision precision);

// How roast_matmul computes on CUDA devices. auto_select (the default) times both paths
// once per shape (M, K, N, scheme, precision, pass) on each device and keeps the faster
// (with deterministic set: a fixed rule, fused for at most 32 rows and, in fp32 on sm_90,
// for the forward and dX of the usual tiles; else materialize); `fused` always uses the
// ROAST-MM kernels that read hashed tiles in GEMM-block order; `materialize` always builds
// the dense weight (or its gradient) and calls cuBLAS. All three compute the same function
// (tested). CPU products always use the fused CPU kernels. Under Precision::bf16, CUDA
// products always take the materialize path (the fused kernels have no bf16 form).
enum class MatmulPath { auto_select, fused, materialize };

struct Numerics {
  Precision precision = Precision::fp32;
  // When true, CUDA kernels whose results could depend on the order of atomic additions (the
  // memory gradient of ROAST-MM and embeddings, scatter-adds) use fixed-order reductions, so
  // a run is bitwise reproducible on the same GPU. Off by default: atomics are faster.
  bool deterministic = false;
  MatmulPath matmul_path = MatmulPath::auto_select;
};

}  // namespace roast
