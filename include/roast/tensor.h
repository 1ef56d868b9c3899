// Tensor: an n-dimensional, contiguous, row-major array on one device.
//
// A Tensor is a cheap handle (a shared pointer); copies share storage. Storage comes
// from the allocator of the tensor's device (allocator_for). A reshape of a tensor is a
// view of the same storage; every other op returns new storage. Tensors that take part in
// autograd carry a gradient function (see autograd.h); leaves created with
// set_requires_grad(true) collect their gradient in grad().
//
// Misuse (a dtype that does not match, an axis out of range, an empty or moved-from
// handle) throws roast::Error naming the op and the shapes.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "roast/error.h"

namespace roast {

enum class DType : std::uint8_t { f32, i32, i64 };
const char* dtype_name(DType dtype);
std::size_t dtype_size(DType dtype);

enum class DeviceKind : std::uint8_t { cpu, cuda };
struct Device {
  DeviceKind kind = DeviceKind::cpu;
  int index = 0;
  static Device cpu() { return {DeviceKind::cpu, 0}; }
  static Device cuda(int index = 0) { return {DeviceKind::cuda, index}; }
  bool is_cpu() const { return kind == DeviceKind::cpu; }
  std::string str() const;  // "cpu" or "cuda:0"
  bool operator==(const Device& other) const { return kind == other.kind && index == other.index; }
  bool operator!=(const Device& other) const { return !(*this == other); }
};
// Parses "cpu", "cuda" or "cuda:N"; throws roast::Error on anything else.
Device parse_device(const std::string& text);
// True when this build has the CUDA backend and a GPU is present.
bool cuda_available();

using Shape = std::vector<std::int64_t>;
std::string shape_str(const Shape& shape);  // "[2, 3]"
std::int64_t shape_numel(const Shape& shape);

// Per-device memory source. CPU storage is 64-byte aligned; CUDA storage is device memory.
// What an allocator has done since the process started. `fresh`: blocks obtained from the
// system (the CPU's aligned_alloc, the device's malloc); `reused`: blocks handed out again from
// its cache. A training step that allocates only shapes seen before adds nothing to `fresh`.
struct AllocatorCounters {
  std::int64_t fresh = 0, reused = 0;
  std::size_t live_bytes = 0, cached_bytes = 0, peak_live_bytes = 0;
};

class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual void* allocate(std::size_t n_bytes) = 0;
  virtual void deallocate(void* ptr, std::size_t n_bytes) = 0;
  virtual AllocatorCounters counters() const { return {}; }
};
Allocator& allocator_for(Device device);

// Raw bytes owned on one device.
class Storage {
 public:
  Storage(std::size_t n_bytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data() const { return data_; }
  std::size_t n_bytes() const { return n_bytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  std::size_t n_bytes_ = 0;
  Device device_;
};

struct TensorImpl;  // defined in src/tensor/tensor_impl.h

class Tensor {
 public:
  Tensor() = default;  // an empty handle: defined() is false

  // Uninitialised, zero-filled, constant-filled tensors.
  static Tensor empty(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
  static Tensor zeros(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
  static Tensor full(const Shape& shape, float value, Device device = Device::cpu());
  // Copies host values; values.size() must equal the shape's element count.
  static Tensor from_vector(const std::vector<float>& values, const Shape& shape, Device device = Device::cpu());
  static Tensor from_vector(const std::vector<std::int32_t>& values, const Shape& shape, Device device = Device::cpu());
  static Tensor from_vector(const std::vector<std::int64_t>& values, const Shape& shape, Device device = Device::cpu());

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  std::int64_t dim() const;
  std::int64_t size(std::int64_t axis) const;  // negative axes count from the end
  std::int64_t numel() const;
  DType dtype() const;
  Device device() const;
  std::string describe() const;  // "f32[2, 3] on cpu"

  // Typed access to the first element; T must match dtype(). Host pointer only on cpu.
  template <typename T> T* data();
  template <typename T> const T* data() const;
  float item() const;                   // the value of a one-element f32 tensor
  std::vector<float> to_vector() const;  // f32 values copied to the host
  template <typename T> std::vector<T> to_host() const;

  Tensor to(Device device) const;  // a copy on another device (or *this when already there)
  Tensor clone() const;            // a deep copy without autograd history
  Tensor detach() const;           // shares storage, no autograd history
  void fill_(float value);         // in place, f32 only, outside autograd
  void copy_from(const Tensor& source);  // in place element copy, same shape and dtype

  // Autograd (see autograd.h).
  bool requires_grad() const;
  Tensor& set_requires_grad(bool required);  // leaves only
  Tensor grad() const;  // the accumulated gradient of a leaf; empty before the first backward
  void zero_grad();     // drops the accumulated gradient
  // Runs backpropagation from this scalar (one-element f32) tensor.
  void backward() const;

  // The implementation handle, for the engine's own code.
  const std::shared_ptr<TensorImpl>& impl() const;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

 private:
  std::shared_ptr<TensorImpl> impl_;
};

// Seeded random fills used by tests and initialisers (host generation, copied to device).
Tensor randn(const Shape& shape, std::uint64_t seed, float std = 1.0f, Device device = Device::cpu());
Tensor rand_uniform(const Shape& shape, std::uint64_t seed, float low, float high, Device device = Device::cpu());

}  // namespace roast
