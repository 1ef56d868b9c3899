// Autograd: a dynamic tape.
//
// Every op that gets an input with requires_grad() (while grad mode is on) records a node:
// its inputs and its backward function. Tensor::backward() on a scalar walks the nodes in
// reverse topological order. Gradients that reach one tensor along several paths are summed.
// Leaves keep their gradient in Tensor::grad(); intermediates drop theirs once used.
// A graph can be walked once: a second backward through the same nodes throws.
//
// Custom ops (the ROAST-MM Linear, fused layers) use record(): the backward receives the
// output's gradient and a GradSink through which it hands each input its gradient, either
// as a tensor (accumulate) or by adding in place into a buffer (buffer), which is how the
// memory's gradient is filled without an m-sized temporary per layer.
#pragma once

#include <functional>
#include <vector>

#include "roast/tensor.h"

namespace roast {

// True unless a NoGradGuard is alive on this thread.
bool grad_enabled();

// Turns recording off on this thread for its lifetime (evaluation, optimizer steps).
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// Where a backward function delivers the gradients of its op's inputs.
class GradSink {
 public:
  virtual ~GradSink() = default;
  // True when input i needs a gradient; skip work otherwise.
  virtual bool needs(std::size_t i) const = 0;
  // Adds grad (same shape as input i) to input i's gradient. May keep grad without copying.
  virtual void accumulate(std::size_t i, const Tensor& grad) = 0;
  // The gradient buffer of input i, zero-filled on first use, for in-place accumulation.
  virtual Tensor buffer(std::size_t i) = 0;
};

using BackwardFn = std::function<void(const Tensor& grad_output, GradSink& sink)>;

// Attaches a node to `output` when grad mode is on and an input requires grad; returns it.
// `backward` must deliver gradients only for inputs with sink.needs(i).
Tensor record(const char* op_name, Tensor output, std::vector<Tensor> inputs, BackwardFn backward);

}  // namespace roast
