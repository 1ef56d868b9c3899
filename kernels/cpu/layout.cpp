#include <cstring>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "kernels/backend.h"

namespace roast {
namespace kernels {
namespace cpu {
namespace {
constexpr i64 kLayoutParallelMin = 1 << 14;
i64 id_at(const void* ids, int bytes, i64 i) {
  return bytes == 8 ? i64(static_cast<const std::int64_t*>(ids)[i]) : i64(static_cast<const std::int32_t*>(ids)[i]);
}
}  // namespace

void permute(const float* x, float* y, int rank, const i64* x_shape, const int* perm) {
  i64 x_stride[kMaxRank], y_shape[kMaxRank], src_stride[kMaxRank];
  i64 n = 1;
  for (int d = rank - 1; d >= 0; --d) {
    x_stride[d] = n;
    n *= x_shape[d];
  }
  for (int d = 0; d < rank; ++d) {
    y_shape[d] = x_shape[perm[d]];
    src_stride[d] = x_stride[perm[d]];
  }
  const i64 inner = rank ? y_shape[rank - 1] : 1;
  const i64 inner_stride = rank ? src_stride[rank - 1] : 1;
  const i64 rows = inner ? n / inner : 0;
#pragma omp parallel for schedule(static) if (n >= kLayoutParallelMin)
  for (i64 row = 0; row < rows; ++row) {
    i64 rest = row, src = 0;
    for (int d = rank - 2; d >= 0; --d) {
      src += (rest % y_shape[d]) * src_stride[d];
      rest /= y_shape[d];
    }
    float* out = y + row * inner;
    for (i64 j = 0; j < inner; ++j) out[j] = x[src + j * inner_stride];
  }
}

void slice_copy(const float* x, float* y, i64 outer, i64 n_src, i64 inner, i64 start, i64 n_dst) {
#pragma omp parallel for schedule(static) if (outer * n_dst * inner >= kLayoutParallelMin)
  for (i64 o = 0; o < outer; ++o)
    std::memcpy(y + o * n_dst * inner, x + (o * n_src + start) * inner, std::size_t(n_dst * inner) * sizeof(float));
}

void slice_scatter_add(const float* gy, float* gx, i64 outer, i64 n_src, i64 inner, i64 start, i64 n_dst) {
#pragma omp parallel for schedule(static) if (outer * n_dst * inner >= kLayoutParallelMin)
  for (i64 o = 0; o < outer; ++o) {
    float* dst = gx + (o * n_src + start) * inner;
    const float* src = gy + o * n_dst * inner;
    for (i64 i = 0; i < n_dst * inner; ++i) dst[i] += src[i];
  }
}

i64 gather_rows(const float* table, i64 rows, i64 d, const void* ids, int id_bytes, i64 n_ids, float* y) {
  for (i64 i = 0; i < n_ids; ++i) {
    const i64 r = id_at(ids, id_bytes, i);
    if (r < 0 || r >= rows) return i;
  }
#pragma omp parallel for schedule(static) if (n_ids * d >= kLayoutParallelMin)
  for (i64 i = 0; i < n_ids; ++i)
    std::memcpy(y + i * d, table + id_at(ids, id_bytes, i) * d, std::size_t(d) * sizeof(float));
  return -1;
}

void scatter_add_rows(const float* gy, i64 d, const void* ids, int id_bytes, i64 n_ids, float* gtable, bool) {
  // Each thread owns the table rows r with r % n_threads == its id, and walks ids in order:
  // no races, and the sum order per row is fixed (deterministic for any thread count).
#pragma omp parallel if (n_ids * d >= kLayoutParallelMin)
  {
#ifdef _OPENMP
    const int tid = omp_get_thread_num();
    const int nt = omp_get_num_threads();
#else
    const int tid = 0, nt = 1;
#endif
    for (i64 i = 0; i < n_ids; ++i) {
      const i64 r = id_at(ids, id_bytes, i);
      if (r % nt != tid) continue;
      float* dst = gtable + r * d;
      const float* src = gy + i * d;
      for (i64 j = 0; j < d; ++j) dst[j] += src[j];
    }
  }
}

}  // namespace cpu
}  // namespace kernels
}  // namespace roast
