#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/backend.h"

namespace roast {
namespace kernels {
namespace cpu {
namespace {
constexpr i64 kReduceParallelMin = 1 << 14;

template <typename Label>
i64 label_at(const void* labels, i64 i) {
  return i64(static_cast<const Label*>(labels)[i]);
}
i64 label_at(const void* labels, int bytes, i64 i) {
  return bytes == 8 ? label_at<std::int64_t>(labels, i) : label_at<std::int32_t>(labels, i);
}
}  // namespace

void reduce_sum(const float* x, float* y, i64 outer, i64 n, i64 inner, float scale) {
#pragma omp parallel for schedule(static) if (outer * n * inner >= kReduceParallelMin)
  for (i64 o = 0; o < outer; ++o) {
    float* yo = y + o * inner;
    for (i64 i = 0; i < inner; ++i) yo[i] = 0.0f;
    for (i64 j = 0; j < n; ++j) {
      const float* xr = x + (o * n + j) * inner;
      for (i64 i = 0; i < inner; ++i) yo[i] += xr[i];
    }
    for (i64 i = 0; i < inner; ++i) yo[i] *= scale;
  }
}

void reduce_sum_backward(const float* gy, float* gx, i64 outer, i64 n, i64 inner, float scale) {
#pragma omp parallel for schedule(static) if (outer * n * inner >= kReduceParallelMin)
  for (i64 o = 0; o < outer; ++o)
    for (i64 j = 0; j < n; ++j) {
      float* gr = gx + (o * n + j) * inner;
      const float* go = gy + o * inner;
      for (i64 i = 0; i < inner; ++i) gr[i] = go[i] * scale;
    }
}

void softmax_rows(const float* x, float* y, i64 rows, i64 n, bool log) {
  // One vectorised exp per element (Eigen's), summed in double.
#pragma omp parallel for schedule(static) if (rows * n >= kReduceParallelMin)
  for (i64 r = 0; r < rows; ++r) {
    const Eigen::Map<const Eigen::ArrayXf> xr(x + r * n, n);
    Eigen::Map<Eigen::ArrayXf> yr(y + r * n, n);
    const float mx = xr.maxCoeff();
    yr = (xr - mx).exp();
    const double total = yr.cast<double>().sum();
    if (log) {
      yr = (xr - mx) - float(std::log(total));
    } else {
      yr *= float(1.0 / total);
    }
  }
}

void softmax_rows_backward(const float* y, const float* gy, float* gx, i64 rows, i64 n, bool log) {
#pragma omp parallel for schedule(static) if (rows * n >= kReduceParallelMin)
  for (i64 r = 0; r < rows; ++r) {
    const float* yr = y + r * n;
    const float* gr = gy + r * n;
    float* out = gx + r * n;
    double dot = 0.0;
    if (log) {  // y = log p: gx = gy - p * sum(gy)
      for (i64 j = 0; j < n; ++j) dot += gr[j];
      for (i64 j = 0; j < n; ++j) out[j] = gr[j] - std::exp(yr[j]) * float(dot);
    } else {  // gx = p * (gy - <gy, p>)
      for (i64 j = 0; j < n; ++j) dot += double(gr[j]) * yr[j];
      for (i64 j = 0; j < n; ++j) out[j] = yr[j] * (gr[j] - float(dot));
    }
  }
}

namespace {
// probs and each row's loss (labels already checked); with correct, whether the row's first
// largest logit is the label's.
void cross_entropy_rows(const float* logits, const void* labels, int label_bytes, i64 rows, i64 n, float smoothing,
                        float* probs, double* per_row, double* correct) {
#pragma omp parallel for schedule(static) if (rows * n >= kReduceParallelMin)
  for (i64 r = 0; r < rows; ++r) {
    const float* xr = logits + r * n;
    float* pr = probs + r * n;
    const i64 y = label_at(labels, label_bytes, r);
    if (y < 0 || y >= n) {  // only cross_entropy_to_device gets here: the row is skipped
      per_row[r] = 0.0;
      if (correct != nullptr) correct[r] = 0.0;
      continue;
    }
    float mx = -INFINITY;
    i64 best = 0;
    for (i64 j = 0; j < n; ++j) {
      mx = std::max(mx, xr[j]);
      if (xr[j] > xr[best]) best = j;
    }
    double total = 0.0, sum_logits = 0.0;
    for (i64 j = 0; j < n; ++j) {
      total += std::exp(double(xr[j] - mx));
      sum_logits += double(xr[j] - mx);
    }
    const double lse = std::log(total);
    for (i64 j = 0; j < n; ++j) pr[j] = float(std::exp(double(xr[j] - mx) - lse));
    const double nll = -(double(xr[y] - mx) - lse);
    const double uniform = -(sum_logits / double(n) - lse);  // -mean_c log p_c
    per_row[r] = (1.0 - smoothing) * nll + smoothing * uniform;
    if (correct != nullptr) correct[r] = best == y ? 1.0 : 0.0;
  }
}
}  // namespace

double cross_entropy(const float* logits, const void* labels, int label_bytes, i64 rows, i64 n, float smoothing,
                     float* probs, i64* bad_row) {
  *bad_row = -1;
  for (i64 r = 0; r < rows; ++r) {
    const i64 y = label_at(labels, label_bytes, r);
    if (y < 0 || y >= n) {
      *bad_row = r;
      return 0.0;
    }
  }
  std::vector<double> per_row(static_cast<std::size_t>(rows));
  cross_entropy_rows(logits, labels, label_bytes, rows, n, smoothing, probs, per_row.data(), nullptr);
  double loss = 0.0;
  for (double v : per_row) loss += v;  // fixed order: deterministic for any thread count
  return rows ? loss / double(rows) : 0.0;
}

void cross_entropy_to_device(const float* logits, const void* labels, int label_bytes, i64 rows, i64 n,
                             float smoothing, float* probs, float* loss, double* metrics) {
  if (rows == 0) return;
  std::vector<double> per_row(static_cast<std::size_t>(rows) * (metrics != nullptr ? 2 : 1));
  double* correct = metrics != nullptr ? per_row.data() + rows : nullptr;
  cross_entropy_rows(logits, labels, label_bytes, rows, n, smoothing, probs, per_row.data(), correct);
  double total = 0.0, n_correct = 0.0;
  for (i64 r = 0; r < rows; ++r) total += per_row[std::size_t(r)];  // fixed order
  const float value = float(total / double(rows));  // rounded as the host path's loss
  loss[0] = value;
  if (metrics == nullptr) return;
  for (i64 r = 0; r < rows; ++r) n_correct += correct[r];
  metrics[0] += double(value);
  metrics[1] += n_correct;
}

void cross_entropy_backward(const float* probs, const void* labels, int label_bytes, i64 rows, i64 n,
                            float smoothing, const float* grad_loss, float* glogits) {
  const float scale = grad_loss[0] / float(rows);
  const float off = smoothing / float(n);
#pragma omp parallel for schedule(static) if (rows * n >= kReduceParallelMin)
  for (i64 r = 0; r < rows; ++r) {
    const float* pr = probs + r * n;
    float* gr = glogits + r * n;
    for (i64 j = 0; j < n; ++j) gr[j] = (pr[j] - off) * scale;
    gr[label_at(labels, label_bytes, r)] -= (1.0f - smoothing) * scale;
  }
}

}  // namespace cpu
}  // namespace kernels
}  // namespace roast
