// One training step of a session (forward, loss, backward, optimizer update, metric sums) with
// no host synchronisation in the steady state, on CUDA captured once as a CUDA graph and
// replayed while the batch shape repeats (train.cuda_graphs). Used by the trainer and by
// `bench train`. Engine code.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "kernels/backend.h"
#include "roast/optim.h"
#include "train/session.h"

namespace roast {

class TrainStep {
 public:
  // Called after the backward and before the update with the step's loss and the memory's
  // gradient (data-parallel runs sum both over the ranks there). A step with one is never
  // captured: it reads back and talks to other ranks.
  using BeforeUpdate = std::function<void(Tensor& loss, Tensor& grad)>;

  // `optimizer` and `grad_scale` (or null) must outlive the step. With graphs (and a CUDA
  // session), steps are captured as described in docs/gpu.md; with graphs_required (the config
  // set train.cuda_graphs explicitly), a step that cannot be captured throws roast::Error
  // naming the key instead of warning once and running uncaptured.
  TrainStep(Session& session, Optimizer& optimizer, const Tensor* grad_scale, bool graphs, bool graphs_required);

  // One step on `batch` (tensors on the host or the session's device; labels, and token ids,
  // already checked with check_batch) at learning rate lr, with the step's dropout seed word.
  // The step's loss is added to the metric sums (not read back) unless before_update is given.
  void run(const nn::Batch& batch, float lr, std::uint64_t dropout_seed, const BeforeUpdate& before_update = nullptr,
           float loss_weight = 1.0f);

  // The metric sums since the last call (the summed losses and correct rows of the steps run
  // without before_update); reads back (synchronises on a GPU).
  StepState::Metrics take_metrics() { return state_.take_metrics(); }
  StepState& state() { return state_; }
  // Steps run by launching the captured graph (the first launch after the capture included).
  std::int64_t graph_replays() const { return replays_; }
  // Why steps run uncaptured on this CUDA session, or "" while graphs are in use / pending.
  const std::string& graphs_off_reason() const { return off_reason_; }
  bool graphs_on() const { return graphs_; }

 private:
  // The work recorded into the graph: zero_grad, forward, loss, backward, update.
  void body(const nn::Batch& device_batch, const BeforeUpdate& before_update, float loss_weight);
  void run_uncaptured(const nn::Batch& batch, const BeforeUpdate& before_update, float loss_weight);
  // Captures the step for the static inputs (already holding the batch) and launches it once;
  // false (after the fallback decision) when it could not be captured.
  bool capture_and_launch();
  void stop_graphs(const std::string& why);

  Session& s_;
  Optimizer& optimizer_;
  const Tensor* grad_scale_;
  StepState state_;
  bool graphs_ = false, required_ = false;
  std::string off_reason_;
  std::string shape_key_;        // the shape of the last batch
  std::int64_t same_shape_ = 0;  // consecutive uncaptured steps of that shape
  std::shared_ptr<kernels::cuda::StepGraph> graph_;
  std::string graph_key_;        // the batch shape the graph was captured for
  nn::Batch static_;             // the graph's inputs: each batch is copied into them
  std::int64_t replays_ = 0;
};

// The steps of one batch shape that run uncaptured before the step is captured (auto_select's
// timings, tile tables and the allocator's warm-up happen in them).
constexpr std::int64_t kUncapturedWarmupSteps = 2;

// Checks a host batch's labels against the classes and its token ids against the vocabulary
// (throws roast::Error naming the batch): the check the device kernels of a step skip.
void check_batch(const data::Batch& batch, bool text, const nn::InputSpec& input);

}  // namespace roast
