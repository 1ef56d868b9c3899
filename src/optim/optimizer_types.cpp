// The optimizers optimizer.name may name (optim_types.h), and the validation of their config.
#include <cmath>

#include "optim/optim_types.h"

namespace roast {
namespace {
std::vector<std::string> sgd_slots(const OptimizerConfig& c) {
  return c.momentum > 0 ? std::vector<std::string>{"momentum"} : std::vector<std::string>{};
}
std::vector<std::string> adam_slots(const OptimizerConfig&) { return {"exp_avg", "exp_avg_sq"}; }
std::vector<std::string> adagrad_slots(const OptimizerConfig&) { return {"sum_sq"}; }

void register_builtin_optimizers(Registry<OptimizerType>& registry) {
  registry.add({"sgd", "stochastic gradient descent, optional (Nesterov) momentum", sgd_slots});
  registry.add({"adam", "Adam; weight_decay is L2 added to the gradient", adam_slots});
  registry.add({"adamw", "Adam with decoupled weight decay", adam_slots});
  registry.add({"adagrad", "Adagrad", adagrad_slots});
}
}  // namespace

const Registry<OptimizerType>& optimizer_registry() {
  static Registry<OptimizerType> registry("optimizer");
  static const bool builtins_added = (register_builtin_optimizers(registry), true);
  (void)builtins_added;
  return registry;
}

void validate(const OptimizerConfig& c) {
  ROAST_CHECK(optimizer_registry().contains(c.name), "optimizer.name: ", optimizer_registry().unknown_message(c.name));
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

std::vector<std::string> optimizer_slots(const OptimizerConfig& c) {
  return optimizer_registry().at(c.name, "optimizer.name").slots(c);
}

}  // namespace roast
