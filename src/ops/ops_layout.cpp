// Ops that move elements: reshape (a view), transpose / permute, slice, concat, gather_rows.
#include <numeric>

#include "kernels/backend.h"
#include "ops/internal.h"
#include "roast/autograd.h"
#include "roast/ops.h"
#include "tensor/tensor_impl.h"

namespace roast {
namespace kc = kernels;  // the kernels' shared types

namespace {
std::int64_t product(const Shape& s, std::size_t from, std::size_t to) {
  std::int64_t p = 1;
  for (std::size_t i = from; i < to; ++i) p *= s[i];
  return p;
}

const void* id_pointer(const Tensor& ids) {
  return ids.dtype() == DType::i64 ? static_cast<const void*>(ids.data<std::int64_t>())
                                   : static_cast<const void*>(ids.data<std::int32_t>());
}
}  // namespace

Tensor reshape(const Tensor& x, const Shape& shape) {
  const TensorImpl& impl = checked_impl(x, "reshape");
  Shape target = shape;
  std::int64_t known = 1, infer = -1;
  for (std::size_t i = 0; i < target.size(); ++i) {
    if (target[i] == -1) {
      ROAST_CHECK(infer < 0, "reshape: at most one -1 in the target shape ", shape_str(shape));
      infer = std::int64_t(i);
    } else {
      ROAST_CHECK(target[i] >= 0, "reshape: negative size in target shape ", shape_str(shape));
      known *= target[i];
    }
  }
  if (infer >= 0) {
    ROAST_CHECK(known > 0 && x.numel() % known == 0, "reshape: cannot infer -1 of ", shape_str(shape), " for ",
                x.describe());
    target[std::size_t(infer)] = x.numel() / known;
  }
  ROAST_CHECK(shape_numel(target) == x.numel(), "reshape: ", x.describe(), " has ", x.numel(),
              " elements; target shape ", shape_str(shape), " needs ", shape_numel(target));
  auto view = std::make_shared<TensorImpl>();
  view->storage = impl.storage;
  view->offset = impl.offset;
  view->shape = target;
  view->dtype = impl.dtype;
  return record("reshape", Tensor(view), {x},
                [xs = x.shape()](const Tensor& g, GradSink& sink) { sink.accumulate(0, reshape(g.detach(), xs)); });
}

Tensor permute(const Tensor& x, const std::vector<int>& order) {
  const char* name = "permute";
  ops::require_f32(x, name);
  const int rank = int(x.dim());
  ROAST_CHECK(int(order.size()) == rank && rank <= kc::kMaxRank, name, ": order has ", order.size(),
              " entries for ", x.describe());
  std::vector<int> inverse(order.size(), -1);
  for (int d = 0; d < rank; ++d) {
    ROAST_CHECK(order[std::size_t(d)] >= 0 && order[std::size_t(d)] < rank && inverse[std::size_t(order[std::size_t(d)])] < 0,
                name, ": order is not a permutation of 0..", rank - 1, " for ", x.describe());
    inverse[std::size_t(order[std::size_t(d)])] = d;
  }
  Shape out_shape(static_cast<std::size_t>(rank));
  for (int d = 0; d < rank; ++d) out_shape[std::size_t(d)] = x.shape()[std::size_t(order[std::size_t(d)])];
  Tensor y = Tensor::empty(out_shape, DType::f32, x.device());
  ROAST_KERNEL(x.device(), permute, x.data<float>(), y.data<float>(), rank, x.shape().data(), order.data());
  return record(name, y, {x}, [inverse](const Tensor& g, GradSink& sink) {
    Shape xs(g.shape().size());
    for (std::size_t d = 0; d < xs.size(); ++d) xs[d] = g.shape()[std::size_t(inverse[d])];
    Tensor gx = Tensor::empty(xs, DType::f32, g.device());
    ROAST_KERNEL(g.device(), permute, g.data<float>(), gx.data<float>(), int(xs.size()), g.shape().data(), inverse.data());
    sink.accumulate(0, gx);
  });
}

Tensor transpose(const Tensor& x, std::int64_t axis0, std::int64_t axis1) {
  const std::int64_t n = x.dim();
  const std::int64_t a0 = ops::normalize_axis(axis0, n, "transpose", x.shape());
  const std::int64_t a1 = ops::normalize_axis(axis1, n, "transpose", x.shape());
  std::vector<int> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::swap(order[std::size_t(a0)], order[std::size_t(a1)]);
  return permute(x, order);
}

Tensor slice(const Tensor& x, std::int64_t axis, std::int64_t start, std::int64_t end) {
  const char* name = "slice";
  ops::require_f32(x, name);
  const std::int64_t a = ops::normalize_axis(axis, x.dim(), name, x.shape());
  const std::int64_t len = x.shape()[std::size_t(a)];
  ROAST_CHECK(0 <= start && start <= end && end <= len, name, ": range [", start, ", ", end, ") is not inside [0, ", len,
              ") along axis ", axis, " of ", x.describe());
  const std::int64_t outer = product(x.shape(), 0, std::size_t(a));
  const std::int64_t inner = product(x.shape(), std::size_t(a) + 1, x.shape().size());
  Shape out_shape = x.shape();
  out_shape[std::size_t(a)] = end - start;
  Tensor y = Tensor::empty(out_shape, DType::f32, x.device());
  ROAST_KERNEL(x.device(), slice_copy, x.data<float>(), y.data<float>(), outer, len, inner, start, end - start);
  return record(name, y, {x}, [xs = x.shape(), outer, len, inner, start, n = end - start](const Tensor& g, GradSink& sink) {
    Tensor gx = Tensor::zeros(xs, DType::f32, g.device());
    ROAST_KERNEL(g.device(), slice_scatter_add, g.data<float>(), gx.data<float>(), outer, len, inner, start, n);
    sink.accumulate(0, gx);
  });
}

Tensor concat(const std::vector<Tensor>& xs, std::int64_t axis) {
  const char* name = "concat";
  ROAST_CHECK(!xs.empty(), name, ": needs at least one tensor");
  for (const Tensor& x : xs) ops::require_f32(x, name);
  const Shape& first = xs[0].shape();
  const std::int64_t a = ops::normalize_axis(axis, std::int64_t(first.size()), name, first);
  Shape out_shape = first;
  out_shape[std::size_t(a)] = 0;
  for (const Tensor& x : xs) {
    ops::require_same_device(xs[0], x, name);
    bool same = x.dim() == std::int64_t(first.size());
    for (std::size_t d = 0; same && d < first.size(); ++d) same = d == std::size_t(a) || x.shape()[d] == first[d];
    ROAST_CHECK(same, name, ": shapes ", shape_str(first), " and ", shape_str(x.shape()),
                " differ outside axis ", axis);
    out_shape[std::size_t(a)] += x.shape()[std::size_t(a)];
  }
  const std::int64_t outer = product(first, 0, std::size_t(a));
  const std::int64_t inner = product(first, std::size_t(a) + 1, first.size());
  const std::int64_t total = out_shape[std::size_t(a)];
  Tensor y = Tensor::zeros(out_shape, DType::f32, xs[0].device());
  std::vector<std::int64_t> starts;
  std::int64_t at = 0;
  for (const Tensor& x : xs) {
    const std::int64_t n = x.shape()[std::size_t(a)];
    ROAST_KERNEL(x.device(), slice_scatter_add, x.data<float>(), y.data<float>(), outer, total, inner, at, n);
    starts.push_back(at);
    at += n;
  }
  return record(name, y, xs, [xs, starts, a, outer, inner, total](const Tensor& g, GradSink& sink) {
    for (std::size_t i = 0; i < xs.size(); ++i) {
      if (!sink.needs(i)) continue;
      Tensor gx = Tensor::empty(xs[i].shape(), DType::f32, g.device());
      ROAST_KERNEL(g.device(), slice_copy, g.data<float>(), gx.data<float>(), outer, total, inner, starts[i], xs[i].shape()[std::size_t(a)]);
      sink.accumulate(i, gx);
    }
  });
}

Tensor gather_rows(const Tensor& table, const Tensor& ids, const Numerics& numerics) {
  const char* name = "gather_rows";
  ops::require_f32(table, name, "table");
  ROAST_CHECK(ids.defined() && ids.dtype() != DType::f32, name, ": ids must be i32 or i64, got ", ids.describe());
  ROAST_CHECK(table.dim() == 2, name, ": table must be [rows, dim], got ", table.describe());
  ops::require_same_device(table, ids, name);
  const std::int64_t rows = table.size(0), d = table.size(1);
  Shape out_shape = ids.shape();
  out_shape.push_back(d);
  Tensor y = Tensor::empty(out_shape, DType::f32, table.device());
  const int id_bytes = int(dtype_size(ids.dtype()));
  const std::int64_t bad = ROAST_KERNEL(table.device(), gather_rows, table.data<float>(), rows, d, id_pointer(ids),
                                        id_bytes, ids.numel(), y.data<float>());
  if (bad >= 0) {
    const Tensor host = ids.to(Device::cpu());  // the error path only
    const std::int64_t v = host.dtype() == DType::i64 ? host.data<std::int64_t>()[bad] : host.data<std::int32_t>()[bad];
    fail(name, ": id ", v, " at position ", bad, " is outside [0, ", rows, ") for table ", table.describe());
  }
  return record(name, y, {table, ids}, [ids = ids.detach(), d, id_bytes, deterministic = numerics.deterministic](const Tensor& g,
                                                                                         GradSink& sink) {
    Tensor gt = sink.buffer(0);  // in place: only the rows in the batch are touched
    ROAST_KERNEL(g.device(), scatter_add_rows, g.data<float>(), d, id_pointer(ids), id_bytes, ids.numel(),
                 gt.data<float>(), deterministic);
  });
}

}  // namespace roast
