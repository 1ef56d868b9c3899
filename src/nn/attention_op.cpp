#include "nn/attention_op.h"

#include <cmath>

#include "kernels/backend.h"
#include "kernels/dropout_hash.h"
#include "ops/internal.h"
#include "roast/autograd.h"
#include "roast/nn/functional.h"
#include "roast/ops.h"

namespace roast {
namespace nn {
namespace {
struct Heads {
  std::int64_t batch, heads, T, dh;
};

// Checks q, k, v [B, T, heads * dh] and the mask [B, T]; returns the geometry.
Heads check_inputs(const char* name, const Tensor& q, const Tensor& k, const Tensor& v, std::int64_t heads,
                   const Tensor& key_mask, float dropout_p) {
  ops::require_f32(q, name, "q");
  ops::require_f32(k, name, "k");
  ops::require_f32(v, name, "v");
  ROAST_CHECK(q.dim() == 3 && k.shape() == q.shape() && v.shape() == q.shape(), name,
              ": q, k and v must be [B, T, heads * dh] of one shape, got ", q.describe(), ", ", k.describe(), ", ",
              v.describe());
  ROAST_CHECK(heads > 0 && q.size(2) % heads == 0, name, ": the width ", q.size(2),
              " of q, k and v must be a positive multiple of the number of heads ", heads);
  ops::require_same_device(q, k, name);
  ops::require_same_device(q, v, name);
  ROAST_CHECK(dropout_p >= 0.0f && dropout_p < 1.0f, name, ": dropout must be in [0, 1), got ", dropout_p);
  const Heads h{q.size(0), heads, q.size(1), q.size(2) / heads};
  if (key_mask.defined()) {
    ops::require_f32(key_mask, name, "key mask");
    ops::require_same_device(q, key_mask, name);
    ROAST_CHECK(key_mask.dim() == 2 && key_mask.size(0) == h.batch && key_mask.size(1) == h.T, name, ": key mask ",
                key_mask.describe(), " does not match [B, T] for q ", q.describe());
  }
  return h;
}

// The scale of the scores, 1 / sqrt(dh).
float score_scale(const Heads& h) { return 1.0f / std::sqrt(float(h.dh)); }

// x rounded to bfloat16 (Precision::bf16: the operands of attention's products), a new
// tensor outside the tape: the gradient reaches x as if the rounding were the identity.
Tensor rounded_to_bf16(const Tensor& x) {
  Tensor y = Tensor::empty(x.shape(), DType::f32, x.device());
  ROAST_KERNEL(x.device(), round_to_bf16, x.data<float>(), y.data<float>(), x.numel());
  return y;
}
}  // namespace

Tensor attention_reference(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in, std::int64_t heads,
                           const Tensor& key_mask, float dropout_p, std::uint64_t seed, const Numerics& numerics,
                           const std::uint64_t* step_seed) {
  const Heads h = check_inputs("attention_reference", q_in, k_in, v_in, heads, key_mask, dropout_p);
  // [B, T, H * dh] -> [B * H, T, dh]
  const auto split_heads = [&](const Tensor& y) {
    return reshape(permute(reshape(y, {h.batch, h.T, h.heads, h.dh}), {0, 2, 1, 3}), {h.batch * h.heads, h.T, h.dh});
  };
  const Tensor q = mul_scalar(split_heads(q_in), score_scale(h)), k = split_heads(k_in), v = split_heads(v_in);
  Tensor scores = matmul(q, transpose(k, 1, 2), numerics);  // [B*H, T, T]
  if (key_mask.defined()) {
    // Padded keys' scores become -1e9 (exp underflows); a sequence with every key padded gets
    // -1e9 everywhere: uniform weights, and (through the product with m = 0) no gradient.
    const Tensor m = reshape(key_mask.detach(), {h.batch, 1, 1, h.T});
    const Tensor additive = mul_scalar(add_scalar(m, -1.0f), 1e9f);
    scores = reshape(add(mul(reshape(scores, {h.batch, h.heads, h.T, h.T}), m), additive), {h.batch * h.heads, h.T, h.T});
  }
  Tensor weights = softmax(scores);
  if (dropout_p > 0.0f) weights = dropout(weights, dropout_p, seed, step_seed);
  const Tensor out = matmul(weights, v, numerics);  // [B*H, T, dh]
  return reshape(permute(reshape(out, {h.batch, h.heads, h.T, h.dh}), {0, 2, 1, 3}), {h.batch, h.T, h.heads * h.dh});
}

Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, std::int64_t heads, const Tensor& key_mask,
                 float dropout_p, std::uint64_t salt, const Numerics& numerics, const std::uint64_t* step_seed) {
  const char* name = "attention";
  const Heads h = check_inputs(name, q, k, v, heads, key_mask, dropout_p);
  const Device dev = q.device();
  if (!dev.is_cpu() && h.dh > kCudaAttentionMaxHeadDim)
    return attention_reference(q, k, v, heads, key_mask, dropout_p, salt, numerics, step_seed);
  const float q_scale = score_scale(h);
  const kernels::DropoutSeed seed{salt, step_seed};
  // keep_below = 2^24 keeps every weight (the kernels then draw no hash).
  const std::uint32_t keep_below = dropout_p > 0.0f ? kernels::dropout_threshold(dropout_p) : (1u << 24);
  const float scale = dropout_p > 0.0f ? 1.0f / (1.0f - dropout_p) : 1.0f;
  Tensor out = Tensor::empty(q.shape(), DType::f32, dev);  // [B, T, H * dh], like q
  Tensor lse = Tensor::empty({h.batch * h.heads, h.T}, DType::f32, dev);
  const Tensor mask = key_mask.defined() ? key_mask.detach() : Tensor();
  const float* mask_data = mask.defined() ? mask.data<float>() : nullptr;
  // bf16: the fused kernels (fp32 FMA) read q, k and v rounded to bfloat16, so that q k^T and
  // P v are products of bf16 operands accumulated in fp32 (q_scale applied in fp32 in the
  // kernel, after the rounding); the backward recomputes from the same rounded values and hands
  // its gradients to the unrounded inputs.
  const bool bf16 = numerics.precision == Precision::bf16;
  const Tensor qo = bf16 ? rounded_to_bf16(q) : q.detach(), ko = bf16 ? rounded_to_bf16(k) : k.detach(),
               vo = bf16 ? rounded_to_bf16(v) : v.detach();
  ROAST_KERNEL(dev, attention_forward, qo.data<float>(), ko.data<float>(), vo.data<float>(), mask_data,
               out.data<float>(), lse.data<float>(), h.batch, h.heads, h.T, h.dh, q_scale, keep_below, scale, seed);
  return record(name, out, {q, k, v},
                [q = qo, k = ko, v = vo, mask, out_saved = out.detach(), lse, h, q_scale, keep_below,
                 scale, seed](const Tensor& g, GradSink& sink) {
                  if (!sink.needs(0) && !sink.needs(1) && !sink.needs(2)) return;
                  const Device dev = q.device();
                  Tensor gq = Tensor::empty(q.shape(), DType::f32, dev);
                  Tensor gk = Tensor::empty(q.shape(), DType::f32, dev);
                  Tensor gv = Tensor::empty(q.shape(), DType::f32, dev);
                  ROAST_KERNEL(dev, attention_backward, q.data<float>(), k.data<float>(), v.data<float>(),
                               mask.defined() ? mask.data<float>() : nullptr, out_saved.data<float>(),
                               lse.data<float>(), g.data<float>(), gq.data<float>(), gk.data<float>(),
                               gv.data<float>(), h.batch, h.heads, h.T, h.dh, q_scale, keep_below, scale, seed);
                  if (sink.needs(0)) sink.accumulate(0, gq);
                  if (sink.needs(1)) sink.accumulate(1, gk);
                  if (sink.needs(2)) sink.accumulate(2, gv);
                });
}

}  // namespace nn
}  // namespace roast
