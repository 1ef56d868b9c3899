#include "support/gradcheck.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <sstream>

#include "roast/autograd.h"
#include "roast/ops.h"

namespace roast {
namespace testing {
namespace {
double weighted_sum(const Tensor& y, const std::vector<float>& r) {
  const std::vector<float> v = y.to_vector();
  double total = 0.0;
  for (std::size_t i = 0; i < v.size(); ++i) total += double(v[i]) * double(r[i]);
  return total;
}

struct Mismatch {
  std::size_t input;
  std::int64_t index;
  double analytic, numeric, excess;
};
}  // namespace

namespace {
// Compares the analytic gradient of L = sum(f() * r) w.r.t. `x` with central differences,
// perturbing x's storage in place (restored afterwards). Appends mismatches to `bad`.
void compare(const std::function<double()>& loss, Tensor x, const std::vector<float>& analytic, std::size_t input,
             const GradCheckOptions& options, std::mt19937_64& rng, std::vector<Mismatch>& bad) {
  const std::int64_t n = x.numel();
  std::vector<std::int64_t> probe(static_cast<std::size_t>(n));
  for (std::int64_t j = 0; j < n; ++j) probe[std::size_t(j)] = j;
  if (n > options.max_elements) {
    std::shuffle(probe.begin(), probe.end(), rng);
    probe.resize(std::size_t(options.max_elements));
  }
  float* xd = x.data<float>();
  std::vector<double> numeric(probe.size());
  double max_numeric = 0.0;
  for (std::size_t p = 0; p < probe.size(); ++p) {
    const float x0 = xd[probe[p]];
    const double h = options.step * std::max(1.0, std::fabs(double(x0)));
    xd[probe[p]] = float(x0 + h);
    const double h_plus = double(xd[probe[p]]) - x0;  // the step actually taken in f32
    const double up = loss();
    xd[probe[p]] = float(x0 - h);
    const double h_minus = x0 - double(xd[probe[p]]);
    const double down = loss();
    xd[probe[p]] = x0;
    numeric[p] = (up - down) / (h_plus + h_minus);
    max_numeric = std::max(max_numeric, std::fabs(numeric[p]));
  }
  const double abs_tol = options.abs_tol_frac * max_numeric + 1e-5;
  for (std::size_t p = 0; p < probe.size(); ++p) {
    const double a = analytic[std::size_t(probe[p])];
    const double excess = std::fabs(a - numeric[p]) - (abs_tol + options.rel_tol * std::fabs(numeric[p]));
    if (excess > 0) bad.push_back({input, probe[p], a, numeric[p], excess});
  }
}

std::vector<float> gradient_or_zeros(const Tensor& leaf) {
  const Tensor g = leaf.grad();
  return g.defined() ? g.to_vector() : std::vector<float>(static_cast<std::size_t>(leaf.numel()), 0.0f);
}

std::string report(std::vector<Mismatch> bad) {
  if (bad.empty()) return {};
  std::sort(bad.begin(), bad.end(), [](const Mismatch& a, const Mismatch& b) { return a.excess > b.excess; });
  std::ostringstream out;
  out << bad.size() << " gradient element(s) differ from finite differences; worst:\n";
  for (std::size_t k = 0; k < std::min<std::size_t>(bad.size(), 6); ++k)
    out << "  input " << bad[k].input << " [" << bad[k].index << "]: analytic " << bad[k].analytic << ", numeric "
        << bad[k].numeric << "\n";
  return out.str();
}
}  // namespace

std::string gradient_mismatches(const TensorFn& f, const std::vector<Tensor>& inputs, const GradCheckOptions& options) {
  std::vector<Tensor> leaves;
  for (const Tensor& in : inputs) {
    Tensor leaf = in.clone();
    if (leaf.dtype() == DType::f32) leaf.set_requires_grad(true);
    leaves.push_back(leaf);
  }
  Tensor y = f(leaves);
  const std::vector<float> r = randn(y.shape(), options.seed + 1).to_vector();
  sum_all(mul(y, Tensor::from_vector(r, y.shape(), y.device()))).backward();

  std::vector<Mismatch> bad;
  std::mt19937_64 rng(options.seed);
  std::vector<Tensor> probes;
  for (const Tensor& in : inputs) probes.push_back(in.clone());
  const auto loss = [&] {
    NoGradGuard no_grad;
    return weighted_sum(f(probes), r);
  };
  for (std::size_t i = 0; i < leaves.size(); ++i)
    if (leaves[i].dtype() == DType::f32) compare(loss, probes[i], gradient_or_zeros(leaves[i]), i, options, rng, bad);
  return report(bad);
}

std::string leaf_gradient_mismatches(const std::function<Tensor()>& f, Tensor leaf, const GradCheckOptions& options) {
  Tensor y = f();
  const std::vector<float> r = randn(y.shape(), options.seed + 1).to_vector();
  sum_all(mul(y, Tensor::from_vector(r, y.shape(), y.device()))).backward();
  const std::vector<float> analytic = gradient_or_zeros(leaf);
  std::vector<Mismatch> bad;
  std::mt19937_64 rng(options.seed);
  compare([&] {
    NoGradGuard no_grad;
    return weighted_sum(f(), r);
  }, leaf, analytic, 0, options, rng, bad);
  return report(bad);
}

double relative_error(const std::vector<float>& x, const std::vector<float>& y) {
  if (x.size() != y.size()) return std::numeric_limits<double>::infinity();
  double max_diff = 0.0, max_ref = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    max_diff = std::max(max_diff, std::fabs(double(x[i]) - double(y[i])));
    max_ref = std::max(max_ref, std::fabs(double(y[i])));
  }
  return max_diff / (max_ref + 1e-30);
}

double relative_error(const Tensor& a, const Tensor& b) { return relative_error(a.to_vector(), b.to_vector()); }

std::string first_mismatches(const Tensor& a, const Tensor& b, double tol, int n_show) {
  const std::vector<float> x = a.to_vector(), y = b.to_vector();
  double max_ref = 0.0;
  for (float v : y) max_ref = std::max(max_ref, std::fabs(double(v)));
  std::ostringstream out;
  int shown = 0;
  double max_diff = 0.0;
  for (std::size_t i = 0; i < x.size() && i < y.size(); ++i) {
    const double d = std::fabs(double(x[i]) - double(y[i]));
    max_diff = std::max(max_diff, d);
    if (d > tol * max_ref && shown < n_show) {
      out << "  [" << i << "] got " << x[i] << ", expected " << y[i] << "\n";
      ++shown;
    }
  }
  out << "  max |diff| = " << max_diff << " (max |expected| = " << max_ref << ")";
  return out.str();
}

}  // namespace testing
}  // namespace roast
