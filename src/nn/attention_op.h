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

// Multi-head self-attention on the projections as they come: q, k, v [B, T, D] with D =
// heads * dh (head h of token t is the slice [h * dh, (h + 1) * dh) of its row) -> out
// [B, T, D] in the same layout (the heads merged). Per head, out = dropout(softmax(q k^T /
// sqrt(dh) + mask)) v; the 1 / sqrt(dh) is applied inside (q is unscaled). key_mask: f32
// [B, T], 1 for a key to attend to, 0 for padding, or undefined (every key). A query whose
// keys are all padded attends uniformly over all T keys (weights 1 / T, dropout as usual) and
// passes no gradient to q or k. Dropout with probability dropout_p on the weights of head bh
// = b * heads + h: weight (bh, i, j) is kept iff kernels::dropout_bits(seed, (bh * T + i) * T
// + j) is below dropout_threshold(p), and scaled by 1 / (1 - p): exactly the mask
// nn::dropout(weights, p, seed) draws for the [B * heads, T, T] weights. dropout_p = 0 draws
// nothing.
//
// One fused op (kernels attention_forward / attention_backward): the kernels read the heads
// in place (no split or merge copies), online softmax over key blocks, the T x T matrix never
// stored; the backward recomputes the weights from the saved row log-sum-exp. Gradients for
// q, k, v (none for the mask). Under Precision::bf16 the kernels read q, k and v rounded to
// bfloat16 (the scale applied in fp32 after the rounding) and the gradients reach the
// unrounded inputs. numerics otherwise only matters for the fallback (CUDA, dh >
// kCudaAttentionMaxHeadDim), whose products are matmul's.
//
// Under a training step's seed word (nn::Context::step_seed, a pointer on q's device), `seed`
// is the call's salt and the mask's seed is kernels::dropout_seed(seed, step_seed), derived
// on the device (a captured step replays the same arguments and still draws a new mask).
Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, std::int64_t heads, const Tensor& key_mask,
                 float dropout_p, std::uint64_t seed, const Numerics& numerics,
                 const std::uint64_t* step_seed = nullptr);

// The same function composed of ops: the heads split to [B * heads, T, dh] (reshape, permute),
// q times 1 / sqrt(dh), batched matmul, the mask as scores * m + (m - 1) * 1e9, softmax,
// nn::dropout, matmul, the heads merged back to [B, T, D]; it holds the [B * heads, T, T]
// scores, weights and dropout mask. The reference the tests compare attention() with, and its
// fallback for head dims the CUDA kernels do not serve. Padded keys get weight ~3e-39 here
// (the softmax's exp of -1e9), 0 in the fused kernels.
Tensor attention_reference(const Tensor& q, const Tensor& k, const Tensor& v, std::int64_t heads,
                           const Tensor& key_mask, float dropout_p, std::uint64_t seed, const Numerics& numerics,
                           const std::uint64_t* step_seed = nullptr);

}  // namespace nn
}  // namespace roast
