#include <cmath>

#include "roast/optim.h"

namespace roast {
namespace {
constexpr std::int64_t kParallelMin = 1 << 14;

double squared_norm(const float* g, std::int64_t n) {
  double total = 0.0;
#pragma omp parallel for reduction(+ : total) schedule(static) if (n >= kParallelMin)
  for (std::int64_t i = 0; i < n; ++i) total += double(g[i]) * double(g[i]);
  return total;
}
}  // namespace

void validate(const OptimizerConfig& c) {
  ROAST_CHECK(c.name == "sgd" || c.name == "adam" || c.name == "adamw" || c.name == "adagrad",
              "optimizer.name: unknown optimizer \"", c.name, "\"; valid: sgd, adam, adamw, adagrad");
  ROAST_CHECK(c.lr > 0 && std::isfinite(c.lr), "optimizer.lr: must be a positive number, got ", c.lr);
  ROAST_CHECK(c.momentum >= 0 && c.momentum < 1, "optimizer.momentum: must be in [0, 1), got ", c.momentum);
  ROAST_CHECK(!c.nesterov || c.momentum > 0, "optimizer.nesterov: needs optimizer.momentum > 0");
  ROAST_CHECK(c.weight_decay >= 0, "optimizer.weight_decay: must be >= 0, got ", c.weight_decay);
  ROAST_CHECK(c.beta1 >= 0 && c.beta1 < 1, "optimizer.beta1: must be in [0, 1), got ", c.beta1);
  ROAST_CHECK(c.beta2 >= 0 && c.beta2 < 1, "optimizer.beta2: must be in [0, 1), got ", c.beta2);
  ROAST_CHECK(c.eps > 0, "optimizer.eps: must be > 0, got ", c.eps);
  ROAST_CHECK(c.grad_clip_norm >= 0, "optimizer.grad_clip_norm: must be >= 0 (0 turns clipping off), got ",
              c.grad_clip_norm);
}

void validate(const ScheduleConfig& s) {
  ROAST_CHECK(s.name == "constant" || s.name == "step" || s.name == "cosine", "schedule.name: unknown schedule \"",
              s.name, "\"; valid: constant, step, cosine");
  ROAST_CHECK(s.warmup_steps >= 0, "schedule.warmup_steps: must be >= 0, got ", s.warmup_steps);
  ROAST_CHECK(s.step_size > 0, "schedule.step_size: must be > 0, got ", s.step_size);
  ROAST_CHECK(s.gamma > 0 && s.gamma <= 1, "schedule.gamma: must be in (0, 1], got ", s.gamma);
  ROAST_CHECK(s.min_lr_ratio >= 0 && s.min_lr_ratio <= 1, "schedule.min_lr_ratio: must be in [0, 1], got ",
              s.min_lr_ratio);
}

float scheduled_lr(const ScheduleConfig& s, float lr, std::int64_t step, std::int64_t total_steps) {
  if (s.warmup_steps > 0 && step < s.warmup_steps) return lr * float(step + 1) / float(s.warmup_steps);
  const std::int64_t after = step - s.warmup_steps;
  if (s.name == "step") return lr * std::pow(s.gamma, float(after / s.step_size));
  if (s.name == "cosine") {
    const std::int64_t span = std::max<std::int64_t>(1, total_steps - s.warmup_steps);
    const double progress = std::min(1.0, double(after) / double(span));
    const double cosine = 0.5 * (1.0 + std::cos(M_PI * progress));
    return float(lr * (s.min_lr_ratio + (1.0 - s.min_lr_ratio) * cosine));
  }
  return lr;
}

std::vector<std::string> optimizer_slots(const OptimizerConfig& c) {
  if (c.name == "sgd") return c.momentum > 0 ? std::vector<std::string>{"momentum"} : std::vector<std::string>{};
  if (c.name == "adagrad") return {"sum_sq"};
  return {"exp_avg", "exp_avg_sq"};
}

Optimizer::Optimizer(OptimizerConfig config) : config_(std::move(config)) { validate(config_); }

double Optimizer::step(Tensor& params, Tensor& grad, const SlotFn& slot, float lr, const Tensor* grad_scale) {
  ROAST_CHECK(params.defined(), "Optimizer::step: the parameters are empty");
  ROAST_CHECK(grad.defined(), "Optimizer::step: the memory has no gradient yet; call backward() on a loss computed "
                              "from this memory before stepping");
  ROAST_CHECK(params.shape() == grad.shape(), "Optimizer::step: params ", params.describe(), " and grad ",
              grad.describe(), " differ");
  ROAST_CHECK(params.device().is_cpu(), "Optimizer::step: params on ", params.device().str(),
              " need the CUDA optimizer, which this build does not have");
  const std::int64_t n = params.numel();
  float* p = params.data<float>();
  float* g = grad.data<float>();
  if (config_.grad_scaling) {
    ROAST_CHECK(grad_scale != nullptr && grad_scale->numel() == n,
                "Optimizer::step: optimizer.grad_scaling needs the memory's gradient scales S_j");
    const float* s = grad_scale->data<float>();
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
    for (std::int64_t i = 0; i < n; ++i) g[i] = s[i] > 0 ? g[i] / s[i] : 0.0f;
  }
  const double norm = std::sqrt(squared_norm(g, n));
  float clip = 1.0f;
  if (config_.grad_clip_norm > 0 && norm > config_.grad_clip_norm) clip = float(config_.grad_clip_norm / norm);
  ++steps_;
  const OptimizerConfig& c = config_;
  const float wd = c.weight_decay;

  if (c.name == "sgd") {
    float* v = c.momentum > 0 ? slot("momentum").data<float>() : nullptr;
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
    for (std::int64_t i = 0; i < n; ++i) {
      float d = g[i] * clip + wd * p[i];
      if (v != nullptr) {
        v[i] = c.momentum * v[i] + d;
        d = c.nesterov ? d + c.momentum * v[i] : v[i];
      }
      p[i] -= lr * d;
    }
  } else if (c.name == "adagrad") {
    float* s = slot("sum_sq").data<float>();
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
    for (std::int64_t i = 0; i < n; ++i) {
      const float d = g[i] * clip + wd * p[i];
      s[i] += d * d;
      p[i] -= lr * d / (std::sqrt(s[i]) + c.eps);
    }
  } else {  // adam, adamw
    float* m1 = slot("exp_avg").data<float>();
    float* m2 = slot("exp_avg_sq").data<float>();
    const bool decoupled = c.name == "adamw";
    const float bc1 = 1.0f - std::pow(c.beta1, float(steps_));
    const float bc2 = 1.0f - std::pow(c.beta2, float(steps_));
    const float step_size = lr / bc1;
    const float inv_sqrt_bc2 = 1.0f / std::sqrt(bc2);
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
    for (std::int64_t i = 0; i < n; ++i) {
      float d = g[i] * clip;
      if (decoupled) p[i] -= lr * wd * p[i];
      else d += wd * p[i];
      m1[i] = c.beta1 * m1[i] + (1.0f - c.beta1) * d;
      m2[i] = c.beta2 * m2[i] + (1.0f - c.beta2) * d * d;
      p[i] -= step_size * m1[i] / (std::sqrt(m2[i]) * inv_sqrt_bc2 + c.eps);
    }
  }
  return norm;
}

}  // namespace roast
