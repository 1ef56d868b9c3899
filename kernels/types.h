// Plain types shared by every kernel declaration (kernels/kernel_list.inc) on every device.
// No CUDA types: this header is read by host-only code too.
#pragma once

#include <cstdint>

#include "roast/backend.h"
#include "roast/mapping.h"

namespace roast {
namespace kernels {

using i64 = std::int64_t;

enum class Unary { relu, gelu, tanh, sigmoid, exp, log, neg, sqrt, square };
enum class Binary { add, sub, mul, div };

// Broadcast description: out has `rank` dims out_shape; a and b are read with strides
// (0 along broadcast dims). Every array has at most kMaxRank dims.
constexpr int kMaxRank = 8;
struct Broadcast {
  int rank = 0;
  i64 out_shape[kMaxRank] = {};
  i64 a_stride[kMaxRank] = {};
  i64 b_stride[kMaxRank] = {};
};

struct ConvGeometry {
  i64 batch, channels, height, width;  // input [B, C, H, W]
  i64 kernel_h, kernel_w, stride, padding;
  i64 out_h() const { return (height + 2 * padding - kernel_h) / stride + 1; }
  i64 out_w() const { return (width + 2 * padding - kernel_w) / stride + 1; }
  i64 patch() const { return channels * kernel_h * kernel_w; }  // K of the GEMM view
};

// The scalars of one training step that change from step to step, in one small buffer on
// the device where the step runs (on the CPU a host buffer). The host writes its part once per
// step, in one host-to-device copy before the step (roast::StepState::upload); the kernels
// read them through a pointer, so that a step's kernels take the same arguments every step
// (a CUDA graph of the step replays them) and no per-step value crosses from the host by
// value. The device part is written by the step's own kernels.
struct StepScalars {
  // host: the step's dropout seed word (kernels/dropout_hash.h: dropout_seed)
  std::uint64_t dropout_step = 0;
  // host: the learning rate of the schedule; Adam's bias corrections, computed on the host so
  // that every device uses the same rounded constants:
  // step_size = lr / (1 - beta1^t), inv_sqrt_bc2 = 1 / sqrt(1 - beta2^t)
  float lr = 0, step_size = 0, inv_sqrt_bc2 = 1;
  // host writes 1; optim_grad_norm overwrites it with the clip factor when clipping is on.
  float clip = 1;
  // device: the squared global gradient norm (optim_grad_norm; accumulated in double)
  double squared_norm = 0;
};

// A dropout mask's seed: `salt` is fixed by the host per call site (the same every step);
// `step`, when not null, points to the step's seed word on the kernel's device
// (StepScalars::dropout_step), so that a replayed step draws a new mask. The seed a kernel
// uses is dropout_seed(salt, step) (kernels/dropout_hash.h); with step null, it is salt.
struct DropoutSeed {
  std::uint64_t salt = 0;
  const std::uint64_t* step = nullptr;
};

// An inverted-dropout mask drawn inside a fused kernel: element i is kept (times scale) when
// dropout_bits(dropout_seed(seed), i) < keep_below (kernels/dropout_hash.h), as dropout_mask
// draws it.
struct DropoutArgs {
  bool enabled = false;
  DropoutSeed seed;
  std::uint32_t keep_below = 0;
  float scale = 1;
};

// Arguments of the optimizer updates that are the same every step. Every update first forms
// d = g * clip (+ weight_decay * p where the decay is an L2 term); lr, clip and Adam's bias
// corrections come from the StepScalars.
struct SgdArgs {
  float weight_decay = 0, momentum = 0;
  bool nesterov = false;  // only with a momentum buffer
};
struct AdagradArgs {
  float weight_decay = 0, eps = 0;
};
struct AdamArgs {
  float weight_decay = 0, beta1 = 0, beta2 = 0, eps = 0;
  bool decoupled = false;  // adamw: p -= lr * weight_decay * p before the moment update
};

// Per-mapping state the ROAST-MM kernels keep between calls (on CUDA: each tiled mapping's
// table of tile starts and signs, and the owned order of deterministic dM). It is owned by
// the Memory whose mappings it serves (Memory::kernel_cache) and freed with it; a null cache
// makes a call build what it needs and free it at the end. CPU kernels keep nothing.
class MappingCache;

}  // namespace kernels
}  // namespace roast
