// Memory: allocation, seeded initialisation, gradient and optimizer slots.
#include "roast/memory.h"

#include <cmath>

#include "kernels/backend.h"
#include "roast/hash.h"
#include "tensor/device_copy.h"
#include "tensor/tensor_impl.h"

namespace roast {

namespace {
constexpr std::uint64_t kInitSalt = 0x1D8E4E27C47D124Full;  // separates init draws from the map hashes

// A uniform draw in [-1, 1) for cell j: splitmix64's stream at position j, 24 bits.
inline float symmetric_unit(std::uint64_t key, std::uint64_t j) {
  const std::uint64_t bits = hash::mix64(key + (j + 1) * hash::kGolden) >> 40;
  return float(bits) * (2.0f / 16777216.0f) - 1.0f;
}

// Cell j of a hashed region starts U(-a, a); exact and dense tensors take their own
// init. Every value depends only on (seed, j), so any thread split gives the same memory.
void initialise(const MemoryPlan& plan, float* cells) {
  const std::uint64_t key = hash::mix64(plan.config().seed ^ kInitSalt);
  const std::int64_t m = plan.n_floats();
  const float a = plan.config().init_scale;
#pragma omp parallel for schedule(static)
  for (std::int64_t j = 0; j < m; ++j) cells[j] = a * symmetric_unit(key, std::uint64_t(j));
  for (const PlannedTensor& t : plan.tensors()) {
    const Mapping& map = t.mapping;
    if (map.scheme != Scheme::exact && map.scheme != Scheme::dense) continue;
    const std::int64_t begin = map.region_base, end = map.region_base + map.region_size;
    if (t.spec.init_value) {
      for (std::int64_t j = begin; j < end; ++j) cells[j] = *t.spec.init_value;
      continue;
    }
    const float half_width = float(std::sqrt(3.0) * double(t.target_std));  // uniform(+-1/sqrt(fan_in))
#pragma omp parallel for schedule(static)
    for (std::int64_t j = begin; j < end; ++j) cells[j] = half_width * symmetric_unit(key, std::uint64_t(j));
  }
}
}  // namespace

Memory::Memory(MemoryPlan plan, Device device) : plan_(std::move(plan)), device_(device) {
  Tensor host = Tensor::empty({plan_.n_floats()}, DType::f32, Device::cpu());
  initialise(plan_, host.data<float>());
  params_ = host.to(device_);
  params_.set_requires_grad(true);
  kernel_cache_ = kernels::make_mapping_cache(device_);
}

void Memory::zero_grad() {
  TensorImpl& impl = *params_.impl();
  if (impl.grad.defined() && impl.grad_owned) {
    const TensorImpl& g = *impl.grad.impl();
    fill_bytes_zero(g.raw(), g.storage->device(), std::size_t(impl.grad.numel()) * sizeof(float));
  } else {
    params_.zero_grad();  // the gradient aliases a tensor the memory does not own: drop it
  }
}

Tensor& Memory::slot(const std::string& name) {
  auto it = slots_.find(name);
  if (it == slots_.end()) it = slots_.emplace(name, Tensor::zeros({plan_.n_floats()}, DType::f32, device_)).first;
  return it->second;
}

std::vector<std::string> Memory::slot_names() const {
  std::vector<std::string> names;
  for (const auto& entry : slots_) names.push_back(entry.first);
  return names;
}

std::int64_t Memory::n_bytes() const {
  const std::int64_t n_arrays = 1 + (params_.grad().defined() ? 1 : 0) + std::int64_t(slots_.size());
  return n_arrays * plan_.n_floats() * std::int64_t(sizeof(float));
}

}  // namespace roast
