// Optimizers, learning-rate schedules and gradient clipping over the flat memory.
//
// An optimizer updates the memory's parameter array in place from its gradient; its state
// (momentum, Adam moments, Adagrad sums) lives in slots of the same size m that the caller
// provides (Memory::slot), so optimizer memory is O(m), never O(virtual parameters).
// All work is O(m) element-wise (OpenMP on the CPU, CUDA kernels on a GPU), deterministic.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "roast/tensor.h"

namespace roast {

struct OptimizerConfig {
  std::string name = "adam";  // sgd | adam | adamw | adagrad
  float lr = 1e-3f;
  float momentum = 0.0f;      // sgd
  bool nesterov = false;      // sgd (needs momentum > 0)
  float weight_decay = 0.0f;  // sgd, adam, adagrad: L2 added to the gradient; adamw: decoupled
  float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;  // adam, adamw (eps also adagrad)
  float grad_clip_norm = 0.0f;  // clip the global gradient norm to this (0: off)
  bool grad_scaling = false;    // divide dL/dM[j] by S_j (ROAST gradient scaling)
};
// Throws roast::Error naming the field when a value is out of range or the name unknown.
void validate(const OptimizerConfig& config);

struct ScheduleConfig {
  std::string name = "constant";  // constant | step | cosine
  std::int64_t warmup_steps = 0;  // linear warm-up from 0 to lr over these steps (any schedule)
  std::int64_t step_size = 1000;  // step: multiply by gamma every step_size steps
  float gamma = 0.1f;             // step
  float min_lr_ratio = 0.0f;      // cosine: final lr = lr * min_lr_ratio
};
void validate(const ScheduleConfig& config);
// The learning rate at `step` (0-based) of `total_steps`, for base rate `lr`.
float scheduled_lr(const ScheduleConfig& schedule, float lr, std::int64_t step, std::int64_t total_steps);

// Names of the state slots an optimizer keeps (each m floats).
std::vector<std::string> optimizer_slots(const OptimizerConfig& config);

// Gives the slot with this name (created zero-filled, same shape and device as params).
using SlotFn = std::function<Tensor(const std::string& name)>;

// The scalars of one training step that change from step to step (learning rate, Adam's bias
// corrections, the dropout seed word, the clip factor and gradient norm), and the sums of the
// training metrics, in one small buffer on the device where the step runs (on the CPU a host
// buffer). The host sets its part, then upload() writes it with one host-to-device copy
// before the step; the step's kernels read the scalars through pointers into the buffer, so
// that every step passes the kernels the same arguments (a captured CUDA graph of the step
// replays them) and no step waits for the host. Layout: kernels/types.h, StepScalars.
class StepState {
 public:
  explicit StepState(Device device);
  Device device() const { return buffer_.device(); }
  // The host part of the next step (uploaded by upload()).
  void set_lr(float lr);
  void set_dropout_seed(std::uint64_t seed);
  void set_adam_corrections(float step_size, float inv_sqrt_bc2);
  float lr() const;
  // One host-to-device copy of the host part (also resets the clip factor to 1).
  void upload();
  // Pointers into the device buffer: the kernels' StepScalars, and the dropout seed word
  // (nn::Context::step_seed).
  void* scalars();
  const std::uint64_t* dropout_seed_word() const;
  // The training metrics' sums on the device: i64 [2] used as two doubles, the summed step
  // losses and the count of correct rows (cross_entropy_on_device adds to them).
  const Tensor& metric_sums() const { return metrics_; }
  struct Metrics {
    double loss_sum = 0, correct = 0;
  };
  // Reads the metric sums back (synchronises on a GPU) and zeroes them.
  Metrics take_metrics();
  // The last step's global gradient norm (before clipping), read back (synchronises on a GPU).
  double read_grad_norm() const;

 private:
  Tensor buffer_;   // i64 words: the StepScalars
  Tensor metrics_;  // i64 [2]: two doubles
  std::vector<std::int64_t> host_;  // the host's copy of the StepScalars words
};

class Optimizer {
 public:
  explicit Optimizer(OptimizerConfig config);
  const OptimizerConfig& config() const { return config_; }

  // One update of params [m] from grad [m] at learning rate lr. grad_scale [m] (the S_j of
  // Memory) is used when config().grad_scaling; cells with S_j = 0 (never read) are left alone.
  // Returns the global gradient norm before clipping (read back: synchronises on a GPU).
  // Works on either device: the element-wise work runs where params live (kernels/cpu/optim.cpp,
  // kernels/cuda/optim.cu; declared once in kernels/kernel_list.inc).
  // Requires: params and grad f32 of one shape on one device, grad defined (a backward
  // reached the memory since its last zero_grad: Memory::grad() is empty before),
  // slot(name) giving a tensor of params' shape and device that keeps its values between
  // calls (Memory::slot does), and grad_scale (on that device) when config().grad_scaling. Throws roast::Error otherwise.
  // step() is prepare + StepState::upload + apply + StepState::read_grad_norm.
  double step(Tensor& params, Tensor& grad, const SlotFn& slot, float lr, const Tensor* grad_scale = nullptr);

  // A training step's two halves, so that the step never waits for the host:
  // prepare (host): counts the step and sets the state's learning rate and Adam's bias
  // corrections (to be uploaded before the step);
  // apply (device): the update, reading every per-step scalar from the state's buffer; the
  // gradient norm is computed (on the device) only when clipping or with `norm`. Same
  // requirements as step(); `state` lives on params' device.
  void prepare(StepState& state, float lr);
  void apply(Tensor& params, Tensor& grad, const SlotFn& slot, StepState& state, const Tensor* grad_scale = nullptr,
             bool norm = false);

  std::int64_t steps_taken() const { return steps_; }
  void set_steps_taken(std::int64_t steps) { steps_ = steps; }  // restored from checkpoints

 private:
  OptimizerConfig config_;
  std::int64_t steps_ = 0;
  std::shared_ptr<StepState> own_state_;  // step()'s state, on the device of its last call
};

}  // namespace roast
