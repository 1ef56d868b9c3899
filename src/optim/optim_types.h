// Optimizers and learning-rate schedules by name: what optimizer.name and schedule.name
// may say, and what each name means. Engine code; each list is registered in one place
// (optimizer_types.cpp, schedules.cpp), and the config's error for an unknown name lists it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "roast/optim.h"
#include "roast/registry.h"

namespace roast {

struct OptimizerType {
  std::string name;
  std::string description;
  // The state slots the optimizer keeps under `config`, each m floats.
  std::vector<std::string> (*slots)(const OptimizerConfig& config) = nullptr;
  // The update itself is dispatched by name in Optimizer::step (optimizer.cpp), beside the
  // kernels it calls: a new optimizer also needs its kernel there.
};
const Registry<OptimizerType>& optimizer_registry();

struct ScheduleType {
  std::string name;
  std::string description;
  // The rate `after` steps past the warm-up (schedule.warmup_steps) of `total_steps`, for
  // base rate `lr`; the warm-up itself is the same for every schedule (scheduled_lr).
  float (*rate)(const ScheduleConfig& schedule, float lr, std::int64_t after, std::int64_t total_steps) = nullptr;
};
const Registry<ScheduleType>& schedule_registry();

}  // namespace roast
