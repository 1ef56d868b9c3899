// A light profiler at the one kernel dispatch point (ROAST_KERNEL, kernels/backend.h), off
// unless a benchmark turns it on (`roast-train bench train`).
//
// Off: each dispatch costs one relaxed atomic load. On: each dispatch is timed on the host
// clock and its time added to the kernel's name; CUDA dispatches synchronise the device
// before and after (so the time is the kernel's, not its launch's: a profiling mode, slower
// than a normal step). Host-side copies and zero fills of tensors are counted as the
// kernels "copy" and "zero_fill". Records from every thread go to one table (a mutex, taken
// only while on).
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <vector>

namespace roast {
namespace kernels {
namespace profile {

extern std::atomic<bool> g_enabled;
inline bool enabled() { return g_enabled.load(std::memory_order_relaxed); }
void set_enabled(bool on);
// Forgets every record (the bench, after its warm-up steps).
void reset();

struct Record {
  std::string kernel;
  std::string family;  // matmul, attention, conv, norm, elementwise, embedding, loss, optimizer, copies
  double seconds = 0;
  long long calls = 0;
};
// Every kernel timed since the last reset, largest time first.
std::vector<Record> records();
// The family a kernel name belongs to (the families of `bench train`).
const char* family_of(const char* kernel);

// Times one dispatch while it lives (a temporary in ROAST_KERNEL's comma expression).
class Scope {
 public:
  Scope(const char* kernel, bool on_cuda) {
    if (enabled()) begin(kernel, on_cuda);
  }
  ~Scope() {
    if (kernel_ != nullptr) end();
  }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  void begin(const char* kernel, bool on_cuda);
  void end();
  const char* kernel_ = nullptr;
  bool on_cuda_ = false;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace profile
}  // namespace kernels
}  // namespace roast
