#include "kernels/backend.h"

#include <cmath>

namespace roast {
namespace kernels {
namespace cpu {
namespace {
constexpr i64 kOptimParallelMin = 1 << 14;  // below this, threads cost more than they save
}

void optim_scale_grad(float* g, const float* s, i64 n) {
#pragma omp parallel for schedule(static) if (n >= kOptimParallelMin)
  for (i64 i = 0; i < n; ++i) g[i] = s[i] > 0 ? g[i] / s[i] : 0.0f;
}

void optim_grad_norm(const float* g, i64 n, float max_norm, StepScalars* step) {
  double total = 0.0;
#pragma omp parallel for reduction(+ : total) schedule(static) if (n >= kOptimParallelMin)
  for (i64 i = 0; i < n; ++i) total += double(g[i]) * double(g[i]);
  step->squared_norm = total;
  const double norm = std::sqrt(total);
  if (max_norm > 0 && norm > double(max_norm)) step->clip = float(double(max_norm) / norm);
}

void optim_sgd(float* p, const float* g, float* v, i64 n, const SgdArgs& a, const StepScalars* step) {
  const float lr = step->lr, clip = step->clip;
#pragma omp parallel for schedule(static) if (n >= kOptimParallelMin)
  for (i64 i = 0; i < n; ++i) {
    float d = g[i] * clip + a.weight_decay * p[i];
    if (v != nullptr) {
      v[i] = a.momentum * v[i] + d;
      d = a.nesterov ? d + a.momentum * v[i] : v[i];
    }
    p[i] -= lr * d;
  }
}

void optim_adagrad(float* p, const float* g, float* s, i64 n, const AdagradArgs& a, const StepScalars* step) {
  const float lr = step->lr, clip = step->clip;
#pragma omp parallel for schedule(static) if (n >= kOptimParallelMin)
  for (i64 i = 0; i < n; ++i) {
    const float d = g[i] * clip + a.weight_decay * p[i];
    s[i] += d * d;
    p[i] -= lr * d / (std::sqrt(s[i]) + a.eps);
  }
}

void optim_adam(float* p, const float* g, float* m1, float* m2, i64 n, const AdamArgs& a, const StepScalars* step) {
  const float lr = step->lr, clip = step->clip, step_size = step->step_size, inv_sqrt_bc2 = step->inv_sqrt_bc2;
#pragma omp parallel for schedule(static) if (n >= kOptimParallelMin)
  for (i64 i = 0; i < n; ++i) {
    float d = g[i] * clip;
    if (a.decoupled) p[i] -= lr * a.weight_decay * p[i];
    else d += a.weight_decay * p[i];
    m1[i] = a.beta1 * m1[i] + (1.0f - a.beta1) * d;
    m2[i] = a.beta2 * m2[i] + (1.0f - a.beta2) * d * d;
    p[i] -= step_size * m1[i] / (std::sqrt(m2[i]) * inv_sqrt_bc2 + a.eps);
  }
}

}  // namespace cpu
}  // namespace kernels
}  // namespace roast
