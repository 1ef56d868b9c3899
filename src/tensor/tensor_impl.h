// The inside of a Tensor handle; engine code only.
#pragma once

#include <memory>

#include "roast/tensor.h"

namespace roast {

struct Node;  // autograd/graph.h

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  std::int64_t offset = 0;  // in elements, from storage->data()
  Shape shape;
  DType dtype = DType::f32;

  // Autograd state. A leaf has no grad_fn; an op's output has one while its graph lives.
  bool requires_grad = false;
  std::shared_ptr<Node> grad_fn;
  Tensor grad;              // accumulated gradient (leaves keep it; intermediates drop it)
  bool grad_owned = false;  // false while grad aliases another tensor (copy on write)

  void* raw() const { return static_cast<char*>(storage->data()) + offset * std::int64_t(dtype_size(dtype)); }
};

// Throws when a handle is empty (default-constructed or moved-from).
const TensorImpl& checked_impl(const Tensor& t, const char* op);

}  // namespace roast
