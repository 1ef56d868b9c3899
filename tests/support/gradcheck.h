// Finite-difference gradient checks for tests.
//
// check_gradients(f, inputs): builds leaves from `inputs` (f32 ones get requires_grad), runs
// y = f(leaves), and compares the analytic gradient of L = sum(y * R) (R fixed random) with
// central differences of L computed in double precision. f32 inputs up to `max_elements`
// are all probed; larger ones on a seeded sample. A mismatch fails the enclosing test and
// prints the worst elements.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "roast/tensor.h"

namespace roast {
namespace testing {

struct GradCheckOptions {
  double step = 3e-3;          // finite-difference step, scaled by max(1, |x|)
  double rel_tol = 2e-2;       // |analytic - numeric| <= abs_tol + rel_tol * |numeric|
  double abs_tol_frac = 2e-3;  // abs_tol = abs_tol_frac * max |numeric| of that input + 1e-5
  std::int64_t max_elements = 400;
  std::uint64_t seed = 7;
};

using TensorFn = std::function<Tensor(const std::vector<Tensor>&)>;

// Returns an empty string when every probed element matches, else a report of the worst ones.
std::string gradient_mismatches(const TensorFn& f, const std::vector<Tensor>& inputs,
                                const GradCheckOptions& options = {});

// The same check for a leaf that f() reads directly (e.g. a Memory's params): the leaf's
// storage is perturbed in place, its gradient (after one backward) is the analytic one.
// The leaf must have requires_grad and no gradient yet.
std::string leaf_gradient_mismatches(const std::function<Tensor()>& f, Tensor leaf,
                                     const GradCheckOptions& options = {});

// Max |a - b| / (max |b| + tiny) over two equally shaped f32 tensors (or vectors; infinity
// when the sizes differ), and a printable report.
double relative_error(const std::vector<float>& a, const std::vector<float>& b);
double relative_error(const Tensor& a, const Tensor& b);
std::string first_mismatches(const Tensor& a, const Tensor& b, double tol, int n_show = 5);

}  // namespace testing
}  // namespace roast

// Fails the test with the report when the gradient check finds mismatches.
#define CHECK_LEAF_GRADIENT(...)                                                 \
  do {                                                                            \
    const std::string roast_gc_report = ::roast::testing::leaf_gradient_mismatches(__VA_ARGS__); \
    INFO(roast_gc_report);                                                        \
    CHECK(roast_gc_report.empty());                                               \
  } while (0)

#define CHECK_GRADIENTS(...)                                                      \
  do {                                                                            \
    const std::string roast_gc_report = ::roast::testing::gradient_mismatches(__VA_ARGS__); \
    INFO(roast_gc_report);                                                        \
    CHECK(roast_gc_report.empty());                                               \
  } while (0)
