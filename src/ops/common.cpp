#include "ops/internal.h"

namespace roast {
namespace ops {

void require_f32(const Tensor& t, const char* op, const char* what) {
  ROAST_CHECK(t.defined(), op, ": the ", what, " is empty (default-constructed or moved-from)");
  ROAST_CHECK(t.dtype() == DType::f32, op, ": the ", what, " must be f32, got ", t.describe());
}

void require_same_device(const Tensor& a, const Tensor& b, const char* op) {
  ROAST_CHECK(a.device() == b.device(), op, ": inputs are on different devices (", a.describe(), " and ", b.describe(),
              "); move one with .to()");
}

std::int64_t normalize_axis(std::int64_t axis, std::int64_t n, const char* op, const Shape& shape) {
  const std::int64_t a = axis < 0 ? axis + n : axis;
  ROAST_CHECK(a >= 0 && a < n, op, ": axis ", axis, " is out of range for shape ", shape_str(shape));
  return a;
}

}  // namespace ops
}  // namespace roast
