// matmul: plain, batched, and shared-right-operand forms on the device's GEMM (Eigen on the
// CPU, cuBLAS on CUDA).
#include "kernels/backend.h"
#include "ops/internal.h"
#include "roast/autograd.h"
#include "roast/ops.h"

namespace roast {
namespace kc = kernels;  // the kernels' shared types

namespace {
// C[b] (M x N) = op(A[b]) * op(B[b]) for b < batch; strides are per batch (0: shared).
void batched_gemm(Device device, Precision precision, std::int64_t batch, bool ta, bool tb, std::int64_t M, std::int64_t N, std::int64_t K, const float* A,
                  std::int64_t lda, std::int64_t a_step, const float* B, std::int64_t ldb, std::int64_t b_step, float beta,
                  float* C, std::int64_t c_step) {
  ROAST_KERNEL(device, gemm_strided_batched, precision, ta, tb, M, N, K, 1.0f, A, lda, a_step, B, ldb, b_step, beta, C, N, c_step,
               batch);
}
}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b, const Numerics& numerics) {
  const Precision precision = numerics.precision;
  const char* name = "matmul";
  ops::require_f32(a, name, "left operand");
  ops::require_f32(b, name, "right operand");
  ops::require_same_device(a, b, name);
  ROAST_CHECK(a.dim() >= 2 && b.dim() >= 2, name, ": operands need at least 2 dims, got ", a.describe(), " and ",
              b.describe());
  const std::int64_t K = a.size(-1), M = a.size(-2), N = b.size(-1);
  ROAST_CHECK(b.size(-2) == K, name, ": inner dimensions differ: ", shape_str(a.shape()), " x ", shape_str(b.shape()),
              " (", K, " vs ", b.size(-2), ")");
  Shape out_shape(a.shape().begin(), a.shape().end() - 1);
  out_shape.push_back(N);

  if (b.dim() == 2) {
    // [..., M, K] x [K, N]: one GEMM over all leading rows.
    const std::int64_t rows = a.numel() / K;
    Tensor out = Tensor::empty(out_shape, DType::f32, a.device());
    ROAST_KERNEL(a.device(), gemm, precision, false, false, rows, N, K, 1.0f, a.data<float>(), K, b.data<float>(), N, 0.0f, out.data<float>(), N);
    return record(name, out, {a, b}, [a = a.detach(), b = b.detach(), rows, K, N, precision](const Tensor& g, GradSink& sink) {
      if (sink.needs(0)) {
        Tensor ga = Tensor::empty(a.shape(), DType::f32, a.device());
        ROAST_KERNEL(a.device(), gemm, precision, false, true, rows, K, N, 1.0f, g.data<float>(), N, b.data<float>(), N, 0.0f, ga.data<float>(), K);
        sink.accumulate(0, ga);
      }
      if (sink.needs(1)) {
        Tensor gb = Tensor::empty(b.shape(), DType::f32, b.device());
        ROAST_KERNEL(a.device(), gemm, precision, true, false, K, N, rows, 1.0f, a.data<float>(), K, g.data<float>(), N, 0.0f, gb.data<float>(), N);
        sink.accumulate(1, gb);
      }
    });
  }

  ROAST_CHECK(a.dim() == b.dim() && std::equal(a.shape().begin(), a.shape().end() - 2, b.shape().begin()), name,
              ": batched operands need the same leading dims, got ", shape_str(a.shape()), " x ", shape_str(b.shape()));
  const std::int64_t batch = a.numel() / (M * K);
  Tensor out = Tensor::empty(out_shape, DType::f32, a.device());
  batched_gemm(a.device(), precision, batch, false, false, M, N, K, a.data<float>(), K, M * K, b.data<float>(), N, K * N, 0.0f,
               out.data<float>(), M * N);
  return record(name, out, {a, b}, [a = a.detach(), b = b.detach(), batch, M, K, N, precision](const Tensor& g, GradSink& sink) {
    if (sink.needs(0)) {  // ga[i] = g[i] * b[i]^T
      Tensor ga = Tensor::empty(a.shape(), DType::f32, a.device());
      batched_gemm(a.device(), precision, batch, false, true, M, K, N, g.data<float>(), N, M * N, b.data<float>(), N, K * N, 0.0f,
                   ga.data<float>(), M * K);
      sink.accumulate(0, ga);
    }
    if (sink.needs(1)) {  // gb[i] = a[i]^T * g[i]
      Tensor gb = Tensor::empty(b.shape(), DType::f32, b.device());
      batched_gemm(a.device(), precision, batch, true, false, K, N, M, a.data<float>(), K, M * K, g.data<float>(), N, M * N, 0.0f,
                   gb.data<float>(), K * N);
      sink.accumulate(1, gb);
    }
  });
}

}  // namespace roast
