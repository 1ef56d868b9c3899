// Optimizer updates on the GPU: one thread per element (grid-stride loops), the same
// arithmetic as kernels/cpu/optim.cpp in the same order.
#include "kernels/cuda/common.cuh"
#include "kernels/backend.h"

namespace roast {
namespace kernels {
namespace cuda {
namespace {
constexpr int kThreads = 256;
constexpr int kNormBlocks = 512;  // fixed, so the summation order depends only on n

__global__ void scale_grad_kernel(float* g, const float* s, i64 n) {
  for (i64 i = i64(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += i64(gridDim.x) * blockDim.x)
    g[i] = s[i] > 0 ? g[i] / s[i] : 0.0f;
}

// partial[block] = sum of g[i]^2 over the elements this block's threads visit.
__global__ void squared_norm_kernel(const float* g, i64 n, double* partial) {
  __shared__ double sums[kThreads];
  double total = 0.0;
  for (i64 i = i64(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += i64(gridDim.x) * blockDim.x)
    total += double(g[i]) * double(g[i]);
  sums[threadIdx.x] = total;
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half /= 2) {
    if (int(threadIdx.x) < half) sums[threadIdx.x] += sums[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[blockIdx.x] = sums[0];
}

// The partial sums in block order, by one thread (the order the host summed them in before),
// then the clip factor: the step's norm and clip stay on the device.
__global__ void norm_clip_kernel(const double* partial, float max_norm, StepScalars* step) {
  double total = 0.0;
  for (int b = 0; b < kNormBlocks; ++b) total += partial[b];
  step->squared_norm = total;
  const double norm = sqrt(total);
  if (max_norm > 0 && norm > double(max_norm)) step->clip = float(double(max_norm) / norm);
}

__global__ void sgd_kernel(float* p, const float* g, float* v, i64 n, SgdArgs a, const StepScalars* step) {
  const float lr = step->lr, clip = step->clip;
  for (i64 i = i64(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += i64(gridDim.x) * blockDim.x) {
    float d = g[i] * clip + a.weight_decay * p[i];
    if (v != nullptr) {
      v[i] = a.momentum * v[i] + d;
      d = a.nesterov ? d + a.momentum * v[i] : v[i];
    }
    p[i] -= lr * d;
  }
}

__global__ void adagrad_kernel(float* p, const float* g, float* s, i64 n, AdagradArgs a, const StepScalars* step) {
  const float lr = step->lr, clip = step->clip;
  for (i64 i = i64(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += i64(gridDim.x) * blockDim.x) {
    const float d = g[i] * clip + a.weight_decay * p[i];
    s[i] += d * d;
    p[i] -= lr * d / (sqrtf(s[i]) + a.eps);
  }
}

__global__ void adam_kernel(float* p, const float* g, float* m1, float* m2, i64 n, AdamArgs a,
                            const StepScalars* step) {
  const float lr = step->lr, clip = step->clip, step_size = step->step_size, inv_sqrt_bc2 = step->inv_sqrt_bc2;
  for (i64 i = i64(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += i64(gridDim.x) * blockDim.x) {
    float d = g[i] * clip;
    if (a.decoupled) p[i] -= lr * a.weight_decay * p[i];
    else d += a.weight_decay * p[i];
    m1[i] = a.beta1 * m1[i] + (1.0f - a.beta1) * d;
    m2[i] = a.beta2 * m2[i] + (1.0f - a.beta2) * d * d;
    p[i] -= step_size * m1[i] / (sqrtf(m2[i]) * inv_sqrt_bc2 + a.eps);
  }
}
}  // namespace

void optim_scale_grad(float* g, const float* s, i64 n) {
  if (n <= 0) return;
  scale_grad_kernel<<<blocks_for(n, kThreads), kThreads, 0, stream()>>>(g, s, n);
  check_launch("optim_scale_grad");
}

void optim_grad_norm(const float* g, i64 n, float max_norm, StepScalars* step) {
  // n = 0 still writes the (zero) norm: the partial sums are all zero then.
  const DeviceBuffer partial(kNormBlocks * sizeof(double));
  squared_norm_kernel<<<kNormBlocks, kThreads, 0, stream()>>>(g, n, partial.as<double>());
  check_launch("optim_grad_norm");
  norm_clip_kernel<<<1, 1, 0, stream()>>>(partial.as<double>(), max_norm, step);
  check_launch("optim_grad_norm");
}

void optim_sgd(float* p, const float* g, float* v, i64 n, const SgdArgs& a, const StepScalars* step) {
  if (n <= 0) return;
  sgd_kernel<<<blocks_for(n, kThreads), kThreads, 0, stream()>>>(p, g, v, n, a, step);
  check_launch("optim_sgd");
}

void optim_adagrad(float* p, const float* g, float* s, i64 n, const AdagradArgs& a, const StepScalars* step) {
  if (n <= 0) return;
  adagrad_kernel<<<blocks_for(n, kThreads), kThreads, 0, stream()>>>(p, g, s, n, a, step);
  check_launch("optim_adagrad");
}

void optim_adam(float* p, const float* g, float* m1, float* m2, i64 n, const AdamArgs& a, const StepScalars* step) {
  if (n <= 0) return;
  adam_kernel<<<blocks_for(n, kThreads), kThreads, 0, stream()>>>(p, g, m1, m2, n, a, step);
  check_launch("optim_adam");
}

}  // namespace cuda
}  // namespace kernels
}  // namespace roast
