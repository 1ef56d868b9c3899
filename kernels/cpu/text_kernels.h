// CPU kernels of the text models (src/nn/models_text.cpp). kernels/cuda/text_kernels.h
// declares the same functions for device pointers.
#pragma once

#include <cstdint>

namespace roast {
namespace kernels {
namespace cpu {

// The bag model's hashed bigrams. ids i32 [batch, length], mask f32 [batch, length] ->
// out_ids i32 [batch, length - 1], out_mask f32 [batch, length - 1]: the pair of adjacent
// tokens (a, b) at (i, j), (i, j + 1) becomes row vocab_size + hash3(0xB16A, a, b, 0) mod
// buckets, masked by mask(i, j) * mask(i, j + 1). Requires length >= 2, buckets > 0.
void bigram_ids(const std::int32_t* ids, const float* mask, std::int32_t* out_ids, float* out_mask,
                std::int64_t batch, std::int64_t length, std::int64_t vocab_size, std::int64_t buckets);

}  // namespace cpu
}  // namespace kernels
}  // namespace roast
