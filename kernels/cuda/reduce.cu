// Reductions, softmax and cross-entropy. Row ops run one block per row; sums that the CPU
// takes in double are taken in double here too. Every reduction has a fixed order
// (per-thread strided partials, then a fixed tree): deterministic.
#include <cmath>

#include "kernels/backend.h"
#include "kernels/cuda/ops_common.cuh"

namespace roast {
namespace kernels {
namespace cuda {

namespace {
// inner == 1: one block per output (a contiguous run of n values).
__global__ void reduce_rows_kernel(const float* x, float* y, i64 n, float scale) {
  const float* xr = x + i64(blockIdx.x) * n;
  float total = 0.0f;
  for (i64 j = threadIdx.x; j < n; j += blockDim.x) total += xr[j];
  total = block_sum(total);
  if (threadIdx.x == 0) y[blockIdx.x] = total * scale;
}

// inner > 1: one thread per output (o, i), summing its column in order (coalesced over i).
__global__ void reduce_columns_kernel(const float* x, float* y, i64 outer, i64 n, i64 inner, float scale) {
  for (i64 t = global_index(); t < outer * inner; t += grid_stride()) {
    const i64 o = t / inner, i = t % inner;
    const float* col = x + o * n * inner + i;
    float total = 0.0f;
    for (i64 j = 0; j < n; ++j) total += col[j * inner];
    y[t] = total * scale;
  }
}

__global__ void reduce_sum_backward_kernel(const float* gy, float* gx, i64 outer, i64 n, i64 inner, float scale) {
  for (i64 t = global_index(); t < outer * n * inner; t += grid_stride()) {
    const i64 o = t / (n * inner), i = t % inner;
    gx[t] = gy[o * inner + i] * scale;
  }
}

// One block per row.
__global__ void softmax_rows_kernel(const float* x, float* y, i64 n, bool log) {
  const float* xr = x + i64(blockIdx.x) * n;
  float* yr = y + i64(blockIdx.x) * n;
  float mx = -INFINITY;
  for (i64 j = threadIdx.x; j < n; j += blockDim.x) mx = fmaxf(mx, xr[j]);
  mx = block_max(mx);
  double total = 0.0;
  for (i64 j = threadIdx.x; j < n; j += blockDim.x) total += exp(double(xr[j] - mx));
  total = block_sum(total);
  if (log) {
    const float lse = float(::log(total));
    for (i64 j = threadIdx.x; j < n; j += blockDim.x) yr[j] = xr[j] - mx - lse;
  } else {
    const float inv = float(1.0 / total);
    for (i64 j = threadIdx.x; j < n; j += blockDim.x) yr[j] = expf(xr[j] - mx) * inv;
  }
}

__global__ void softmax_rows_backward_kernel(const float* y, const float* gy, float* gx, i64 n, bool log) {
  const i64 at = i64(blockIdx.x) * n;
  const float *yr = y + at, *gr = gy + at;
  float* out = gx + at;
  double dot = 0.0;
  if (log) {  // y = log p: gx = gy - p * sum(gy)
    for (i64 j = threadIdx.x; j < n; j += blockDim.x) dot += gr[j];
    dot = block_sum(dot);
    for (i64 j = threadIdx.x; j < n; j += blockDim.x) out[j] = gr[j] - expf(yr[j]) * float(dot);
  } else {  // gx = p * (gy - <gy, p>)
    for (i64 j = threadIdx.x; j < n; j += blockDim.x) dot += double(gr[j]) * yr[j];
    dot = block_sum(dot);
    for (i64 j = threadIdx.x; j < n; j += blockDim.x) out[j] = yr[j] * (gr[j] - float(dot));
  }
}

// One block per row: probs and the row's loss (double). A label outside [0, n) records
// the row in *bad (when bad is not null) and gives the row a loss of 0. With correct, also
// whether the row's first largest logit is the label's (1.0 or 0.0).
__global__ void cross_entropy_rows_kernel(const float* logits, const void* labels, int label_bytes, i64 n,
                                          float smoothing, float* probs, double* per_row, unsigned long long* bad,
                                          double* correct) {
  const i64 r = blockIdx.x;
  const i64 y = id_at(labels, label_bytes, r);
  if (y < 0 || y >= n) {  // uniform over the block: no thread reaches a barrier below
    if (threadIdx.x == 0) {
      if (bad != nullptr) record_first(bad, r);
      per_row[r] = 0.0;
      if (correct != nullptr) correct[r] = 0.0;
    }
    return;
  }
  const float* xr = logits + r * n;
  float* pr = probs + r * n;
  float mx = -INFINITY;
  for (i64 j = threadIdx.x; j < n; j += blockDim.x) mx = fmaxf(mx, xr[j]);
  mx = block_max(mx);
  if (correct != nullptr) {  // the first index holding the maximum (min is order-free: deterministic)
    __shared__ unsigned long long first;
    if (threadIdx.x == 0) first = ~0ull;
    __syncthreads();
    for (i64 j = threadIdx.x; j < n; j += blockDim.x)
      if (xr[j] == mx) {
        atomicMin(&first, static_cast<unsigned long long>(j));
        break;
      }
    __syncthreads();
    if (threadIdx.x == 0) correct[r] = first == static_cast<unsigned long long>(y) ? 1.0 : 0.0;
  }
  double total = 0.0, sum_logits = 0.0;
  for (i64 j = threadIdx.x; j < n; j += blockDim.x) {
    total += exp(double(xr[j] - mx));
    sum_logits += double(xr[j] - mx);
  }
  total = block_sum(total);
  sum_logits = block_sum(sum_logits);
  const double lse = ::log(total);
  for (i64 j = threadIdx.x; j < n; j += blockDim.x) pr[j] = float(exp(double(xr[j] - mx) - lse));
  if (threadIdx.x == 0) {
    const double nll = -(double(xr[y] - mx) - lse);
    const double uniform = -(sum_logits / double(n) - lse);  // -mean_c log p_c
    per_row[r] = (1.0 - smoothing) * nll + smoothing * uniform;
  }
}

// One block: out[0] = mean of per_row (fixed order).
__global__ void mean_kernel(const double* per_row, i64 rows, double* out) {
  double total = 0.0;
  for (i64 r = threadIdx.x; r < rows; r += blockDim.x) total += per_row[r];
  total = block_sum(total);
  if (threadIdx.x == 0) out[0] = total / double(rows);
}

__global__ void cross_entropy_backward_kernel(const float* probs, const void* labels, int label_bytes, i64 rows,
                                              i64 n, float smoothing, const float* grad_loss, float* glogits) {
  const float scale = grad_loss[0] / float(rows);
  const float off = smoothing / float(n);
  for (i64 t = global_index(); t < rows * n; t += grid_stride()) {
    float v = (probs[t] - off) * scale;
    if (t % n == id_at(labels, label_bytes, t / n)) v -= (1.0f - smoothing) * scale;
    glogits[t] = v;
  }
}

__global__ void init_first_kernel(unsigned long long* first) { *first = ~0ull; }

// One block: the step's loss without a host round trip. loss[0] = float(mean of per_row) (the
// rounding of the host path);
// metrics[0] += loss[0], metrics[1] += the correct rows (sums in a fixed order).
__global__ void loss_to_device_kernel(const double* per_row, const double* correct, i64 rows, float* loss,
                                      double* metrics) {
  double total = 0.0, n_correct = 0.0;
  for (i64 r = threadIdx.x; r < rows; r += blockDim.x) {
    total += per_row[r];
    if (metrics != nullptr) n_correct += correct[r];
  }
  total = block_sum(total);
  n_correct = block_sum(n_correct);
  if (threadIdx.x == 0) {
    const float value = float(total / double(rows));
    loss[0] = value;
    if (metrics != nullptr) {
      metrics[0] += double(value);
      metrics[1] += n_correct;
    }
  }
}
}  // namespace

void reduce_sum(const float* x, float* y, i64 outer, i64 n, i64 inner, float scale) {
  if (outer * inner == 0) return;
  if (inner == 1) {
    reduce_rows_kernel<<<unsigned(outer), kThreads, 0, stream()>>>(x, y, n, scale);
  } else {
    reduce_columns_kernel<<<blocks_for(outer * inner), kThreads, 0, stream()>>>(x, y, outer, n, inner, scale);
  }
  check_launch("reduce_sum");
}

void reduce_sum_backward(const float* gy, float* gx, i64 outer, i64 n, i64 inner, float scale) {
  const i64 total = outer * n * inner;
  if (total == 0) return;
  reduce_sum_backward_kernel<<<blocks_for(total), kThreads, 0, stream()>>>(gy, gx, outer, n, inner, scale);
  check_launch("reduce_sum_backward");
}

void softmax_rows(const float* x, float* y, i64 rows, i64 n, bool log) {
  if (rows == 0 || n == 0) return;
  softmax_rows_kernel<<<unsigned(rows), kThreads, 0, stream()>>>(x, y, n, log);
  check_launch("softmax_rows");
}

void softmax_rows_backward(const float* y, const float* gy, float* gx, i64 rows, i64 n, bool log) {
  if (rows == 0 || n == 0) return;
  softmax_rows_backward_kernel<<<unsigned(rows), kThreads, 0, stream()>>>(y, gy, gx, n, log);
  check_launch("softmax_rows_backward");
}

double cross_entropy(const float* logits, const void* labels, int label_bytes, i64 rows, i64 n, float smoothing,
                     float* probs, i64* bad_row) {
  *bad_row = -1;
  if (rows == 0) return 0.0;
  // result: the mean loss (double) then the first bad row (unsigned long long), one copy back.
  DeviceBuffer per_row(std::size_t(rows) * sizeof(double)), result(2 * sizeof(double));
  double* loss = result.as<double>();
  unsigned long long* bad = reinterpret_cast<unsigned long long*>(loss + 1);
  init_first_kernel<<<1, 1, 0, stream()>>>(bad);
  check_launch("cross_entropy");
  cross_entropy_rows_kernel<<<unsigned(rows), kThreads, 0, stream()>>>(logits, labels, label_bytes, n, smoothing,
                                                                      probs, per_row.as<double>(), bad, nullptr);
  check_launch("cross_entropy");
  mean_kernel<<<1, kThreads, 0, stream()>>>(per_row.as<double>(), rows, loss);
  check_launch("cross_entropy");
  struct {
    double loss;
    unsigned long long bad;
  } host;
  static_assert(sizeof(host) == 2 * sizeof(double), "packed result");
  check(cudaMemcpyAsync(&host, loss, sizeof(host), cudaMemcpyDeviceToHost, stream()), "cross_entropy: copy back");
  check(cudaStreamSynchronize(stream()), "cross_entropy: synchronise");
  if (host.bad != ~0ull) {
    *bad_row = i64(host.bad);
    return 0.0;
  }
  return host.loss;
}

void cross_entropy_to_device(const float* logits, const void* labels, int label_bytes, i64 rows, i64 n,
                             float smoothing, float* probs, float* loss, double* metrics) {
  if (rows == 0) return;
  // per_row: each row's loss, then (with metrics) each row's correctness.
  const DeviceBuffer per_row(std::size_t(rows) * (metrics != nullptr ? 2 : 1) * sizeof(double));
  double* correct = metrics != nullptr ? per_row.as<double>() + rows : nullptr;
  cross_entropy_rows_kernel<<<unsigned(rows), kThreads, 0, stream()>>>(logits, labels, label_bytes, n, smoothing,
                                                                      probs, per_row.as<double>(), nullptr, correct);
  check_launch("cross_entropy_to_device");
  loss_to_device_kernel<<<1, kThreads, 0, stream()>>>(per_row.as<double>(), correct, rows, loss, metrics);
  check_launch("cross_entropy_to_device");
}

void cross_entropy_backward(const float* probs, const void* labels, int label_bytes, i64 rows, i64 n,
                            float smoothing, const float* grad_loss, float* glogits) {
  if (rows * n == 0) return;
  cross_entropy_backward_kernel<<<blocks_for(rows * n), kThreads, 0, stream()>>>(probs, labels, label_bytes, rows, n,
                                                                                 smoothing, grad_loss, glogits);
  check_launch("cross_entropy_backward");
}

}  // namespace cuda
}  // namespace kernels
}  // namespace roast
