// Learning-rate schedules (optim_types.h): validation and the rate at a step.
#include <algorithm>
#include <cmath>

#include "optim/optim_types.h"

namespace roast {
namespace {
float constant_rate(const ScheduleConfig&, float lr, std::int64_t, std::int64_t) { return lr; }

float step_rate(const ScheduleConfig& s, float lr, std::int64_t after, std::int64_t) {
  return lr * std::pow(s.gamma, float(after / s.step_size));
}

float cosine_rate(const ScheduleConfig& s, float lr, std::int64_t after, std::int64_t total_steps) {
  const std::int64_t span = std::max<std::int64_t>(1, total_steps - s.warmup_steps);
  const double progress = std::min(1.0, double(after) / double(span));
  const double cosine = 0.5 * (1.0 + std::cos(M_PI * progress));
  return float(lr * (s.min_lr_ratio + (1.0 - s.min_lr_ratio) * cosine));
}

void register_builtin_schedules(Registry<ScheduleType>& registry) {
  registry.add({"constant", "the base rate throughout", constant_rate});
  registry.add({"step", "the rate times gamma every step_size steps", step_rate});
  registry.add({"cosine", "cosine decay to lr * min_lr_ratio at the last step", cosine_rate});
}
}  // namespace

const Registry<ScheduleType>& schedule_registry() {
  static Registry<ScheduleType> registry("schedule");
  static const bool builtins_added = (register_builtin_schedules(registry), true);
  (void)builtins_added;
  return registry;
}

void validate(const ScheduleConfig& s) {
  ROAST_CHECK(schedule_registry().contains(s.name), "schedule.name: ", schedule_registry().unknown_message(s.name));
  ROAST_CHECK(s.warmup_steps >= 0, "schedule.warmup_steps: must be >= 0, got ", s.warmup_steps);
  ROAST_CHECK(s.step_size > 0, "schedule.step_size: must be > 0, got ", s.step_size);
  ROAST_CHECK(s.gamma > 0 && s.gamma <= 1, "schedule.gamma: must be in (0, 1], got ", s.gamma);
  ROAST_CHECK(s.min_lr_ratio >= 0 && s.min_lr_ratio <= 1, "schedule.min_lr_ratio: must be in [0, 1], got ",
              s.min_lr_ratio);
}

float scheduled_lr(const ScheduleConfig& s, float lr, std::int64_t step, std::int64_t total_steps) {
  if (s.warmup_steps > 0 && step < s.warmup_steps) return lr * float(step + 1) / float(s.warmup_steps);
  return schedule_registry().at(s.name, "schedule.name").rate(s, lr, step - s.warmup_steps, total_steps);
}

}  // namespace roast
