// y = gelu(x + bias) and its backward, one pass each (kernel_list.inc). Blocks of rows: the
// bias is added into the output block, and GELU runs over that block in place (still in cache).
#include <vector>

#include "kernels/backend.h"
#include "kernels/cpu/gelu.h"
#include "kernels/cpu/row_blocks.h"

namespace roast {
namespace kernels {
namespace cpu {
namespace {
// out[r, :] = x[r, :] + bias for rows [r0, r1).
void add_bias_rows(const float* x, const float* bias, float* out, i64 r0, i64 r1, i64 n) {
  for (i64 r = r0; r < r1; ++r)
    for (i64 i = 0; i < n; ++i) out[r * n + i] = x[r * n + i] + bias[i];
}
}  // namespace

void bias_gelu_forward(const float* x, const float* bias, float* y, i64 rows, i64 n) {
  for_row_blocks_summing_columns(rows, 0, rows * n, nullptr, [&](i64 r0, i64 r1, float*) {
    add_bias_rows(x, bias, y, r0, r1, n);
    gelu_block(y + r0 * n, y + r0 * n, (r1 - r0) * n);
  });
}

void bias_gelu_backward(const float* x, const float* bias, const float* gy, float* gx, float* dbias, i64 rows,
                        i64 n) {
  if (gx == nullptr && dbias == nullptr) return;
  const i64 width = dbias != nullptr ? n : 0;
  for_row_blocks_summing_columns(rows, width, rows * n, dbias, [&](i64 r0, i64 r1, float* partial) {
    // gz of the block: into gx when wanted, else into a per-thread scratch block.
    thread_local std::vector<float> scratch;
    const i64 m = (r1 - r0) * n;
    float* gz = gx != nullptr ? gx + r0 * n : nullptr;
    if (gz == nullptr) {
      scratch.resize(std::size_t(m));
      gz = scratch.data();
    }
    add_bias_rows(x + r0 * n, bias, gz, 0, r1 - r0, n);
    gelu_grad_block(gz, gy + r0 * n, gz, m);
    if (dbias == nullptr) return;
    for (i64 r = 0; r < r1 - r0; ++r)
      for (i64 i = 0; i < n; ++i) partial[i] += gz[r * n + i];
  });
}

}  // namespace cpu
}  // namespace kernels
}  // namespace roast
