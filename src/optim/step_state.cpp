// StepState (roast/optim.h): the per-step scalars and metric sums of a training step on its device.
#include <cmath>
#include <cstddef>
#include <cstring>
#include <new>

#include "kernels/backend.h"
#include "roast/optim.h"
#include "tensor/device_copy.h"

namespace roast {
namespace {
using kernels::StepScalars;
constexpr std::int64_t kWords = std::int64_t(sizeof(StepScalars) / sizeof(std::int64_t));
// The host writes everything before squared_norm (the device's own result).
constexpr std::size_t kHostBytes = offsetof(StepScalars, squared_norm);
static_assert(sizeof(StepScalars) % sizeof(std::int64_t) == 0, "StepScalars is whole 8-byte words");
static_assert(offsetof(StepScalars, dropout_step) == 0, "the dropout word leads the buffer");

StepScalars& host_scalars(std::vector<std::int64_t>& words) { return *reinterpret_cast<StepScalars*>(words.data()); }
}  // namespace

StepState::StepState(Device device)
    : buffer_(Tensor::zeros({kWords}, DType::i64, device)),
      metrics_(Tensor::zeros({2}, DType::i64, device)),
      host_(std::size_t(kWords), 0) {
  new (host_.data()) StepScalars();
  upload();
}

void StepState::set_lr(float lr) { host_scalars(host_).lr = lr; }
void StepState::set_dropout_seed(std::uint64_t seed) { host_scalars(host_).dropout_step = seed; }
void StepState::set_adam_corrections(float step_size, float inv_sqrt_bc2) {
  host_scalars(host_).step_size = step_size;
  host_scalars(host_).inv_sqrt_bc2 = inv_sqrt_bc2;
}
float StepState::lr() const { return reinterpret_cast<const StepScalars*>(host_.data())->lr; }

void StepState::upload() {
  host_scalars(host_).clip = 1.0f;
  copy_bytes(buffer_.data<std::int64_t>(), device(), host_.data(), Device::cpu(), kHostBytes);
}

void* StepState::scalars() { return buffer_.data<std::int64_t>(); }

const std::uint64_t* StepState::dropout_seed_word() const {
  return reinterpret_cast<const std::uint64_t*>(buffer_.data<std::int64_t>());
}

StepState::Metrics StepState::take_metrics() {
  double sums[2] = {0, 0};
  copy_bytes(sums, Device::cpu(), metrics_.data<std::int64_t>(), device(), sizeof(sums));
  fill_bytes_zero(metrics_.data<std::int64_t>(), device(), sizeof(sums));
  return {sums[0], sums[1]};
}

double StepState::read_grad_norm() const {
  StepScalars s;
  copy_bytes(&s, Device::cpu(), buffer_.data<std::int64_t>(), device(), sizeof(s));
  return std::sqrt(s.squared_norm);
}

}  // namespace roast
