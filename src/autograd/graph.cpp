#include "autograd/graph.h"

#include <unordered_set>

#include "kernels/backend.h"
#include "tensor/tensor_impl.h"

namespace roast {
namespace {
thread_local bool t_grad_enabled = true;

class NodeSink final : public GradSink {
 public:
  explicit NodeSink(const Node& node) : node_(node) {}

  bool needs(std::size_t i) const override {
    return i < node_.inputs.size() && node_.inputs[i].impl()->requires_grad;
  }

  void accumulate(std::size_t i, const Tensor& grad) override {
    if (!needs(i)) return;
    TensorImpl& in = *node_.inputs[i].impl();
    ROAST_CHECK(grad.shape() == in.shape, "internal: backward of ", node_.name, " gave input ", i, " a gradient of shape ",
                shape_str(grad.shape()), ", expected ", shape_str(in.shape));
    if (!in.grad.defined()) {
      in.grad = grad.detach();
      in.grad_owned = false;
    } else {
      if (!in.grad_owned) {  // copy on write: the adopted gradient may be another node's
        in.grad = in.grad.clone();
        in.grad_owned = true;
      }
      ROAST_CHECK(grad.device() == in.grad.device(), "internal: backward of ", node_.name, " gave input ", i,
                  " a gradient on ", grad.device().str(), ", expected ", in.grad.device().str());
      ROAST_KERNEL(grad.device(), add_inplace, in.grad.data<float>(), grad.data<float>(), grad.numel());
    }
  }

  Tensor buffer(std::size_t i) override {
    ROAST_CHECK(needs(i), "internal: backward of ", node_.name, " asked for a gradient buffer of input ", i,
                " which needs none");
    TensorImpl& in = *node_.inputs[i].impl();
    if (!in.grad.defined()) {
      in.grad = Tensor::zeros(in.shape, DType::f32, in.storage->device());
      in.grad_owned = true;
    } else if (!in.grad_owned) {
      in.grad = in.grad.clone();
      in.grad_owned = true;
    }
    return in.grad;
  }

 private:
  const Node& node_;
};

// Post-order over the graph below root (iterative: deep graphs must not overflow the stack).
std::vector<TensorImpl*> topological_order(TensorImpl* root) {
  std::vector<TensorImpl*> order;
  std::unordered_set<TensorImpl*> seen{root};
  std::vector<std::pair<TensorImpl*, std::size_t>> stack{{root, 0}};
  while (!stack.empty()) {
    auto& [impl, next] = stack.back();
    const Node* node = impl->grad_fn.get();
    if (node != nullptr && next < node->inputs.size()) {
      TensorImpl* child = node->inputs[next++].impl().get();
      if (child->requires_grad && seen.insert(child).second) stack.push_back({child, 0});
      continue;
    }
    order.push_back(impl);
    stack.pop_back();
  }
  return order;
}
}  // namespace

bool grad_enabled() { return t_grad_enabled; }
NoGradGuard::NoGradGuard() : previous_(t_grad_enabled) { t_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { t_grad_enabled = previous_; }

std::string node_name(const Node& node) { return std::string("op '") + node.name + "'"; }

Tensor record(const char* op_name, Tensor output, std::vector<Tensor> inputs, BackwardFn backward) {
  if (!t_grad_enabled) return output;
  bool any = false;
  for (const Tensor& in : inputs) any = any || (in.defined() && in.impl()->requires_grad);
  if (!any) return output;
  for (const Tensor& in : inputs) checked_impl(in, op_name);
  auto node = std::make_shared<Node>();
  node->name = op_name;
  node->inputs = std::move(inputs);
  node->backward = std::move(backward);
  TensorImpl& impl = *output.impl();
  impl.grad_fn = std::move(node);
  impl.requires_grad = true;
  return output;
}

void run_backward(const Tensor& root) {
  const TensorImpl& r = checked_impl(root, "backward");
  ROAST_CHECK(r.requires_grad, "backward: the tensor ", root.describe(),
              " does not require grad: no input of the ops that made it had requires_grad (or grad mode was off)");
  ROAST_CHECK(root.numel() == 1 && r.dtype == DType::f32, "backward: needs a scalar (one-element f32) loss, got ",
              root.describe(), ". Reduce it first, e.g. with mean()");
  TensorImpl* root_impl = root.impl().get();
  const std::vector<TensorImpl*> order = topological_order(root_impl);
  root_impl->grad = Tensor::full(r.shape, 1.0f, root.device());
  root_impl->grad_owned = true;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    TensorImpl* impl = *it;
    Node* node = impl->grad_fn.get();
    if (node == nullptr) continue;  // a leaf: its grad stays
    ROAST_CHECK(!node->released, "backward: ", node_name(*node),
                " was already walked by an earlier backward(); its saved tensors are freed. Run the forward again");
    if (impl->grad.defined()) {
      NodeSink sink(*node);
      Tensor grad = impl->grad;
      node->backward(grad, sink);
    }
    node->released = true;
    node->backward = nullptr;  // frees the saved tensors
    impl->grad = Tensor();
    impl->grad_owned = false;
  }
  // Leaves keep a gradient that is theirs alone.
  for (TensorImpl* impl : order) {
    if (!impl->grad_fn && impl->grad.defined() && !impl->grad_owned) {
      impl->grad = impl->grad.clone();
      impl->grad_owned = true;
    }
  }
}

// Tensor's autograd members are defined here, beside the tape, so that src/tensor does not
// depend on src/autograd.
void Tensor::backward() const { run_backward(*this); }

Tensor& Tensor::set_requires_grad(bool required) {
  ROAST_CHECK(defined(), "Tensor::set_requires_grad: the tensor is empty (default-constructed or moved-from)");
  const TensorImpl& impl = *impl_;
  ROAST_CHECK(!impl.grad_fn, "Tensor::set_requires_grad: only leaves (tensors not produced by an op) can change it; "
                             "this one was produced by ", node_name(*impl.grad_fn));
  ROAST_CHECK(!required || impl.dtype == DType::f32, "Tensor::set_requires_grad: only f32 tensors have gradients, got ",
              describe());
  impl_->requires_grad = required;
  return *this;
}

}  // namespace roast
