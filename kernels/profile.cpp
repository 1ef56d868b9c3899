#include "kernels/profile.h"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "kernels/backend.h"

namespace roast {
namespace kernels {
namespace profile {

std::atomic<bool> g_enabled{false};

namespace {
struct Table {
  std::mutex mutex;
  // Keyed by the name's address: ROAST_KERNEL passes string literals (#fn).
  std::unordered_map<const char*, Record> by_name;
};
Table& table() {
  static Table t;
  return t;
}

bool starts_with(const char* s, const char* prefix) { return std::strncmp(s, prefix, std::strlen(prefix)) == 0; }
bool is_one_of(const char* s, std::initializer_list<const char*> names) {
  for (const char* n : names)
    if (std::strcmp(s, n) == 0) return true;
  return false;
}
}  // namespace

void set_enabled(bool on) { g_enabled.store(on, std::memory_order_relaxed); }

void reset() {
  std::lock_guard<std::mutex> lock(table().mutex);
  table().by_name.clear();
}

std::vector<Record> records() {
  std::lock_guard<std::mutex> lock(table().mutex);
  std::vector<Record> out;
  for (const auto& entry : table().by_name) out.push_back(entry.second);
  std::sort(out.begin(), out.end(), [](const Record& a, const Record& b) { return a.seconds > b.seconds; });
  return out;
}

const char* family_of(const char* k) {
  if (starts_with(k, "roast_mm") || starts_with(k, "gemm")) return "matmul";
  if (starts_with(k, "attention")) return "attention";
  if (starts_with(k, "conv") || starts_with(k, "im2col") || starts_with(k, "col2im") || starts_with(k, "max_pool") ||
      starts_with(k, "avg_pool"))
    return "conv";
  if (starts_with(k, "normalize") || starts_with(k, "norm_") || starts_with(k, "channel_norm") || starts_with(k, "batch_norm") ||
      starts_with(k, "layer_norm"))
    return "norm";
  if (starts_with(k, "embedding") || is_one_of(k, {"gather_rows", "scatter_add_rows", "bigram_ids"})) return "embedding";
  if (starts_with(k, "cross_entropy") || starts_with(k, "softmax")) return "softmax/loss";
  if (starts_with(k, "optim")) return "optimizer";
  if (is_one_of(k, {"permute", "slice_copy", "slice_scatter_add", "copy", "zero_fill"})) return "copies";
  return "elementwise";
}

void Scope::begin(const char* kernel, bool on_cuda) {
  kernel_ = kernel;
  on_cuda_ = on_cuda;
  if (on_cuda_) cuda::synchronize();
  start_ = std::chrono::steady_clock::now();
}

void Scope::end() {
  if (on_cuda_) cuda::synchronize();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::lock_guard<std::mutex> lock(table().mutex);
  Record& r = table().by_name[kernel_];
  if (r.calls == 0) r.kernel = kernel_, r.family = family_of(kernel_);
  r.seconds += s;
  ++r.calls;
}

}  // namespace profile
}  // namespace kernels
}  // namespace roast
