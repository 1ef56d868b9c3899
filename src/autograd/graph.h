// Autograd internals: the node of the tape and the backward walk.
#pragma once

#include <string>

#include "roast/autograd.h"

namespace roast {

struct Node {
  const char* name = "";
  std::vector<Tensor> inputs;
  BackwardFn backward;
  bool released = false;  // set once its backward ran; the saved tensors are gone
};

std::string node_name(const Node& node);
void run_backward(const Tensor& root);

}  // namespace roast
