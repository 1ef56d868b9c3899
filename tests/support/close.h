// Comparison of a kernel's float output against a double reference, for the kernel tests.
#pragma once

#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "support/catch.h"

namespace test_support {

// max |got - want| / max(max |want|, 1e-6) must be below tol; prints the first mismatches.
inline void check_close(const std::string& what, const std::vector<float>& got, const std::vector<double>& want,
                        double tol = 1e-5) {
  REQUIRE(got.size() == want.size());
  double scale = 1e-6, max_diff = 0.0;
  for (double v : want) scale = std::max(scale, std::abs(v));
  std::ostringstream mismatches;
  int n_shown = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double d = std::abs(double(got[i]) - want[i]);
    max_diff = std::max(max_diff, d);
    if (d > tol * scale && n_shown < 5) {
      mismatches << "  [" << i << "] got " << got[i] << " want " << want[i] << "\n";
      ++n_shown;
    }
  }
  INFO(what << ": max |diff| " << max_diff << ", scale " << scale << ", relative " << max_diff / scale << "\n"
            << mismatches.str());
  CHECK(max_diff / scale < tol);
}

}  // namespace test_support
