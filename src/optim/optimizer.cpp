#include <cmath>

#include "kernels/backend.h"
#include "roast/optim.h"

namespace roast {

Optimizer::Optimizer(OptimizerConfig config) : config_(std::move(config)) { validate(config_); }

double Optimizer::step(Tensor& params, Tensor& grad, const SlotFn& slot, float lr, const Tensor* grad_scale) {
  ROAST_CHECK(params.defined(), "Optimizer::step: the parameters are empty");
  ROAST_CHECK(grad.defined(), "Optimizer::step: the memory has no gradient yet; call backward() on a loss computed "
                              "from this memory before stepping");
  ROAST_CHECK(params.shape() == grad.shape(), "Optimizer::step: params ", params.describe(), " and grad ",
              grad.describe(), " differ");
  const Device device = params.device();
  ROAST_CHECK(grad.device() == device, "Optimizer::step: params ", params.describe(), " and grad ", grad.describe(),
              " are on different devices");
  const std::int64_t n = params.numel();
  float* p = params.data<float>();
  float* g = grad.data<float>();
  if (config_.grad_scaling) {
    ROAST_CHECK(grad_scale != nullptr && grad_scale->numel() == n,
                "Optimizer::step: optimizer.grad_scaling needs the memory's gradient scales S_j");
    ROAST_CHECK(grad_scale->device() == device, "Optimizer::step: the gradient scales ", grad_scale->describe(),
                " are not on the parameters' device ", device.str());
    ROAST_KERNEL(device, optim_scale_grad, g, grad_scale->data<float>(), n);
  }
  const double norm = std::sqrt(ROAST_KERNEL(device, optim_squared_norm, g, n));
  float clip = 1.0f;
  if (config_.grad_clip_norm > 0 && norm > config_.grad_clip_norm) clip = float(config_.grad_clip_norm / norm);
  ++steps_;
  const OptimizerConfig& c = config_;
  // Each slot is checked to live beside the parameters before a kernel writes it.
  auto slot_data = [&](const std::string& name) {
    Tensor s = slot(name);
    ROAST_CHECK(s.defined() && s.shape() == params.shape() && s.device() == device, "Optimizer::step: slot \"", name,
                "\" is ", s.describe(), "; expected ", params.describe());
    return s.data<float>();
  };

  if (c.name == "sgd") {
    kernels::SgdArgs a;
    a.lr = lr, a.clip = clip, a.weight_decay = c.weight_decay, a.momentum = c.momentum, a.nesterov = c.nesterov;
    float* v = c.momentum > 0 ? slot_data("momentum") : nullptr;
    ROAST_KERNEL(device, optim_sgd, p, g, v, n, a);
  } else if (c.name == "adagrad") {
    kernels::AdagradArgs a;
    a.lr = lr, a.clip = clip, a.weight_decay = c.weight_decay, a.eps = c.eps;
    ROAST_KERNEL(device, optim_adagrad, p, g, slot_data("sum_sq"), n, a);
  } else {  // adam, adamw
    kernels::AdamArgs a;
    a.lr = lr, a.clip = clip, a.weight_decay = c.weight_decay, a.beta1 = c.beta1, a.beta2 = c.beta2, a.eps = c.eps;
    a.decoupled = c.name == "adamw";
    const float bc1 = 1.0f - std::pow(c.beta1, float(steps_));
    const float bc2 = 1.0f - std::pow(c.beta2, float(steps_));
    a.step_size = lr / bc1;
    a.inv_sqrt_bc2 = 1.0f / std::sqrt(bc2);
    ROAST_KERNEL(device, optim_adam, p, g, slot_data("exp_avg"), slot_data("exp_avg_sq"), n, a);
  }
  return norm;
}

}  // namespace roast
