#include <cmath>

#include "kernels/backend.h"
#include "roast/optim.h"

namespace roast {

namespace {
void check_step_args(const Tensor& params, const Tensor& grad) {
  ROAST_CHECK(params.defined(), "Optimizer::step: the parameters are empty");
  ROAST_CHECK(grad.defined(), "Optimizer::step: the memory has no gradient yet; call backward() on a loss computed "
                              "from this memory before stepping");
  ROAST_CHECK(params.shape() == grad.shape(), "Optimizer::step: params ", params.describe(), " and grad ",
              grad.describe(), " differ");
  ROAST_CHECK(grad.device() == params.device(), "Optimizer::step: params ", params.describe(), " and grad ",
              grad.describe(), " are on different devices");
}
}  // namespace

Optimizer::Optimizer(OptimizerConfig config) : config_(std::move(config)) { validate(config_); }

double Optimizer::step(Tensor& params, Tensor& grad, const SlotFn& slot, float lr, const Tensor* grad_scale) {
  check_step_args(params, grad);  // before the step is counted
  if (own_state_ == nullptr || own_state_->device() != params.device()) own_state_ = std::make_shared<StepState>(params.device());
  prepare(*own_state_, lr);
  own_state_->upload();
  apply(params, grad, slot, *own_state_, grad_scale, true);
  return own_state_->read_grad_norm();
}

void Optimizer::prepare(StepState& state, float lr) {
  ++steps_;
  state.set_lr(lr);
  if (config_.name == "adam" || config_.name == "adamw") {
    const float bc1 = 1.0f - std::pow(config_.beta1, float(steps_));
    const float bc2 = 1.0f - std::pow(config_.beta2, float(steps_));
    state.set_adam_corrections(lr / bc1, 1.0f / std::sqrt(bc2));
  }
}

void Optimizer::apply(Tensor& params, Tensor& grad, const SlotFn& slot, StepState& state, const Tensor* grad_scale,
                      bool norm) {
  check_step_args(params, grad);
  const Device device = params.device();
  ROAST_CHECK(state.device() == device, "Optimizer::step: the step state is on ", state.device().str(),
              ", the parameters on ", device.str());
  const std::int64_t n = params.numel();
  float* p = params.data<float>();
  float* g = grad.data<float>();
  auto* scalars = static_cast<kernels::StepScalars*>(state.scalars());
  if (config_.grad_scaling) {
    ROAST_CHECK(grad_scale != nullptr && grad_scale->numel() == n,
                "Optimizer::step: optimizer.grad_scaling needs the memory's gradient scales S_j");
    ROAST_CHECK(grad_scale->device() == device, "Optimizer::step: the gradient scales ", grad_scale->describe(),
                " are not on the parameters' device ", device.str());
    ROAST_KERNEL(device, optim_scale_grad, g, grad_scale->data<float>(), n);
  }
  // The norm and the clip factor stay on the device (the update reads the factor there).
  if (norm || config_.grad_clip_norm > 0) ROAST_KERNEL(device, optim_grad_norm, g, n, config_.grad_clip_norm, scalars);
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
    a.weight_decay = c.weight_decay, a.momentum = c.momentum, a.nesterov = c.nesterov;
    float* v = c.momentum > 0 ? slot_data("momentum") : nullptr;
    ROAST_KERNEL(device, optim_sgd, p, g, v, n, a, scalars);
  } else if (c.name == "adagrad") {
    kernels::AdagradArgs a;
    a.weight_decay = c.weight_decay, a.eps = c.eps;
    ROAST_KERNEL(device, optim_adagrad, p, g, slot_data("sum_sq"), n, a, scalars);
  } else {  // adam, adamw
    kernels::AdamArgs a;
    a.weight_decay = c.weight_decay, a.beta1 = c.beta1, a.beta2 = c.beta2, a.eps = c.eps;
    a.decoupled = c.name == "adamw";
    ROAST_KERNEL(device, optim_adam, p, g, slot_data("exp_avg"), slot_data("exp_avg_sq"), n, a, scalars);
  }
}

}  // namespace roast
