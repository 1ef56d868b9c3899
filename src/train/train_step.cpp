#include "train/train_step.h"

#include <cstdio>
#include <sstream>

#include "roast/ops.h"

namespace roast {
namespace {
std::string shape_key(const nn::Batch& b) {
  std::ostringstream key;
  for (const Tensor* t : {&b.images, &b.ids, &b.mask, &b.labels}) key << (t->defined() ? shape_str(t->shape()) : "-") << ";";
  return key.str();
}

// The tensor on `device` (a copy when it lives elsewhere).
Tensor on(const Tensor& t, Device device) { return t.defined() && t.device() != device ? t.to(device) : t; }

nn::Batch batch_on(const nn::Batch& b, Device device) {
  return {on(b.images, device), on(b.ids, device), on(b.mask, device), on(b.labels, device)};
}

// A tensor of t's shape and dtype on `device` (the graph's static inputs, allocated once).
Tensor like(const Tensor& t, Device device) { return t.defined() ? Tensor::empty(t.shape(), t.dtype(), device) : Tensor(); }

void copy_into(Tensor& dst, const Tensor& src) {
  if (dst.defined()) dst.copy_from(src);
}
}  // namespace

void check_batch(const data::Batch& b, bool text, const nn::InputSpec& input) {
  if (b.size() == 0) return;
  check_class_ids(b.labels, input.n_classes, "a training batch's labels");
  if (text && input.vocab_size > 0) check_class_ids(b.inputs, input.vocab_size, "a training batch's token ids");
}

TrainStep::TrainStep(Session& s, Optimizer& optimizer, const Tensor* grad_scale, bool graphs, bool graphs_required)
    : s_(s), optimizer_(optimizer), grad_scale_(grad_scale), state_(s.device),
      graphs_(graphs && !s.device.is_cpu()), required_(graphs_required && !s.device.is_cpu()) {}

void TrainStep::body(const nn::Batch& batch, const BeforeUpdate& before_update, float loss_weight) {
  s_.memory->zero_grad();
  nn::Context ctx = forward_context(s_, true);
  ctx.step_seed = state_.dropout_seed_word();  // masks drawn from the step's word on the device
  Tensor loss = cross_entropy_on_device(s_.model->forward(batch, ctx), batch.labels, s_.config.train.label_smoothing,
                                        before_update ? Tensor() : state_.metric_sums());
  // Several ranks: the share's mean loss weighted by its share of the batch, so that the sum
  // over the ranks (of the loss and of its gradient) is the whole batch's mean.
  if (loss_weight != 1.0f) loss = mul_scalar(loss, loss_weight);
  loss.backward();
  Tensor params = s_.memory->params();
  Tensor grad = s_.memory->grad();
  if (before_update) {
    if (!grad.defined()) grad = Tensor::zeros({s_.memory->n_floats()}, DType::f32, s_.device);
    before_update(loss, grad);
  }
  optimizer_.apply(params, grad, [this](const std::string& name) { return s_.memory->slot(name); }, state_, grad_scale_);
}

void TrainStep::run_uncaptured(const nn::Batch& batch, const BeforeUpdate& before_update, float loss_weight) {
  body(batch_on(batch, s_.device), before_update, loss_weight);
}

void TrainStep::run(const nn::Batch& batch, float lr, std::uint64_t dropout_seed, const BeforeUpdate& before_update,
                    float loss_weight) {
  optimizer_.prepare(state_, lr);
  state_.set_dropout_seed(dropout_seed);
  state_.upload();  // the step's one copy of its scalars
  if (!graphs_ || before_update) {
    if (graphs_) stop_graphs("a data-parallel step sums the gradient over the ranks between the backward and the update");
    run_uncaptured(batch, before_update, loss_weight);
    return;
  }
  const std::string key = shape_key(batch);
  if (graph_ != nullptr) {
    if (key == graph_key_) {  // the steady state: the batch into the static inputs, one launch
      copy_into(static_.images, batch.images), copy_into(static_.ids, batch.ids);
      copy_into(static_.mask, batch.mask), copy_into(static_.labels, batch.labels);
      kernels::cuda::launch(*graph_);
      ++replays_;
    } else {  // another shape (a ragged last batch): uncaptured, the graph is kept
      run_uncaptured(batch, before_update, loss_weight);
    }
    return;
  }
  same_shape_ = key == shape_key_ ? same_shape_ + 1 : 1;
  shape_key_ = key;
  if (same_shape_ <= kUncapturedWarmupSteps) {
    run_uncaptured(batch, before_update, loss_weight);
    return;
  }
  const Device d = s_.device;
  static_ = {like(batch.images, d), like(batch.ids, d), like(batch.mask, d), like(batch.labels, d)};
  copy_into(static_.images, batch.images), copy_into(static_.ids, batch.ids);
  copy_into(static_.mask, batch.mask), copy_into(static_.labels, batch.labels);
  graph_key_ = key;
  if (!capture_and_launch()) run_uncaptured(batch, before_update, loss_weight);
}

bool TrainStep::capture_and_launch() {
  std::string why;
  kernels::cuda::begin_capture();
  try {
    body(static_, nullptr, 1.0f);
  } catch (const Error& e) {
    why = e.what();
  } catch (...) {
    kernels::cuda::end_capture(nullptr);
    throw;
  }
  std::string cuda_why;
  std::shared_ptr<kernels::cuda::StepGraph> graph = kernels::cuda::end_capture(&cuda_why);
  if (graph == nullptr || !why.empty()) {
    stop_graphs(why.empty() ? "CUDA could not capture it (" + cuda_why + ")" : why);
    return false;
  }
  graph_ = std::move(graph);
  kernels::cuda::launch(*graph_);  // the captured step itself: capturing ran nothing
  ++replays_;
  return true;
}

void TrainStep::stop_graphs(const std::string& why) {
  graphs_ = false;
  graph_.reset();
  static_ = nn::Batch();
  off_reason_ = why;
  if (required_)
    fail("`train.cuda_graphs`: true, but this training step cannot be captured as a CUDA graph: ", why,
         ". Set train.cuda_graphs to false (or leave it out: steps that cannot be captured then run uncaptured)");
  std::fprintf(stderr, "roast: warning: training steps run without CUDA graphs (train.cuda_graphs): %s\n", why.c_str());
}

}  // namespace roast
