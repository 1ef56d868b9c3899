// Layout kernels: permute, slice, gather / scatter of rows; and the deterministic
// sorted scatter-add shared with the embedding kernels.
#include <cub/device/device_radix_sort.cuh>

#include <climits>

#include "kernels/backend.h"
#include "kernels/cuda/ops_common.cuh"
#include "roast/backend.h"
#include "roast/error.h"

namespace roast {
namespace kernels {
namespace cuda {

namespace {
struct PermuteGeometry {
  int rank = 0;
  i64 y_shape[kMaxRank] = {};
  i64 src_stride[kMaxRank] = {};  // stride in x of y's dim d
};

// One thread per element of y: its multi-index over y_shape gives the offset in x.
__global__ void permute_kernel(const float* x, float* y, PermuteGeometry p, i64 n) {
  for (i64 t = global_index(); t < n; t += grid_stride()) {
    i64 rest = t, src = 0;
    for (int d = p.rank - 1; d >= 0; --d) {
      src += (rest % p.y_shape[d]) * p.src_stride[d];
      rest /= p.y_shape[d];
    }
    y[t] = x[src];
  }
}

// y [outer, n_dst, inner] <- x [outer, n_src, inner] rows [start, start + n_dst) (one thread
// per element of y); `add` adds y into x instead (each x element has one source: no race).
__global__ void slice_kernel(const float* src, float* dst, i64 outer, i64 n_src, i64 inner, i64 start, i64 n_dst,
                             bool scatter) {
  const i64 block = n_dst * inner;
  for (i64 t = global_index(); t < outer * block; t += grid_stride()) {
    const i64 o = t / block, rest = t % block;
    const i64 big = (o * n_src + start) * inner + rest;
    if (scatter) dst[big] += src[t];
    else dst[t] = src[big];
  }
}

// y[i, :] = table[ids[i], :]; a bad id is recorded (first position) and its row left unwritten.
// One thread per element of y (per id when d == 0, to check the ids all the same).
__global__ void gather_rows_kernel(const float* table, i64 rows, i64 d, const void* ids, int id_bytes, i64 n_ids,
                                   float* y, unsigned long long* bad) {
  const i64 width = d > 0 ? d : 1;
  for (i64 t = global_index(); t < n_ids * width; t += grid_stride()) {
    const i64 i = t / width, r = id_at(ids, id_bytes, i);
    if (r < 0 || r >= rows) {
      if (t % width == 0) record_first(bad, i);
      continue;
    }
    if (d > 0) y[t] = table[r * d + t % d];
  }
}

__global__ void scatter_rows_atomic_kernel(const float* gy, i64 d, const void* ids, int id_bytes, i64 n_ids,
                                           float* gtable) {
  for (i64 t = global_index(); t < n_ids * d; t += grid_stride())
    atomicAdd(gtable + id_at(ids, id_bytes, t / d) * d + t % d, gy[t]);
}

// keys[t] = ids[t / d] * d + t % d: the table cell that gy[t] adds into.
__global__ void scatter_rows_keys_kernel(i64 d, const void* ids, int id_bytes, i64 n_ids, i64* keys) {
  for (i64 t = global_index(); t < n_ids * d; t += grid_stride()) keys[t] = id_at(ids, id_bytes, t / d) * d + t % d;
}

__global__ void iota_kernel(std::int32_t* v, i64 n) {
  for (i64 t = global_index(); t < n; t += grid_stride()) v[t] = std::int32_t(t);
}

// One thread per run of equal sorted keys (started where the key changes): adds the run's
// values in ascending original index (stable sort) into out[key].
__global__ void segment_add_kernel(const unsigned long long* keys, const std::int32_t* order, const float* values, i64 n,
                                   float* out) {
  for (i64 t = global_index(); t < n; t += grid_stride()) {
    const unsigned long long key = keys[t];
    if (t > 0 && keys[t - 1] == key) continue;
    float acc = out[key];
    for (i64 u = t; u < n && keys[u] == key; ++u) acc += values[order[u]];
    out[key] = acc;
  }
}
}  // namespace

i64 fetch_first(const unsigned long long* first) {
  // A captured training step's ids were checked on the host when its batch was formed
  // (check_class_ids); a read-back cannot be replayed.
  if (capturing()) return -1;
  unsigned long long host = 0;
  check(cudaMemcpyAsync(&host, first, sizeof(host), cudaMemcpyDeviceToHost, stream()), "copy back");
  check(cudaStreamSynchronize(stream()), "synchronise");
  return host == ~0ull ? -1 : i64(host);
}

void sorted_scatter_add(const i64* keys, const float* values, i64 n, int key_bits, float* out) {
  if (n == 0) return;
  ROAST_CHECK(n <= INT_MAX, "deterministic scatter-add: ", n, " values exceed the 2^31 supported");
  DeviceBuffer order_in(std::size_t(n) * sizeof(std::int32_t)), order_out(std::size_t(n) * sizeof(std::int32_t));
  DeviceBuffer keys_out(std::size_t(n) * sizeof(unsigned long long));
  iota_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(order_in.as<std::int32_t>(), n);
  check_launch("sorted_scatter_add");
  // Radix sort is stable: equal keys keep ascending original index.
  // The keys are >= 0: sorted as unsigned words on their low key_bits bits.
  using Key = unsigned long long;
  const Key* keys_in = reinterpret_cast<const Key*>(keys);
  std::size_t temp_bytes = 0;
  check(cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, keys_in, keys_out.as<Key>(), order_in.as<std::int32_t>(),
                                        order_out.as<std::int32_t>(), int(n), 0, key_bits, stream()),
        "sorted_scatter_add: sort size");
  DeviceBuffer temp(temp_bytes);
  check(cub::DeviceRadixSort::SortPairs(temp.as<void>(), temp_bytes, keys_in, keys_out.as<Key>(),
                                        order_in.as<std::int32_t>(), order_out.as<std::int32_t>(), int(n), 0,
                                        key_bits, stream()),
        "sorted_scatter_add: sort");
  segment_add_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(keys_out.as<unsigned long long>(), order_out.as<std::int32_t>(),
                                                               values, n, out);
  check_launch("sorted_scatter_add");
}

void permute(const float* x, float* y, int rank, const i64* x_shape, const int* perm) {
  PermuteGeometry p;
  p.rank = rank;
  i64 x_stride[kMaxRank];
  i64 n = 1;
  for (int d = rank - 1; d >= 0; --d) {
    x_stride[d] = n;
    n *= x_shape[d];
  }
  for (int d = 0; d < rank; ++d) {
    p.y_shape[d] = x_shape[perm[d]];
    p.src_stride[d] = x_stride[perm[d]];
  }
  if (n == 0) return;
  permute_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(x, y, p, n);
  check_launch("permute");
}

void slice_copy(const float* x, float* y, i64 outer, i64 n_src, i64 inner, i64 start, i64 n_dst) {
  if (outer * n_dst * inner == 0) return;
  slice_kernel<<<blocks_for(outer * n_dst * inner), kThreads, 0, stream()>>>(x, y, outer, n_src, inner, start, n_dst,
                                                                            false);
  check_launch("slice_copy");
}

void slice_scatter_add(const float* gy, float* gx, i64 outer, i64 n_src, i64 inner, i64 start, i64 n_dst) {
  if (outer * n_dst * inner == 0) return;
  slice_kernel<<<blocks_for(outer * n_dst * inner), kThreads, 0, stream()>>>(gy, gx, outer, n_src, inner, start,
                                                                            n_dst, true);
  check_launch("slice_scatter_add");
}

i64 gather_rows(const float* table, i64 rows, i64 d, const void* ids, int id_bytes, i64 n_ids, float* y) {
  if (n_ids == 0) return -1;
  DeviceBuffer bad(sizeof(unsigned long long));
  check(cudaMemsetAsync(bad.as<void>(), 0xff, sizeof(unsigned long long), stream()), "gather_rows");
  gather_rows_kernel<<<blocks_for(n_ids * (d > 0 ? d : 1)), kThreads, 0, stream()>>>(table, rows, d, ids, id_bytes,
                                                                                     n_ids, y,
                                                                                     bad.as<unsigned long long>());
  check_launch("gather_rows");
  return fetch_first(bad.as<unsigned long long>());
}

void scatter_add_rows(const float* gy, i64 d, const void* ids, int id_bytes, i64 n_ids, float* gtable,
                      bool deterministic) {
  const i64 n = n_ids * d;
  if (n == 0) return;
  if (!deterministic) {
    scatter_rows_atomic_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(gy, d, ids, id_bytes, n_ids, gtable);
    check_launch("scatter_add_rows");
    return;
  }
  DeviceBuffer keys(std::size_t(n) * sizeof(i64));
  scatter_rows_keys_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(d, ids, id_bytes, n_ids, keys.as<i64>());
  check_launch("scatter_add_rows");
  sorted_scatter_add(keys.as<i64>(), gy, n, 63, gtable);
}

}  // namespace cuda
}  // namespace kernels
}  // namespace roast
