// The optimizers optimizer.name may name (optim_types.h).
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

std::vector<std::string> optimizer_slots(const OptimizerConfig& c) {
  return optimizer_registry().at(c.name, "optimizer.name").slots(c);
}

}  // namespace roast
