// Element-wise kernels: grid-stride loops, one thread per element; sum_to's reduction of a
// broadcast gradient. Formulas mirror kernels/cpu/elementwise.cpp.
#include "kernels/backend.h"
#include "kernels/cuda/fused_common.cuh"
#include "kernels/cuda/gelu.cuh"
#include "kernels/cuda/ops_common.cuh"
#include "kernels/dropout_hash.h"

namespace roast {
namespace kernels {
namespace cuda {

namespace {
// gelu and gelu_grad: kernels/cuda/gelu.cuh.
__device__ __forceinline__ float sigmoid(float x) {
  return x >= 0 ? 1.0f / (1.0f + expf(-x)) : expf(x) / (1.0f + expf(x));
}

__device__ __forceinline__ float unary_value(Unary op, float x) {
  switch (op) {
    case Unary::relu: return x > 0 ? x : 0.0f;
    case Unary::gelu: return gelu(x);
    case Unary::tanh: return tanhf(x);
    case Unary::sigmoid: return sigmoid(x);
    case Unary::exp: return expf(x);
    case Unary::log: return logf(x);
    case Unary::neg: return -x;
    case Unary::sqrt: return sqrtf(x);
    case Unary::square: return x * x;
  }
  return 0.0f;
}

// gy * f'(x), with y = f(x) for ops whose derivative uses it.
__device__ __forceinline__ float unary_grad(Unary op, float x, float y, float gy) {
  switch (op) {
    case Unary::relu: return x > 0 ? gy : 0.0f;
    case Unary::gelu: return gy * gelu_grad(x);
    case Unary::tanh: return gy * (1.0f - y * y);
    case Unary::sigmoid: return gy * y * (1.0f - y);
    case Unary::exp: return gy * y;
    case Unary::log: return gy / x;
    case Unary::neg: return -gy;
    case Unary::sqrt: return gy * 0.5f / y;
    case Unary::square: return gy * 2.0f * x;
  }
  return 0.0f;
}

__global__ void unary_kernel(Unary op, const float* x, float* y, i64 n) {
  for (i64 i = global_index(); i < n; i += grid_stride()) y[i] = unary_value(op, x[i]);
}

// y may be null for ops whose derivative does not use it (it never is from the ops).
__global__ void unary_backward_kernel(Unary op, const float* x, const float* y, const float* gy, float* gx, i64 n) {
  for (i64 i = global_index(); i < n; i += grid_stride()) gx[i] = unary_grad(op, x[i], y ? y[i] : 0.0f, gy[i]);
}

__device__ __forceinline__ float binary_value(Binary op, float a, float b) {
  switch (op) {
    case Binary::add: return a + b;
    case Binary::sub: return a - b;
    case Binary::mul: return a * b;
    case Binary::div: return a / b;
  }
  return 0.0f;
}

// One thread per output element: its multi-index (row-major over out_shape) gives the
// offsets into a and b through their (broadcast) strides.
__global__ void binary_kernel(Binary op, const float* a, const float* b, float* out, Broadcast bc, i64 n) {
  for (i64 i = global_index(); i < n; i += grid_stride()) {
    i64 rest = i, oa = 0, ob = 0;
    for (int d = bc.rank - 1; d >= 0; --d) {
      const i64 idx = rest % bc.out_shape[d];
      rest /= bc.out_shape[d];
      oa += idx * bc.a_stride[d];
      ob += idx * bc.b_stride[d];
    }
    out[i] = binary_value(op, a[oa], b[ob]);
  }
}

__global__ void affine_kernel(const float* a, float* out, i64 n, float alpha, float beta) {
  for (i64 i = global_index(); i < n; i += grid_stride()) out[i] = a[i] * alpha + beta;
}

__global__ void power_kernel(const float* a, float* out, i64 n, float p) {
  for (i64 i = global_index(); i < n; i += grid_stride()) out[i] = powf(a[i], p);
}

__global__ void add_inplace_kernel(float* a, const float* b, i64 n) {
  for (i64 i = global_index(); i < n; i += grid_stride()) a[i] += b[i];
}

__global__ void dropout_mask_kernel(float* mask, i64 n, DropoutSeed s, std::uint32_t keep_below, float scale) {
  const std::uint64_t seed = dropout_seed(s.salt, s.step);  // the step's word is read on the device
  for (i64 i = global_index(); i < n; i += grid_stride())
    mask[i] = dropout_bits(seed, i) < keep_below ? scale : 0.0f;
}

// sum_to's geometry: g is contiguous with shape g_shape; r keeps the dims where kept[d]
// (r's own contiguous layout), and sums over the others.
struct SumToGeometry {
  int rank = 0;
  i64 g_shape[kMaxRank] = {};
  i64 g_stride[kMaxRank] = {};
  bool kept[kMaxRank] = {};
  i64 reduced = 1;  // elements of g summed into each element of r
};

// Offset in g of r's element r_index (reduced dims at 0).
__device__ __forceinline__ i64 kept_offset(const SumToGeometry& s, i64 r_index) {
  i64 off = 0;
  for (int d = s.rank - 1; d >= 0; --d) {
    if (!s.kept[d]) continue;
    off += (r_index % s.g_shape[d]) * s.g_stride[d];
    r_index /= s.g_shape[d];
  }
  return off;
}
// Offset in g of the j-th combination of reduced dims (row-major over them).
__device__ __forceinline__ i64 reduced_offset(const SumToGeometry& s, i64 j) {
  i64 off = 0;
  for (int d = s.rank - 1; d >= 0; --d) {
    if (s.kept[d]) continue;
    off += (j % s.g_shape[d]) * s.g_stride[d];
    j /= s.g_shape[d];
  }
  return off;
}

// Many outputs: one thread per output, summing its reduced elements in ascending g order
// (the CPU's order).
__global__ void sum_to_thread_kernel(const float* g, float* r, SumToGeometry s, i64 r_numel) {
  for (i64 i = global_index(); i < r_numel; i += grid_stride()) {
    const i64 base = kept_offset(s, i);
    float total = 0.0f;
    for (i64 j = 0; j < s.reduced; ++j) total += g[base + reduced_offset(s, j)];
    r[i] = total;
  }
}

// Leading dims reduced, trailing dims kept (a bias gradient: g [rows, cols] -> r [cols]).
// Block (p, q): rows [p * kSumRowsPerPart, +kSumRowsPerPart), one column per thread from
// q * blockDim.x, reads coalesced along the row; the column sums go to partials[p], which
// sum_partials adds in order (deterministic).
constexpr i64 kSumRowsPerPart = 32;
__global__ void sum_rows_parts_kernel(const float* g, float* partials, i64 rows, i64 cols) {
  const i64 row0 = i64(blockIdx.x) * kSumRowsPerPart;
  const i64 row1 = row0 + kSumRowsPerPart < rows ? row0 + kSumRowsPerPart : rows;
  const i64 c = i64(blockIdx.y) * blockDim.x + threadIdx.x;
  if (c >= cols) return;
  float total = 0.0f;
  for (i64 r = row0; r < row1; ++r) total += g[r * cols + c];
  partials[i64(blockIdx.x) * cols + c] = total;
}

// Few outputs: one block per output, threads striding over its reduced elements.
__global__ void sum_to_block_kernel(const float* g, float* r, SumToGeometry s) {
  const i64 base = kept_offset(s, blockIdx.x);
  float total = 0.0f;
  for (i64 j = threadIdx.x; j < s.reduced; j += blockDim.x) total += g[base + reduced_offset(s, j)];
  total = block_sum(total);
  if (threadIdx.x == 0) r[blockIdx.x] = total;
}
}  // namespace

void unary(Unary op, const float* x, float* y, i64 n) {
  if (n == 0) return;
  unary_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(op, x, y, n);
  check_launch("unary");
}

void unary_backward(Unary op, const float* x, const float* y, const float* gy, float* gx, i64 n) {
  if (n == 0) return;
  unary_backward_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(op, x, y, gy, gx, n);
  check_launch("unary_backward");
}

void binary(Binary op, const float* a, const float* b, float* out, const Broadcast& bc) {
  i64 n = 1;
  for (int d = 0; d < bc.rank; ++d) n *= bc.out_shape[d];
  if (n == 0) return;
  binary_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(op, a, b, out, bc, n);
  check_launch("binary");
}

void affine(const float* a, float* out, i64 n, float alpha, float beta) {
  if (n == 0) return;
  affine_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(a, out, n, alpha, beta);
  check_launch("affine");
}

void power(const float* a, float* out, i64 n, float p) {
  if (n == 0) return;
  power_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(a, out, n, p);
  check_launch("power");
}

void add_inplace(float* a, const float* b, i64 n) {
  if (n == 0) return;
  add_inplace_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(a, b, n);
  check_launch("add_inplace");
}

void dropout_mask(float* mask, i64 n, DropoutSeed seed, std::uint32_t keep_below, float scale) {
  if (n == 0) return;
  dropout_mask_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(mask, n, seed, keep_below, scale);
  check_launch("dropout_mask");
}

void sum_to(const float* g, float* r, int rank, const i64* g_shape, const i64* r_stride, i64 r_numel) {
  if (r_numel == 0) return;
  SumToGeometry s;
  s.rank = rank;
  i64 stride = 1;
  for (int d = rank - 1; d >= 0; --d) {
    s.g_shape[d] = g_shape[d];
    s.g_stride[d] = stride;
    stride *= g_shape[d];
    s.kept[d] = r_stride[d] != 0;
    if (!s.kept[d]) s.reduced *= g_shape[d];
  }
  // Reduced dims first, kept dims after them: a row-blocked sum with coalesced reads.
  int first_kept = rank;
  for (int d = 0; d < rank; ++d)
    if (s.kept[d]) {
      first_kept = d;
      break;
    }
  bool leading_reduced = first_kept > 0;
  for (int d = first_kept; d < rank; ++d) leading_reduced = leading_reduced && s.kept[d];
  if (leading_reduced && s.reduced >= 64) {
    const i64 rows = s.reduced, cols = r_numel;
    const i64 n_parts = (rows + kSumRowsPerPart - 1) / kSumRowsPerPart;
    const int threads = cols >= kThreads ? kThreads : int((cols + 31) / 32 * 32);
    DeviceBuffer partials(std::size_t(n_parts * cols) * sizeof(float));
    const dim3 grid(unsigned(n_parts), unsigned((cols + threads - 1) / threads));
    sum_rows_parts_kernel<<<grid, threads, 0, stream()>>>(g, partials.as<float>(), rows, cols);
    check_launch("sum_to");
    sum_partials(partials.as<float>(), n_parts, cols, cols, r);
    return;
  }
  if (r_numel >= 1024 || s.reduced < 64) {
    sum_to_thread_kernel<<<blocks_for(r_numel), kThreads, 0, stream()>>>(g, r, s, r_numel);
    check_launch("sum_to");
  } else {
    sum_to_block_kernel<<<unsigned(r_numel), kThreads, 0, stream()>>>(g, r, s);
    check_launch("sum_to");
  }
}

}  // namespace cuda
}  // namespace kernels
}  // namespace roast
