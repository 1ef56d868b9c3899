#include "roast/nn/functional.h"

#include "kernels/backend.h"
#include "kernels/dropout_hash.h"
#include "ops/internal.h"
#include "roast/autograd.h"
#include "roast/ops.h"

namespace roast {
namespace nn {
namespace kc = kernels;  // the kernels' shared types

namespace {
void require_image(const Tensor& x, const char* op) {
  ops::require_f32(x, op);
  ROAST_CHECK(x.dim() == 4, op, ": needs an image batch [B, C, H, W], got ", x.describe());
}
std::int64_t spatial(const Tensor& x) { return x.dim() == 4 ? x.size(2) * x.size(3) : 1; }

// A per-column vector of an op over rows of x [..., n]: f32, n elements, on x's device.
void require_row_vector(const Tensor& v, std::int64_t n, const Tensor& x, const char* op, const char* what) {
  ops::require_f32(v, op, what);
  ROAST_CHECK(v.numel() == n, op, ": ", what, " ", v.describe(), " must have ", n, " elements for input ",
              x.describe());
  ops::require_same_device(x, v, op);
}

void check_batch_norm_input(const Tensor& x) {
  ops::require_f32(x, "batch_norm");
  ROAST_CHECK(x.dim() == 2 || x.dim() == 4, "batch_norm: needs [B, C] or [B, C, H, W], got ", x.describe());
  ROAST_CHECK(x.size(0) * spatial(x) > 1, "batch_norm: needs more than one value per channel in training, got ",
              x.describe(), ". Use a batch size above 1");
}
}  // namespace

Tensor im2col(const Tensor& x, std::int64_t kh, std::int64_t kw, std::int64_t stride, std::int64_t padding) {
  const char* name = "im2col";
  require_image(x, name);
  const kc::ConvGeometry g{x.size(0), x.size(1), x.size(2), x.size(3), kh, kw, stride, padding};
  ROAST_CHECK(kh > 0 && kw > 0 && stride > 0 && padding >= 0, name, ": kernel ", kh, "x", kw, ", stride ", stride,
              ", padding ", padding, " are not valid");
  ROAST_CHECK(g.out_h() > 0 && g.out_w() > 0, name, ": a ", kh, "x", kw, " kernel with padding ", padding,
              " does not fit input ", x.describe());
  Tensor cols = Tensor::empty({g.batch * g.out_h() * g.out_w(), g.patch()}, DType::f32, x.device());
  ROAST_KERNEL(x.device(), im2col, x.data<float>(), cols.data<float>(), g);
  return record(name, cols, {x}, [g, xs = x.shape()](const Tensor& gc, GradSink& sink) {
    Tensor gx = Tensor::zeros(xs, DType::f32, gc.device());
    ROAST_KERNEL(gc.device(), col2im_add, gc.data<float>(), gx.data<float>(), g);
    sink.accumulate(0, gx);
  });
}

namespace {
Tensor pool(const char* name, const Tensor& x, std::int64_t k, std::int64_t s, bool is_max) {
  require_image(x, name);
  const std::int64_t h = x.size(2), w = x.size(3), planes = x.size(0) * x.size(1);
  ROAST_CHECK(k > 0 && s > 0 && k <= h && k <= w, name, ": window ", k, " stride ", s, " does not fit ", x.describe());
  const std::int64_t oh = (h - k) / s + 1, ow = (w - k) / s + 1;
  const Device dev = x.device();
  Tensor y = Tensor::empty({x.size(0), x.size(1), oh, ow}, DType::f32, dev);
  if (!is_max) {
    ROAST_KERNEL(dev, avg_pool, x.data<float>(), y.data<float>(), planes, h, w, k, s);
    return record(name, y, {x}, [xs = x.shape(), planes, h, w, k, s](const Tensor& g, GradSink& sink) {
      Tensor gx = Tensor::zeros(xs, DType::f32, g.device());
      ROAST_KERNEL(g.device(), avg_pool_backward, g.data<float>(), gx.data<float>(), planes, h, w, k, s);
      sink.accumulate(0, gx);
    });
  }
  // The window offset of each maximum, one byte per output (k <= 16), in an i32 tensor of a
  // quarter of the outputs' count (tensors have no byte dtype).
  ROAST_CHECK(k <= 16, name, ": windows above 16 x 16 are not supported, got ", k);
  Tensor argmax = Tensor::empty({(y.numel() + 3) / 4}, DType::i32, dev);
  auto* at = reinterpret_cast<std::uint8_t*>(argmax.data<std::int32_t>());
  ROAST_KERNEL(dev, max_pool, x.data<float>(), y.data<float>(), at, planes, h, w, k, s);
  return record(name, y, {x}, [xs = x.shape(), argmax, planes, h, w, k, s](const Tensor& g, GradSink& sink) {
    Tensor gx = Tensor::empty(xs, DType::f32, g.device());  // the kernel writes every value
    const auto* at = reinterpret_cast<const std::uint8_t*>(argmax.data<std::int32_t>());
    ROAST_KERNEL(g.device(), max_pool_backward, g.data<float>(), at, gx.data<float>(), planes, h, w, k, s);
    sink.accumulate(0, gx);
  });
}

// Batch mean and biased variance (var = rstd^-2 - eps) for the running statistics, on the
// statistics' device (no host round trip).
void write_stats(const Tensor& mean, const Tensor& rstd, float eps, Tensor* mean_out, Tensor* var_out) {
  if (mean_out != nullptr) *mean_out = mean;
  if (var_out == nullptr) return;
  Tensor var = Tensor::empty(rstd.shape(), DType::f32, rstd.device());
  ROAST_KERNEL(rstd.device(), power, rstd.data<float>(), var.data<float>(), rstd.numel(), -2.0f);
  ROAST_KERNEL(rstd.device(), affine, var.data<float>(), var.data<float>(), var.numel(), 1.0f, -eps);
  *var_out = var;
}

// The shared body of layer and batch norm: normalise sets of x viewed as [outer, groups, inner].
Tensor normalize_op(const char* name, const Tensor& x, std::int64_t outer, std::int64_t groups, std::int64_t inner,
                    float eps, bool across_outer, Tensor* mean_out, Tensor* var_out) {
  const std::int64_t n_sets = across_outer ? groups : outer * groups;
  const Device dev = x.device();
  Tensor y = Tensor::empty(x.shape(), DType::f32, dev);
  Tensor mean = Tensor::empty({n_sets}, DType::f32, dev), rstd = Tensor::empty({n_sets}, DType::f32, dev);
  ROAST_KERNEL(dev, normalize, x.data<float>(), y.data<float>(), mean.data<float>(), rstd.data<float>(), outer, groups, inner, eps,
                across_outer);
  write_stats(mean, rstd, eps, mean_out, var_out);
  return record(name, y, {x}, [y_saved = y.detach(), rstd, outer, groups, inner, across_outer](const Tensor& g, GradSink& sink) {
    Tensor gx = Tensor::empty(y_saved.shape(), DType::f32, y_saved.device());
    ROAST_KERNEL(y_saved.device(), normalize_backward, y_saved.data<float>(), g.data<float>(), rstd.data<float>(), gx.data<float>(), outer, groups,
                           inner, across_outer);
    sink.accumulate(0, gx);
  });
}
}  // namespace

Tensor max_pool2d(const Tensor& x, std::int64_t kernel, std::int64_t stride) { return pool("max_pool2d", x, kernel, stride, true); }
Tensor avg_pool2d(const Tensor& x, std::int64_t kernel, std::int64_t stride) { return pool("avg_pool2d", x, kernel, stride, false); }

Tensor global_avg_pool2d(const Tensor& x) {
  require_image(x, "global_avg_pool2d");
  return mean(reshape(x, {x.size(0), x.size(1), x.size(2) * x.size(3)}), 2);
}

Tensor layer_norm(const Tensor& x, float eps) {
  ops::require_f32(x, "layer_norm");
  ROAST_CHECK(x.dim() >= 1 && x.size(-1) > 0, "layer_norm: needs a non-empty last axis, got ", x.describe());
  const std::int64_t n = x.size(-1);
  return normalize_op("layer_norm", x, x.numel() / n, 1, n, eps, false, nullptr, nullptr);
}

Tensor batch_norm_train(const Tensor& x, float eps, Tensor* batch_mean, Tensor* batch_var) {
  check_batch_norm_input(x);
  return normalize_op("batch_norm", x, x.size(0), x.size(1), spatial(x), eps, true, batch_mean, batch_var);
}

namespace {
// y = xhat * gain + bias, with xhat the normalised x, as one op over (x, gain, bias).
Tensor normalize_affine(const char* name, const Tensor& x, std::int64_t outer, std::int64_t groups, std::int64_t inner,
                        float eps, bool across_outer, Tensor* mean_out, Tensor* var_out, const Tensor& gain,
                        const Tensor& bias) {
  const std::int64_t n_gain = across_outer ? groups : inner;
  ops::require_f32(gain, name, "gain");
  ops::require_f32(bias, name, "bias");
  ROAST_CHECK(gain.numel() == n_gain && bias.numel() == n_gain, name, ": gain ", gain.describe(), " and bias ",
              bias.describe(), " must have ", n_gain, " elements for input ", x.describe());
  ops::require_same_device(x, gain, name);
  ops::require_same_device(x, bias, name);
  const std::int64_t n_sets = across_outer ? groups : outer * groups;
  const Device dev = x.device();
  Tensor xhat = Tensor::empty(x.shape(), DType::f32, dev);
  Tensor mean = Tensor::empty({n_sets}, DType::f32, dev), rstd = Tensor::empty({n_sets}, DType::f32, dev);
  ROAST_KERNEL(dev, normalize, x.data<float>(), xhat.data<float>(), mean.data<float>(), rstd.data<float>(), outer, groups, inner, eps,
                across_outer);
  write_stats(mean, rstd, eps, mean_out, var_out);
  Tensor y = Tensor::empty(x.shape(), DType::f32, dev);
  ROAST_KERNEL(dev, norm_affine, xhat.data<float>(), gain.data<float>(), bias.data<float>(), y.data<float>(), outer, groups, inner,
                  across_outer);
  return record(name, y, {x, gain, bias},
                [xhat, rstd, gain = gain.detach(), outer, groups, inner, across_outer](const Tensor& g, GradSink& sink) {
                  const Device dev = xhat.device();
                  Tensor gxhat = Tensor::empty(xhat.shape(), DType::f32, dev);
                  Tensor dgain = Tensor::zeros(gain.shape(), DType::f32, dev);
                  Tensor dbias = Tensor::zeros(gain.shape(), DType::f32, dev);
                  ROAST_KERNEL(dev, norm_affine_backward, xhat.data<float>(), gain.data<float>(), g.data<float>(), gxhat.data<float>(),
                                           dgain.data<float>(), dbias.data<float>(), outer, groups, inner, across_outer);
                  if (sink.needs(1)) sink.accumulate(1, dgain);
                  if (sink.needs(2)) sink.accumulate(2, dbias);
                  if (!sink.needs(0)) return;
                  Tensor gx = Tensor::empty(xhat.shape(), DType::f32, dev);
                  ROAST_KERNEL(dev, normalize_backward, xhat.data<float>(), gxhat.data<float>(), rstd.data<float>(), gx.data<float>(),
                                         outer, groups, inner, across_outer);
                  sink.accumulate(0, gx);
                });
}

}  // namespace

Tensor layer_norm(const Tensor& x, float eps, const Tensor& gain, const Tensor& bias) {
  const char* name = "layer_norm";
  ops::require_f32(x, name);
  ROAST_CHECK(x.dim() >= 1 && x.size(-1) > 0, name, ": needs a non-empty last axis, got ", x.describe());
  const std::int64_t n = x.size(-1), rows = x.numel() / n;
  require_row_vector(gain, n, x, name, "gain");
  require_row_vector(bias, n, x, name, "bias");
  const Device dev = x.device();
  Tensor y = Tensor::empty(x.shape(), DType::f32, dev);
  Tensor mean = Tensor::empty({rows}, DType::f32, dev), rstd = Tensor::empty({rows}, DType::f32, dev);
  ROAST_KERNEL(dev, layer_norm_forward, x.data<float>(), gain.data<float>(), bias.data<float>(), y.data<float>(),
               mean.data<float>(), rstd.data<float>(), rows, n, eps);
  // The backward recomputes xhat from x (kept by the graph anyway) and the row statistics.
  return record(name, y, {x, gain, bias},
                [x = x.detach(), gain = gain.detach(), mean, rstd, rows, n](const Tensor& g, GradSink& sink) {
                  const Device dev = x.device();
                  const bool input = sink.needs(0), affine = sink.needs(1) || sink.needs(2);
                  Tensor gx = input ? Tensor::empty(x.shape(), DType::f32, dev) : Tensor();
                  Tensor dgain = affine ? Tensor::empty(gain.shape(), DType::f32, dev) : Tensor();
                  Tensor dbias = affine ? Tensor::empty(gain.shape(), DType::f32, dev) : Tensor();
                  ROAST_KERNEL(dev, layer_norm_backward, x.data<float>(), g.data<float>(), gain.data<float>(),
                               mean.data<float>(), rstd.data<float>(), input ? gx.data<float>() : nullptr,
                               affine ? dgain.data<float>() : nullptr, affine ? dbias.data<float>() : nullptr, rows, n);
                  if (sink.needs(1)) sink.accumulate(1, dgain);
                  if (sink.needs(2)) sink.accumulate(2, dbias);
                  if (input) sink.accumulate(0, gx);
                });
}

Tensor bias_gelu(const Tensor& x, const Tensor& bias) {
  const char* name = "bias_gelu";
  ops::require_f32(x, name);
  ROAST_CHECK(x.dim() >= 1 && x.size(-1) > 0, name, ": needs a non-empty last axis, got ", x.describe());
  const std::int64_t n = x.size(-1), rows = x.numel() / n;
  require_row_vector(bias, n, x, name, "bias");
  Tensor y = Tensor::empty(x.shape(), DType::f32, x.device());
  ROAST_KERNEL(x.device(), bias_gelu_forward, x.data<float>(), bias.data<float>(), y.data<float>(), rows, n);
  // The backward recomputes x + bias from the saved x: no pre-activation tensor is stored.
  return record(name, y, {x, bias}, [x = x.detach(), bias = bias.detach(), rows, n](const Tensor& g, GradSink& sink) {
    const Device dev = x.device();
    const bool input = sink.needs(0), wants_bias = sink.needs(1);
    Tensor gx = input ? Tensor::empty(x.shape(), DType::f32, dev) : Tensor();
    Tensor dbias = wants_bias ? Tensor::empty(bias.shape(), DType::f32, dev) : Tensor();
    ROAST_KERNEL(dev, bias_gelu_backward, x.data<float>(), bias.data<float>(), g.data<float>(),
                 input ? gx.data<float>() : nullptr, wants_bias ? dbias.data<float>() : nullptr, rows, n);
    if (wants_bias) sink.accumulate(1, dbias);
    if (input) sink.accumulate(0, gx);
  });
}

Tensor batch_norm_train(const Tensor& x, float eps, Tensor* batch_mean, Tensor* batch_var, const Tensor& gain,
                        const Tensor& bias) {
  check_batch_norm_input(x);
  return normalize_affine("batch_norm", x, x.size(0), x.size(1), spatial(x), eps, true, batch_mean, batch_var, gain, bias);
}

namespace {
// The shared body of conv_batch_norm_train / _inference: `mean` and `rstd` are [C], filled by
// the kernel when batch_stats.
Tensor conv_batch_norm(const Tensor& rows, std::int64_t batch, std::int64_t h, std::int64_t w, float eps, bool relu,
                       const Tensor& gain, const Tensor& bias, Tensor mean, Tensor rstd, bool batch_stats) {
  const char* name = "conv_batch_norm";
  ops::require_f32(rows, name);
  ROAST_CHECK(rows.dim() == 2 && batch > 0 && h > 0 && w > 0 && rows.size(0) == batch * h * w, name, ": rows ",
              rows.describe(), " are not [B * H * W, C] for B = ", batch, ", H = ", h, ", W = ", w);
  const std::int64_t c = rows.size(1);
  ROAST_CHECK(gain.numel() == c && bias.numel() == c, name, ": gain ", gain.describe(), " and bias ", bias.describe(),
              " must have ", c, " elements");
  ops::require_same_device(rows, gain, name);
  ops::require_same_device(rows, bias, name);
  ROAST_CHECK(mean.numel() == c && rstd.numel() == c && mean.device() == rows.device(), name, ": statistics ",
              mean.describe(), " must be [", c, "] on the rows' device");
  const Device dev = rows.device();
  Tensor y = Tensor::empty({batch, c, h, w}, DType::f32, dev);
  ROAST_KERNEL(dev, channel_norm_forward, rows.data<float>(), y.data<float>(), mean.data<float>(), rstd.data<float>(),
               gain.data<float>(), bias.data<float>(), batch, h * w, c, eps, batch_stats, relu);
  return record(name, y, {rows, gain, bias},
                [x = rows.detach(), mean, rstd, gain = gain.detach(), bias = bias.detach(), batch, hw = h * w, c,
                 batch_stats, relu](const Tensor& g, GradSink& sink) {
                  const Device dev = x.device();
                  Tensor gx = Tensor::empty(x.shape(), DType::f32, dev);
                  Tensor dgain = Tensor::zeros({c}, DType::f32, dev), dbias = Tensor::zeros({c}, DType::f32, dev);
                  ROAST_KERNEL(dev, channel_norm_backward, x.data<float>(), g.data<float>(), mean.data<float>(),
                               rstd.data<float>(), gain.data<float>(), bias.data<float>(), gx.data<float>(),
                               dgain.data<float>(), dbias.data<float>(), batch, hw, c, batch_stats, relu);
                  if (sink.needs(1)) sink.accumulate(1, reshape(dgain, gain.shape()));
                  if (sink.needs(2)) sink.accumulate(2, reshape(dbias, bias.shape()));
                  if (sink.needs(0)) sink.accumulate(0, gx);
                });
}
}  // namespace

Tensor conv_batch_norm_train(const Tensor& rows, std::int64_t batch, std::int64_t h, std::int64_t w, float eps, bool relu,
                             const Tensor& gain, const Tensor& bias, Tensor* batch_mean, Tensor* batch_var) {
  ROAST_CHECK(batch * h * w > 1, "conv_batch_norm: needs more than one value per channel in training");
  const std::int64_t c = rows.dim() == 2 ? rows.size(1) : 0;
  Tensor mean = Tensor::empty({c}, DType::f32, rows.device()), rstd = Tensor::empty({c}, DType::f32, rows.device());
  Tensor y = conv_batch_norm(rows, batch, h, w, eps, relu, gain, bias, mean, rstd, true);
  write_stats(mean, rstd, eps, batch_mean, batch_var);
  return y;
}

Tensor conv_batch_norm_inference(const Tensor& rows, std::int64_t batch, std::int64_t h, std::int64_t w, float eps,
                                 bool relu, const Tensor& gain, const Tensor& bias, const Tensor& mean,
                                 const Tensor& var) {
  ops::require_f32(var, "conv_batch_norm");
  Tensor rstd = Tensor::empty(var.shape(), DType::f32, var.device());
  ROAST_KERNEL(var.device(), affine, var.data<float>(), rstd.data<float>(), var.numel(), 1.0f, eps);
  ROAST_KERNEL(var.device(), power, rstd.data<float>(), rstd.data<float>(), rstd.numel(), -0.5f);
  return conv_batch_norm(rows, batch, h, w, eps, relu, gain, bias, mean.detach(), rstd, false);
}

Tensor dropout(const Tensor& x, float p, std::uint64_t seed) { return dropout(x, p, seed, nullptr); }

Tensor dropout(const Tensor& x, float p, std::uint64_t salt, const std::uint64_t* step_seed) {
  ROAST_CHECK(p >= 0.0f && p < 1.0f, "dropout: p must be in [0, 1), got ", p);
  if (p == 0.0f) return x;
  ops::require_f32(x, "dropout");
  // Counter-based: element i is kept when hash(seed, i) falls below the threshold, so the
  // mask is the same on every device and needs no host-side generator.
  Tensor mask = Tensor::empty(x.shape(), DType::f32, x.device());
  const kernels::DropoutSeed seed{salt, step_seed};
  ROAST_KERNEL(x.device(), dropout_mask, mask.data<float>(), mask.numel(), seed, kernels::dropout_threshold(p),
               1.0f / (1.0f - p));
  return mul(x, mask);
}

}  // namespace nn
}  // namespace roast
