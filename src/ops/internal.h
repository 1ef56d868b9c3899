// Helpers shared by the op implementations; engine code only.
#pragma once

#include "roast/tensor.h"

namespace roast {
namespace ops {


// a += b in place, equal shapes, outside autograd.
void raw_add_inplace(Tensor& a, const Tensor& b);
// Requires a defined f32 tensor; names the op in the error.
void require_f32(const Tensor& t, const char* op, const char* what = "input");
// Requires every tensor on the device of the first.
void require_same_device(const Tensor& a, const Tensor& b, const char* op);
// Normalises a possibly negative axis against rank n; names the op in the error.
std::int64_t normalize_axis(std::int64_t axis, std::int64_t n, const char* op, const Shape& shape);

}  // namespace ops
}  // namespace roast

namespace roast {
namespace kernels { enum class Binary; }
namespace ops {
// Outside autograd: broadcast binary op, reduction of a broadcast gradient back to `shape`,
// and a scaled copy.
Shape broadcast_shape(const Shape& a, const Shape& b, const char* op);
Tensor raw_binary(kernels::Binary op, const Tensor& a, const Tensor& b, const char* name);
Tensor raw_sum_to(const Tensor& g, const Shape& shape);
Tensor raw_scale(const Tensor& a, float alpha);
}  // namespace ops
}  // namespace roast
