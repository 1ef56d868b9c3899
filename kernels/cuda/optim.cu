// Optimizer updates on the GPU: one thread per element (grid-stride loops), the same
// arithmetic as kernels/cpu/optim.cpp in the same order.
#include <vector>

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

// kNormBlocks doubles of device memory, freed (stream-ordered) when the scope ends.
struct PartialSums {
  double* data = static_cast<double*>(device_malloc(kNormBlocks * sizeof(double)));
  PartialSums() = default;
  PartialSums(const PartialSums&) = delete;
  PartialSums& operator=(const PartialSums&) = delete;
  ~PartialSums() { device_free(data); }
};

__global__ void sgd_kernel(float* p, const float* g, float* v, i64 n, SgdArgs a) {
  for (i64 i = i64(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += i64(gridDim.x) * blockDim.x) {
    float d = g[i] * a.clip + a.weight_decay * p[i];
    if (v != nullptr) {
      v[i] = a.momentum * v[i] + d;
      d = a.nesterov ? d + a.momentum * v[i] : v[i];
    }
    p[i] -= a.lr * d;
  }
}

__global__ void adagrad_kernel(float* p, const float* g, float* s, i64 n, AdagradArgs a) {
  for (i64 i = i64(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += i64(gridDim.x) * blockDim.x) {
    const float d = g[i] * a.clip + a.weight_decay * p[i];
    s[i] += d * d;
    p[i] -= a.lr * d / (sqrtf(s[i]) + a.eps);
  }
}

__global__ void adam_kernel(float* p, const float* g, float* m1, float* m2, i64 n, AdamArgs a) {
  for (i64 i = i64(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += i64(gridDim.x) * blockDim.x) {
    float d = g[i] * a.clip;
    if (a.decoupled) p[i] -= a.lr * a.weight_decay * p[i];
    else d += a.weight_decay * p[i];
    m1[i] = a.beta1 * m1[i] + (1.0f - a.beta1) * d;
    m2[i] = a.beta2 * m2[i] + (1.0f - a.beta2) * d * d;
    p[i] -= a.step_size * m1[i] / (sqrtf(m2[i]) * a.inv_sqrt_bc2 + a.eps);
  }
}
}  // namespace

void optim_scale_grad(float* g, const float* s, i64 n) {
  if (n <= 0) return;
  scale_grad_kernel<<<blocks_for(n, kThreads), kThreads, 0, stream()>>>(g, s, n);
  check_launch("optim_scale_grad");
}

double optim_squared_norm(const float* g, i64 n) {
  if (n <= 0) return 0.0;
  const PartialSums partial;
  squared_norm_kernel<<<kNormBlocks, kThreads, 0, stream()>>>(g, n, partial.data);
  check_launch("optim_squared_norm");
  std::vector<double> host(kNormBlocks, 0.0);
  copy(host.data(), false, partial.data, true, kNormBlocks * sizeof(double));  // waits for the kernel
  double total = 0.0;
  for (double x : host) total += x;
  return total;
}

void optim_sgd(float* p, const float* g, float* v, i64 n, const SgdArgs& a) {
  if (n <= 0) return;
  sgd_kernel<<<blocks_for(n, kThreads), kThreads, 0, stream()>>>(p, g, v, n, a);
  check_launch("optim_sgd");
}

void optim_adagrad(float* p, const float* g, float* s, i64 n, const AdagradArgs& a) {
  if (n <= 0) return;
  adagrad_kernel<<<blocks_for(n, kThreads), kThreads, 0, stream()>>>(p, g, s, n, a);
  check_launch("optim_adagrad");
}

void optim_adam(float* p, const float* g, float* m1, float* m2, i64 n, const AdamArgs& a) {
  if (n <= 0) return;
  adam_kernel<<<blocks_for(n, kThreads), kThreads, 0, stream()>>>(p, g, m1, m2, n, a);
  check_launch("optim_adam");
}

}  // namespace cuda
}  // namespace kernels
}  // namespace roast
