// materialize (the dense reference of a mapped tensor) and read_exact (exact cells as a
// differentiable tensor).
#include "ops/internal.h"
#include "roast/autograd.h"
#include "roast/memory.h"
#include "tensor/tensor_impl.h"

namespace roast {

namespace {
void require_inside(const Memory& memory, const Mapping& m, const char* op) {
  ROAST_CHECK(m.rows >= 1 && m.cols >= 1 && m.region_base >= 0 && m.region_size >= 1 &&
                  m.region_base + m.region_size <= memory.n_floats(),
              op, ": the mapping (layer ", m.layer, ", cells [", m.region_base, ", ", m.region_base + m.region_size,
              ")) does not fit this memory of ", memory.n_floats(), " floats; was it planned for another memory?");
}

// A tensor of `shape` viewing `base`.. of the storage of a [m] tensor.
Tensor view_at(const Tensor& flat, std::int64_t base, const Shape& shape) {
  const TensorImpl& impl = *flat.impl();
  auto view = std::make_shared<TensorImpl>();
  view->storage = impl.storage;
  view->offset = impl.offset + base;
  view->shape = shape;
  view->dtype = impl.dtype;
  return Tensor(view);
}
}  // namespace

Tensor materialize(const Memory& memory, const Mapping& m) {
  require_inside(memory, m, "materialize");
  const Tensor host = memory.params().detach().to(Device::cpu());
  const float* cells = host.data<float>();
  Tensor out = Tensor::empty({m.rows, m.cols}, DType::f32, Device::cpu());
  float* w = out.data<float>();
  for (std::int64_t r = 0; r < m.rows; ++r) {
    for (std::int64_t c = 0; c < m.cols; ++c) w[r * m.cols + c] = m.lambda * m.sign(r, c) * cells[m.loc(r, c)];
  }
  return out;
}

Tensor read_exact(const Memory& memory, const Mapping& m, const Shape& shape) {
  ROAST_CHECK(m.scheme == Scheme::exact || m.scheme == Scheme::dense, "read_exact: tensor (layer ", m.layer,
              ") is mapped by scheme ", scheme_name(m.scheme),
              "; only exact and dense tensors have their own row-major cells (use the ROAST-MM ops for hashed ones)");
  require_inside(memory, m, "read_exact");
  ROAST_CHECK(m.region_size == m.rows * m.cols, "read_exact: the mapping of layer ", m.layer, " has ", m.region_size,
              " cells for ", m.rows, " x ", m.cols, " weights");
  const Shape out_shape = shape.empty() ? Shape{m.rows, m.cols} : shape;
  ROAST_CHECK(shape_numel(out_shape) == m.rows * m.cols, "read_exact: shape ", shape_str(out_shape), " has ",
              shape_numel(out_shape), " elements but the tensor (layer ", m.layer, ") has ", m.rows * m.cols);
  Tensor out = view_at(memory.params(), m.region_base, out_shape).clone();
  const std::int64_t base = m.region_base;
  return record("read_exact", out, {memory.params()}, [base](const Tensor& g, GradSink& sink) {
    if (!sink.needs(0)) return;
    Tensor cells = view_at(sink.buffer(0), base, g.shape());
    ops::raw_add_inplace(cells, g);
  });
}

}  // namespace roast
