// CUDA kernels of the text models: kernels/cpu/text_kernels.h for device pointers (same
// signatures and contracts, run on the engine's stream). Plain C++ header.
#pragma once

#include <cstdint>

namespace roast {
namespace kernels {
namespace cuda {

void bigram_ids(const std::int32_t* ids, const float* mask, std::int32_t* out_ids, float* out_mask,
                std::int64_t batch, std::int64_t length, std::int64_t vocab_size, std::int64_t buckets);

}  // namespace cuda
}  // namespace kernels
}  // namespace roast
