// Scaled-dot-product self-attention as one op (engine code), and its unfused reference.
#pragma once

#include <cstdint>

#include "roast/backend.h"
#include "roast/tensor.h"

namespace roast {
namespace nn {

// The largest head dim the CUDA kernels serve; attention() runs attention_reference on CUDA
// beyond it (the CPU kernels serve every head dim).
constexpr std::int64_t kCudaAttentionMaxHeadDim = 128;

// out = dropout(softmax(q k^T + mask)) v per head, for q, k, v [B * H, T, dh] (q already
// scaled by 1 / sqrt(dh)) -> [B * H, T, dh]. key_mask: f32 [B, T], 1 for a key to attend to, 0
// for padding, or undefined (every key); B = key_mask.size(0) and H = (B * H) / B. A query
// whose keys are all padded attends uniformly over all T keys (weights 1 / T, dropout as
// usual) and passes no gradient to q or k. Dropout with probability dropout_p on the weights:
// weight (bh, i, j) is kept iff kernels::dropout_bits(seed, (bh * T + i) * T + j) is below
// dropout_threshold(p), and scaled by 1 / (1 - p): exactly the mask nn::dropout(weights, p,
// seed) draws for the [B * H, T, T] weights. dropout_p = 0 draws nothing.
//
// One fused op (kernels attention_forward / attention_backward): online softmax over key
// blocks, the T x T matrix never stored; the backward recomputes the weights from the saved
// row log-sum-exp. Gradients for q, k, v (none for the mask). numerics only matters for the
// fallback (CUDA, dh > kCudaAttentionMaxHeadDim), whose products are matmul's.
//
// Under a training step's seed word (nn::Context::step_seed, a pointer on q's device), `seed`
// is the call's salt and the mask's seed is kernels::dropout_seed(seed, step_seed), derived
// on the device (a captured step replays the same arguments and still draws a new mask).
Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_mask, float dropout_p,
                 std::uint64_t seed, const Numerics& numerics, const std::uint64_t* step_seed = nullptr);

// The same function composed of ops (batched matmul, the mask as scores * m + (m - 1) * 1e9,
// softmax, nn::dropout, matmul), holding the [B * H, T, T] scores, weights and dropout mask:
// the reference the tests compare attention() with, and its fallback for head dims the CUDA
// kernels do not serve. Padded keys get weight ~3e-39 here (the softmax's exp of -1e9), 0 in
// the fused kernels.
Tensor attention_reference(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_mask, float dropout_p,
                           std::uint64_t seed, const Numerics& numerics, const std::uint64_t* step_seed = nullptr);

}  // namespace nn
}  // namespace roast
