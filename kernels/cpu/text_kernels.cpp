#include "kernels/backend.h"

#include "roast/hash.h"

namespace roast {
namespace kernels {
namespace cpu {

void bigram_ids(const std::int32_t* ids, const float* mask, std::int32_t* out_ids, float* out_mask,
                std::int64_t batch, std::int64_t length, std::int64_t vocab_size, std::int64_t buckets) {
  for (std::int64_t i = 0; i < batch; ++i)
    for (std::int64_t j = 0; j + 1 < length; ++j) {
      const std::int64_t at = i * length + j, o = i * (length - 1) + j;
      const std::uint64_t h = hash::hash3(0xB16Aull, std::uint64_t(ids[at]), std::uint64_t(ids[at + 1]), 0);
      out_ids[o] = std::int32_t(vocab_size + std::int64_t(h % std::uint64_t(buckets)));
      out_mask[o] = mask[at] * mask[at + 1];
    }
}

}  // namespace cpu
}  // namespace kernels
}  // namespace roast
