#include "roast/backend.h"

#include <atomic>

#include "roast/error.h"

namespace roast {
namespace {
std::atomic<Precision> g_precision{Precision::fp32};
std::atomic<bool> g_deterministic{false};
std::atomic<MatmulPath> g_matmul_path{MatmulPath::auto_select};
}  // namespace

void set_precision(Precision p) { g_precision.store(p); }
Precision precision() { return g_precision.load(); }

Precision parse_precision(const std::string& text) {
  if (text == "fp32") return Precision::fp32;
  if (text == "tf32") return Precision::tf32;
  fail("unknown precision \"", text, "\"; valid: \"fp32\", \"tf32\"");
}

const char* precision_name(Precision p) { return p == Precision::tf32 ? "tf32" : "fp32"; }

void set_deterministic(bool d) { g_deterministic.store(d); }
bool deterministic() { return g_deterministic.load(); }

void set_matmul_path(MatmulPath p) { g_matmul_path.store(p); }
MatmulPath matmul_path() { return g_matmul_path.load(); }

}  // namespace roast
