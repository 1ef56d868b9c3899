// Reductions over an axis, softmax / log-softmax, cross-entropy.
#include "kernels/backend.h"
#include "ops/internal.h"
#include "roast/autograd.h"
#include "roast/ops.h"

namespace roast {
namespace {
struct AxisView {
  std::int64_t outer = 1, n = 1, inner = 1;
};
AxisView split_at(const Shape& shape, std::int64_t axis) {
  AxisView v;
  for (std::int64_t d = 0; d < std::int64_t(shape.size()); ++d) {
    if (d < axis) v.outer *= shape[std::size_t(d)];
    else if (d == axis) v.n = shape[std::size_t(d)];
    else v.inner *= shape[std::size_t(d)];
  }
  return v;
}

Tensor reduce_op(const char* name, const Tensor& x, std::int64_t axis, bool keepdim, bool average) {
  ops::require_f32(x, name);
  const std::int64_t a = ops::normalize_axis(axis, x.dim(), name, x.shape());
  const AxisView v = split_at(x.shape(), a);
  ROAST_CHECK(!average || v.n > 0, name, ": cannot average over an empty axis in shape ", shape_str(x.shape()));
  Shape out_shape = x.shape();
  if (keepdim) out_shape[std::size_t(a)] = 1;
  else out_shape.erase(out_shape.begin() + a);
  const float scale = average ? 1.0f / float(v.n) : 1.0f;
  Tensor y = Tensor::empty(out_shape, DType::f32, x.device());
  ROAST_KERNEL(x.device(), reduce_sum, x.data<float>(), y.data<float>(), v.outer, v.n, v.inner, scale);
  return record(name, y, {x}, [v, scale, xs = x.shape(), dev = x.device()](const Tensor& g, GradSink& sink) {
    Tensor gx = Tensor::empty(xs, DType::f32, dev);
    ROAST_KERNEL(dev, reduce_sum_backward, g.data<float>(), gx.data<float>(), v.outer, v.n, v.inner, scale);
    sink.accumulate(0, gx);
  });
}

Tensor flat(const Tensor& x) { return reshape(x, {x.numel()}); }

Tensor softmax_op(const char* name, const Tensor& x, bool log) {
  ops::require_f32(x, name);
  ROAST_CHECK(x.dim() >= 1 && x.size(-1) > 0, name, ": needs a non-empty last axis, got ", x.describe());
  const std::int64_t n = x.size(-1), rows = x.numel() / n;
  Tensor y = Tensor::empty(x.shape(), DType::f32, x.device());
  ROAST_KERNEL(x.device(), softmax_rows, x.data<float>(), y.data<float>(), rows, n, log);
  return record(name, y, {x}, [y_saved = y.detach(), rows, n, log](const Tensor& g, GradSink& sink) {
    Tensor gx = Tensor::empty(y_saved.shape(), DType::f32, y_saved.device());
    ROAST_KERNEL(y_saved.device(), softmax_rows_backward, y_saved.data<float>(), g.data<float>(), gx.data<float>(), rows, n, log);
    sink.accumulate(0, gx);
  });
}
}  // namespace

Tensor sum(const Tensor& x, std::int64_t axis, bool keepdim) { return reduce_op("sum", x, axis, keepdim, false); }
Tensor mean(const Tensor& x, std::int64_t axis, bool keepdim) { return reduce_op("mean", x, axis, keepdim, true); }
Tensor sum_all(const Tensor& x) { return reduce_op("sum_all", flat(x), 0, true, false); }
Tensor mean_all(const Tensor& x) { return reduce_op("mean_all", flat(x), 0, true, true); }
Tensor softmax(const Tensor& x) { return softmax_op("softmax", x, false); }
Tensor log_softmax(const Tensor& x) { return softmax_op("log_softmax", x, true); }

namespace {
const void* label_pointer(const Tensor& labels) {
  return labels.dtype() == DType::i64 ? static_cast<const void*>(labels.data<std::int64_t>())
                                      : static_cast<const void*>(labels.data<std::int32_t>());
}

void check_cross_entropy(const char* name, const Tensor& logits, const Tensor& labels, float label_smoothing) {
  ops::require_f32(logits, name, "logits");
  ROAST_CHECK(labels.defined(), name, ": the labels tensor is empty");
  ROAST_CHECK(logits.dim() == 2, name, ": logits must be [batch, classes], got ", logits.describe());
  ROAST_CHECK(labels.dtype() != DType::f32, name, ": labels must be integer class ids (i32 or i64), got ",
              labels.describe());
  ROAST_CHECK(labels.dim() == 1 && labels.size(0) == logits.size(0), name, ": labels ", labels.describe(),
              " do not match logits ", logits.describe(), " (expected [", logits.size(0), "])");
  ROAST_CHECK(label_smoothing >= 0.0f && label_smoothing < 1.0f, name, ": label_smoothing must be in [0, 1), got ",
              label_smoothing);
  ops::require_same_device(logits, labels, name);
  ROAST_CHECK(logits.size(0) > 0 && logits.size(1) > 0, name, ": empty logits ", logits.describe());
}

// The loss node: out [1] from logits through probs (the backward reads the loss gradient on
// the device: no host round trip).
Tensor record_cross_entropy(const char* name, Tensor out, const Tensor& logits, const Tensor& labels, Tensor probs,
                            float label_smoothing) {
  const std::int64_t rows = logits.size(0), n = logits.size(1);
  return record(name, out, {logits, labels},
                [probs, labels = labels.detach(), rows, n, label_smoothing](const Tensor& g, GradSink& sink) {
                  Tensor gl = Tensor::empty(probs.shape(), DType::f32, probs.device());
                  ROAST_KERNEL(probs.device(), cross_entropy_backward, probs.data<float>(), label_pointer(labels),
                               int(dtype_size(labels.dtype())), rows, n, label_smoothing, g.data<float>(),
                               gl.data<float>());
                  sink.accumulate(0, gl);
                });
}
}  // namespace

Tensor cross_entropy(const Tensor& logits, const Tensor& labels, float label_smoothing) {
  const char* name = "cross_entropy";
  check_cross_entropy(name, logits, labels, label_smoothing);
  const std::int64_t rows = logits.size(0), n = logits.size(1);
  Tensor probs = Tensor::empty(logits.shape(), DType::f32, logits.device());
  std::int64_t bad = -1;
  const double loss = ROAST_KERNEL(logits.device(), cross_entropy, logits.data<float>(), label_pointer(labels),
                                   int(dtype_size(labels.dtype())), rows, n, label_smoothing, probs.data<float>(), &bad);
  if (bad >= 0) {
    const Tensor host = labels.to(Device::cpu());  // the error path only
    const std::int64_t value = host.dtype() == DType::i64 ? host.data<std::int64_t>()[bad]
                                                          : std::int64_t(host.data<std::int32_t>()[bad]);
    fail(name, ": label ", value, " at row ", bad, " is outside [0, ", n, ") for logits ", logits.describe());
  }
  Tensor out = Tensor::from_vector(std::vector<float>{float(loss)}, {1}, logits.device());
  return record_cross_entropy(name, out, logits, labels, probs, label_smoothing);
}

Tensor cross_entropy_on_device(const Tensor& logits, const Tensor& labels, float label_smoothing,
                               const Tensor& metric_sums) {
  const char* name = "cross_entropy";
  check_cross_entropy(name, logits, labels, label_smoothing);
  double* sums = nullptr;
  if (metric_sums.defined()) {
    ROAST_CHECK(metric_sums.dtype() == DType::i64 && metric_sums.numel() == 2 && metric_sums.device() == logits.device(),
                name, ": metric_sums must be two 8-byte words on the logits' device ", logits.device().str(), ", got ",
                metric_sums.describe());
    Tensor words = metric_sums;  // shares the storage; the kernel adds into it
    sums = reinterpret_cast<double*>(words.data<std::int64_t>());
  }
  const std::int64_t rows = logits.size(0), n = logits.size(1);
  Tensor probs = Tensor::empty(logits.shape(), DType::f32, logits.device());
  Tensor out = Tensor::empty({1}, DType::f32, logits.device());
  ROAST_KERNEL(logits.device(), cross_entropy_to_device, logits.data<float>(), label_pointer(labels),
               int(dtype_size(labels.dtype())), rows, n, label_smoothing, probs.data<float>(), out.data<float>(), sums);
  return record_cross_entropy(name, out, logits, labels, probs, label_smoothing);
}

void check_class_ids(const Tensor& ids, std::int64_t bound, const char* what) {
  ROAST_CHECK(ids.defined() && ids.dtype() != DType::f32, what, ": must be i32 or i64 ids, got ", ids.describe());
  ROAST_CHECK(ids.device().is_cpu(), what, ": ids are checked on the host, got ", ids.describe());
  const std::int64_t n = ids.numel();
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t v = ids.dtype() == DType::i64 ? ids.data<std::int64_t>()[i] : std::int64_t(ids.data<std::int32_t>()[i]);
    if (v < 0 || v >= bound) fail(what, ": ", v, " at position ", i, " is outside [0, ", bound, ")");
  }
}

}  // namespace roast
