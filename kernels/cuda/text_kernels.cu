// Text-model kernels on the GPU: one thread per output element.
#include "kernels/cuda/common.cuh"
#include "kernels/backend.h"
#include "roast/hash.h"

namespace roast {
namespace kernels {
namespace cuda {
namespace {
__global__ void bigram_ids_kernel(const std::int32_t* ids, const float* mask, std::int32_t* out_ids, float* out_mask,
                                  i64 batch, i64 length, i64 vocab_size, i64 buckets) {
  const i64 n = batch * (length - 1);
  for (i64 o = i64(blockIdx.x) * blockDim.x + threadIdx.x; o < n; o += i64(gridDim.x) * blockDim.x) {
    const i64 i = o / (length - 1), j = o % (length - 1);
    const i64 at = i * length + j;
    const std::uint64_t h = hash::hash3(0xB16Aull, std::uint64_t(ids[at]), std::uint64_t(ids[at + 1]), 0);
    out_ids[o] = std::int32_t(vocab_size + i64(h % std::uint64_t(buckets)));
    out_mask[o] = mask[at] * mask[at + 1];
  }
}
}  // namespace

void bigram_ids(const std::int32_t* ids, const float* mask, std::int32_t* out_ids, float* out_mask, i64 batch,
                i64 length, i64 vocab_size, i64 buckets) {
  const i64 n = batch * (length - 1);
  if (n <= 0) return;
  bigram_ids_kernel<<<blocks_for(n), 256, 0, stream()>>>(ids, mask, out_ids, out_mask, batch, length, vocab_size,
                                                          buckets);
  check_launch("bigram_ids");
}

}  // namespace cuda
}  // namespace kernels
}  // namespace roast
