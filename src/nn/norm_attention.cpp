// BatchNorm, LayerNorm, self-attention and the transformer block.
#include <cmath>

#include "nn/attention_op.h"
#include "roast/autograd.h"
#include "roast/nn/functional.h"
#include "roast/nn/module.h"
#include "roast/ops.h"

namespace roast {
namespace nn {
namespace {
// [C] -> a shape that broadcasts over x's channel axis: [C, 1, 1] for images, [C] for [B, C].
Shape channel_shape(const Tensor& x, std::int64_t c) { return x.dim() == 4 ? Shape{c, 1, 1} : Shape{c}; }
}  // namespace

BatchNorm::BatchNorm(std::string name, std::int64_t channels, float momentum, float eps)
    : Module(std::move(name)), channels_(channels), momentum_(momentum), eps_(eps) {
  ROAST_CHECK(channels > 0, "BatchNorm ", this->name(), ": channels must be positive");
  running_mean_ = Tensor::zeros({channels});
  running_var_ = Tensor::full({channels}, 1.0f);
}

void BatchNorm::declare(Planner& planner) {
  gain_ = {planner.vector(child("gain"), channels_, 1.0f), child("gain")};
  bias_ = {planner.vector(child("bias"), channels_, 0.0f), child("bias")};
}

void BatchNorm::buffers(std::vector<std::pair<std::string, Tensor*>>& out) {
  out.emplace_back(child("running_mean"), &running_mean_);
  out.emplace_back(child("running_var"), &running_var_);
}

Tensor BatchNorm::forward(const Tensor& x, Context& ctx) {
  ROAST_CHECK((x.dim() == 4 || x.dim() == 2) && x.size(1) == channels_, "BatchNorm ", name(), ": expects [B, ",
              channels_, ", ...], got ", x.describe());
  place_buffers(ctx.memory->device());
  const Shape cs = channel_shape(x, channels_);
  if (ctx.training) {
    Tensor mean, var;
    const Tensor y = batch_norm_train(x, eps_, &mean, &var, read_exact(*ctx.memory, ctx.mapping(gain_), {channels_}),
                                      read_exact(*ctx.memory, ctx.mapping(bias_), {channels_}));
    // running = (1 - momentum) * running + momentum * batch statistic (variance unbiased),
    // with tensor ops on the buffers' device: no copy to the host.
    update_running(mean, var, x.numel() / channels_);
    return y;
  }
  // 1 / sqrt(var + eps) on the device; the ones are made once per device, not per batch.
  if (!ones_.defined() || ones_.device() != running_var_.device()) ones_ = Tensor::full({channels_}, 1.0f, running_var_.device());
  const Tensor inv_std = div(ones_, sqrt(add_scalar(running_var_.detach(), eps_)));
  const Tensor xhat = mul(sub(x, reshape(running_mean_.detach(), cs)), reshape(inv_std, cs));
  const Tensor gain = read_exact(*ctx.memory, ctx.mapping(gain_), cs);
  const Tensor bias = read_exact(*ctx.memory, ctx.mapping(bias_), cs);
  return add(mul(xhat, gain), bias);
}

void BatchNorm::update_running(const Tensor& mean, const Tensor& var, std::int64_t n_values) {
  NoGradGuard no_grad;
  const double n = double(n_values);
  const float unbias = float(n / std::max(1.0, n - 1.0));
  // Written into the buffers' own storage (a device-to-device copy), never by swapping in new
  // tensors: a captured training step (CUDA graph) reads and writes fixed addresses.
  running_mean_.copy_from(add(mul_scalar(running_mean_, 1 - momentum_), mul_scalar(mean.detach(), momentum_)));
  running_var_.copy_from(
      add(mul_scalar(running_var_, 1 - momentum_), mul_scalar(mul_scalar(var.detach(), momentum_), unbias)));
}

Tensor BatchNorm::forward_conv(const Tensor& rows, std::int64_t batch, std::int64_t h, std::int64_t w, bool relu,
                               Context& ctx) {
  ROAST_CHECK(rows.dim() == 2 && rows.size(1) == channels_ && rows.size(0) == batch * h * w, "BatchNorm ", name(),
              ": expects convolution rows [", batch * h * w, ", ", channels_, "], got ", rows.describe());
  place_buffers(ctx.memory->device());
  const Tensor gain = read_exact(*ctx.memory, ctx.mapping(gain_), {channels_});
  const Tensor bias = read_exact(*ctx.memory, ctx.mapping(bias_), {channels_});
  if (!ctx.training) return conv_batch_norm_inference(rows, batch, h, w, eps_, relu, gain, bias, running_mean_, running_var_);
  Tensor mean, var;
  const Tensor y = conv_batch_norm_train(rows, batch, h, w, eps_, relu, gain, bias, &mean, &var);
  update_running(mean, var, batch * h * w);
  return y;
}

LayerNorm::LayerNorm(std::string name, std::int64_t dim, float eps) : Module(std::move(name)), dim_(dim), eps_(eps) {}

void LayerNorm::declare(Planner& planner) {
  gain_ = {planner.vector(child("gain"), dim_, 1.0f), child("gain")};
  bias_ = {planner.vector(child("bias"), dim_, 0.0f), child("bias")};
}

Tensor LayerNorm::forward(const Tensor& x, Context& ctx) const {
  ROAST_CHECK(x.dim() >= 1 && x.size(-1) == dim_, "LayerNorm ", name(), ": expects [..., ", dim_, "], got ",
              x.describe());
  return layer_norm(x, eps_, read_exact(*ctx.memory, ctx.mapping(gain_), {dim_}),
                    read_exact(*ctx.memory, ctx.mapping(bias_), {dim_}));
}

SelfAttention::SelfAttention(std::string name, std::int64_t dim, std::int64_t heads, float dropout)
    : Module(std::move(name)), dim_(dim), heads_(heads), dropout_(dropout), query_(child("query"), dim, dim),
      key_(child("key"), dim, dim), value_(child("value"), dim, dim), output_(child("output"), dim, dim) {
  ROAST_CHECK(heads > 0 && dim % heads == 0, "SelfAttention ", this->name(), ": width ", dim,
              " must be a multiple of the number of heads ", heads);
}

void SelfAttention::declare(Planner& planner) {
  query_.declare(planner);
  key_.declare(planner);
  value_.declare(planner);
  output_.declare(planner);
}

Tensor SelfAttention::forward(const Tensor& x, Context& ctx) const {
  ROAST_CHECK(x.dim() == 3 && x.size(2) == dim_, "SelfAttention ", name(), ": expects [B, T, ", dim_, "], got ",
              x.describe());
  const std::int64_t b = x.size(0), t = x.size(1);
  // [B, T, D] each; attention reads the heads in place (head h: columns [h * dh, (h + 1) * dh))
  // and applies the 1 / sqrt(dh) itself.
  const Tensor q = query_.forward(x, ctx);
  const Tensor k = key_.forward(x, ctx);
  const Tensor v = value_.forward(x, ctx);
  const Tensor& mask = ctx.key_padding_mask;
  if (mask.defined()) {
    ROAST_CHECK(mask.shape() == Shape({b, t}), "SelfAttention ", name(), ": key padding mask ", mask.describe(),
                " does not match input ", x.describe());
  }
  // One fused op (src/nn/attention_op.h): online softmax over key blocks, the dropout mask
  // drawn inside; the same salt is drawn when nn::dropout(weights, p, ctx) would draw one.
  const float p = ctx.training ? dropout_ : 0.0f;
  const std::uint64_t salt = p > 0.0f ? ctx.next_dropout_salt() : 0;
  const Tensor merged = attention(q, k, v, heads_, mask, p, salt, ctx.numerics, ctx.step_seed);  // [B, T, D]
  return output_.forward(merged, ctx);
}

TransformerBlock::TransformerBlock(std::string name, std::int64_t dim, std::int64_t heads, std::int64_t ffn_dim,
                                   bool pre_norm, float dropout)
    : Module(std::move(name)), pre_norm_(pre_norm), dropout_(dropout), attention_(child("attention"), dim, heads, dropout),
      norm1_(child("norm1"), dim), norm2_(child("norm2"), dim), ffn_in_(child("ffn_in"), dim, ffn_dim),
      ffn_out_(child("ffn_out"), ffn_dim, dim) {}

void TransformerBlock::declare(Planner& planner) {
  attention_.declare(planner);
  norm1_.declare(planner);
  ffn_in_.declare(planner);
  ffn_out_.declare(planner);
  norm2_.declare(planner);
}

Tensor TransformerBlock::forward(const Tensor& x, Context& ctx) const {
  auto ffn = [&](const Tensor& y) { return ffn_out_.forward(ffn_in_.forward_gelu(y, ctx), ctx); };
  if (pre_norm_) {
    const Tensor h = add(x, nn::dropout(attention_.forward(norm1_.forward(x, ctx), ctx), dropout_, ctx));
    return add(h, nn::dropout(ffn(norm2_.forward(h, ctx)), dropout_, ctx));
  }
  const Tensor h = norm1_.forward(add(x, nn::dropout(attention_.forward(x, ctx), dropout_, ctx)), ctx);
  return norm2_.forward(add(h, nn::dropout(ffn(h), dropout_, ctx)), ctx);
}

}  // namespace nn
}  // namespace roast
