// Differentiable building blocks of layers (no parameters here: layers add those).
// Shapes: images are [B, C, H, W]; sequences [B, T, D]. Errors name the op and shapes.
#pragma once

#include "roast/tensor.h"

namespace roast {
namespace nn {

// x [B, C, H, W] -> columns [B * OH * OW, C * kh * kw] (zero padding; order c, i, j):
// the left operand of a convolution as a GEMM.
Tensor im2col(const Tensor& x, std::int64_t kernel_h, std::int64_t kernel_w, std::int64_t stride, std::int64_t padding);

// Pooling over kernel x kernel windows with the given stride (no padding).
Tensor max_pool2d(const Tensor& x, std::int64_t kernel, std::int64_t stride);
Tensor avg_pool2d(const Tensor& x, std::int64_t kernel, std::int64_t stride);
Tensor global_avg_pool2d(const Tensor& x);  // [B, C, H, W] -> [B, C]

// (x - mean) / sqrt(var + eps) over the last axis (layer norm without gain and bias).
Tensor layer_norm(const Tensor& x, float eps);
// Per-channel normalisation over batch and space for x [B, C, H, W] or [B, C] (batch norm in
// training mode, without gain and bias). Writes the batch mean and biased variance ([C]).
Tensor batch_norm_train(const Tensor& x, float eps, Tensor* batch_mean, Tensor* batch_var);

// The same with a gain and bias ([n] for layer norm, [C] for batch norm) fused in:
// y = xhat * gain + bias in one op. Layer norm runs as one kernel each way
// (layer_norm_forward / _backward: statistics, normalisation and affine in one pass; the
// gain and bias gradients summed over rows in a fixed order).
Tensor layer_norm(const Tensor& x, float eps, const Tensor& gain, const Tensor& bias);
Tensor batch_norm_train(const Tensor& x, float eps, Tensor* batch_mean, Tensor* batch_var, const Tensor& gain,
                        const Tensor& bias);

// gelu(x + bias) for x [..., n] and bias [n] (GELU's tanh form, as roast::gelu), one op and one
// kernel each way (bias_gelu_forward / _backward): a Linear's bias folded into its activation.
Tensor bias_gelu(const Tensor& x, const Tensor& bias);

// Batch norm (and an optional ReLU) of a convolution computed as a GEMM, in one op: rows
// [B * H * W, C] (the GEMM's output, channels last) -> y [B, C, H, W], the layout change folded
// into the normalisation (no separate permute, affine or ReLU pass; kernels channel_norm_*).
// Training form: batch statistics, written to batch_mean / batch_var (biased) as
// batch_norm_train does. Inference form: the given mean and var ([C]).
Tensor conv_batch_norm_train(const Tensor& rows, std::int64_t batch, std::int64_t h, std::int64_t w, float eps, bool relu,
                             const Tensor& gain, const Tensor& bias, Tensor* batch_mean, Tensor* batch_var);
Tensor conv_batch_norm_inference(const Tensor& rows, std::int64_t batch, std::int64_t h, std::int64_t w, float eps,
                                 bool relu, const Tensor& gain, const Tensor& bias, const Tensor& mean,
                                 const Tensor& var);

// Inverted dropout: zeroes each element with probability p, scales the rest by 1 / (1 - p).
// The mask is a pure function of seed. p = 0 returns x.
Tensor dropout(const Tensor& x, float p, std::uint64_t seed);
// The same with the seed derived on x's device from a per-call salt and the step's seed word
// (step_seed: a pointer on x's device, or null for seed = salt; kernels/dropout_hash.h).
Tensor dropout(const Tensor& x, float p, std::uint64_t salt, const std::uint64_t* step_seed);

}  // namespace nn
}  // namespace roast
