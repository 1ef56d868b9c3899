#include <cstring>
#include <random>

#include "kernels/backend.h"
#include "roast/tensor.h"
#include "tensor/device_copy.h"
#include "tensor/tensor_impl.h"

namespace roast {

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::f32: return "f32";
    case DType::i32: return "i32";
    case DType::i64: return "i64";
  }
  return "?";
}

std::size_t dtype_size(DType dtype) { return dtype == DType::i64 ? 8 : 4; }

std::string Device::str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }

Device parse_device(const std::string& text) {
  if (text == "cpu") return Device::cpu();
  if (text == "cuda") return Device::cuda(0);
  if (text.rfind("cuda:", 0) == 0 && text.size() > 5 && text.find_first_not_of("0123456789", 5) == std::string::npos)
    return Device::cuda(std::stoi(text.substr(5)));
  fail("unknown device \"", text, "\": expected \"cpu\", \"cuda\" or \"cuda:N\"");
}

std::string shape_str(const Shape& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::int64_t shape_numel(const Shape& shape) {
  std::int64_t n = 1;
  for (std::int64_t d : shape) n *= d;
  return n;
}

const TensorImpl& checked_impl(const Tensor& t, const char* op) {
  if (!t.impl()) fail(op, ": the tensor is empty (default-constructed or moved-from); give it a value first");
  return *t.impl();
}

namespace {
std::shared_ptr<TensorImpl> make_impl(const Shape& shape, DType dtype, Device device) {
  for (std::int64_t d : shape)
    ROAST_CHECK(d >= 0, "Tensor::empty: negative dimension in shape ", shape_str(shape));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(std::size_t(shape_numel(shape)) * dtype_size(dtype), device);
  impl->shape = shape;
  impl->dtype = dtype;
  return impl;
}

template <typename T>
Tensor from_host(const std::vector<T>& values, const Shape& shape, DType dtype, Device device) {
  ROAST_CHECK(std::int64_t(values.size()) == shape_numel(shape), "Tensor::from_vector: ", values.size(),
              " values do not fill shape ", shape_str(shape), " (", shape_numel(shape), " elements)");
  Tensor t(make_impl(shape, dtype, device));
  copy_bytes(t.impl()->raw(), device, values.data(), Device::cpu(), values.size() * sizeof(T));
  return t;
}

template <typename T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::f32; }
template <> constexpr DType dtype_of<std::int32_t>() { return DType::i32; }
template <> constexpr DType dtype_of<std::int64_t>() { return DType::i64; }
}  // namespace

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) { return Tensor(make_impl(shape, dtype, device)); }

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  fill_bytes_zero(t.impl_->raw(), device, std::size_t(t.numel()) * dtype_size(dtype));
  return t;
}

Tensor Tensor::full(const Shape& shape, float value, Device device) {
  if (device.is_cpu()) return from_vector(std::vector<float>(std::size_t(shape_numel(shape)), value), shape, device);
  // On a GPU without a host upload (0 * 1 + value on the device): a captured training step
  // seeds its backward with a full tensor.
  Tensor t = zeros(shape, DType::f32, device);
  float* p = t.data<float>();
  ROAST_KERNEL(device, affine, p, p, t.numel(), 1.0f, value);
  return t;
}

Tensor Tensor::from_vector(const std::vector<float>& v, const Shape& s, Device d) { return from_host(v, s, DType::f32, d); }
Tensor Tensor::from_vector(const std::vector<std::int32_t>& v, const Shape& s, Device d) { return from_host(v, s, DType::i32, d); }
Tensor Tensor::from_vector(const std::vector<std::int64_t>& v, const Shape& s, Device d) { return from_host(v, s, DType::i64, d); }

const Shape& Tensor::shape() const { return checked_impl(*this, "Tensor::shape").shape; }
std::int64_t Tensor::dim() const { return std::int64_t(shape().size()); }
std::int64_t Tensor::numel() const { return shape_numel(shape()); }
DType Tensor::dtype() const { return checked_impl(*this, "Tensor::dtype").dtype; }
Device Tensor::device() const { return checked_impl(*this, "Tensor::device").storage->device(); }
const std::shared_ptr<TensorImpl>& Tensor::impl() const { return impl_; }

std::int64_t Tensor::size(std::int64_t axis) const {
  const std::int64_t n = dim();
  const std::int64_t a = axis < 0 ? axis + n : axis;
  ROAST_CHECK(a >= 0 && a < n, "Tensor::size: axis ", axis, " is out of range for shape ", shape_str(shape()));
  return shape()[std::size_t(a)];
}

std::string Tensor::describe() const {
  if (!impl_) return "<empty tensor>";
  return std::string(dtype_name(dtype())) + shape_str(shape()) + " on " + device().str();
}

template <typename T>
T* Tensor::data() {
  const TensorImpl& impl = checked_impl(*this, "Tensor::data");
  ROAST_CHECK(impl.dtype == dtype_of<T>(), "Tensor::data: asked for ", dtype_name(dtype_of<T>()), " but the tensor is ",
              describe());
  return static_cast<T*>(impl.raw());
}
template <typename T>
const T* Tensor::data() const {
  return const_cast<Tensor*>(this)->data<T>();
}
template float* Tensor::data<float>();
template const float* Tensor::data<float>() const;
template std::int32_t* Tensor::data<std::int32_t>();
template const std::int32_t* Tensor::data<std::int32_t>() const;
template std::int64_t* Tensor::data<std::int64_t>();
template const std::int64_t* Tensor::data<std::int64_t>() const;

template <typename T>
std::vector<T> Tensor::to_host() const {
  std::vector<T> out(static_cast<std::size_t>(numel()));
  const T* src = data<T>();
  copy_bytes(out.data(), Device::cpu(), src, device(), out.size() * sizeof(T));
  return out;
}
template std::vector<float> Tensor::to_host<float>() const;
template std::vector<std::int32_t> Tensor::to_host<std::int32_t>() const;
template std::vector<std::int64_t> Tensor::to_host<std::int64_t>() const;

std::vector<float> Tensor::to_vector() const { return to_host<float>(); }

float Tensor::item() const {
  ROAST_CHECK(numel() == 1, "Tensor::item: needs a one-element tensor, got ", describe());
  return to_vector()[0];
}

Tensor Tensor::to(Device target) const {
  const TensorImpl& impl = checked_impl(*this, "Tensor::to");
  if (impl.storage->device() == target) return *this;
  Tensor out = empty(impl.shape, impl.dtype, target);
  copy_bytes(out.impl_->raw(), target, impl.raw(), impl.storage->device(), std::size_t(numel()) * dtype_size(impl.dtype));
  return out;
}

Tensor Tensor::clone() const {
  const TensorImpl& impl = checked_impl(*this, "Tensor::clone");
  Tensor out = empty(impl.shape, impl.dtype, impl.storage->device());
  copy_bytes(out.impl_->raw(), device(), impl.raw(), device(), std::size_t(numel()) * dtype_size(impl.dtype));
  return out;
}

Tensor Tensor::detach() const {
  const TensorImpl& impl = checked_impl(*this, "Tensor::detach");
  auto view = std::make_shared<TensorImpl>();
  view->storage = impl.storage;
  view->offset = impl.offset;
  view->shape = impl.shape;
  view->dtype = impl.dtype;
  return Tensor(view);
}

void Tensor::copy_from(const Tensor& source) {
  const TensorImpl& dst = checked_impl(*this, "Tensor::copy_from");
  const TensorImpl& src = checked_impl(source, "Tensor::copy_from");
  ROAST_CHECK(dst.shape == src.shape && dst.dtype == src.dtype, "Tensor::copy_from: cannot copy ", source.describe(),
              " into ", describe());
  copy_bytes(dst.raw(), device(), src.raw(), source.device(), std::size_t(numel()) * dtype_size(dst.dtype));
}

void Tensor::fill_(float value) {
  ROAST_CHECK(dtype() == DType::f32, "Tensor::fill_: needs f32, got ", describe());
  if (device().is_cpu()) {
    float* p = data<float>();
    const std::int64_t n = numel();
    for (std::int64_t i = 0; i < n; ++i) p[i] = value;
  } else {
    copy_from(full(shape(), value, device()));
  }
}

bool Tensor::requires_grad() const { return checked_impl(*this, "Tensor::requires_grad").requires_grad; }


Tensor Tensor::grad() const { return checked_impl(*this, "Tensor::grad").grad; }

void Tensor::zero_grad() {
  checked_impl(*this, "Tensor::zero_grad");
  impl_->grad = Tensor();
  impl_->grad_owned = false;
}


Tensor randn(const Shape& shape, std::uint64_t seed, float std, Device device) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> dist(0.0f, std);
  std::vector<float> v(std::size_t(shape_numel(shape)));
  for (float& x : v) x = dist(rng);
  return Tensor::from_vector(v, shape, device);
}

Tensor rand_uniform(const Shape& shape, std::uint64_t seed, float low, float high, Device device) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(low, high);
  std::vector<float> v(std::size_t(shape_numel(shape)));
  for (float& x : v) x = dist(rng);
  return Tensor::from_vector(v, shape, device);
}

}  // namespace roast
