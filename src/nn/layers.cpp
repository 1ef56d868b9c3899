// Linear, Embedding, Conv2d and the context: the layers whose weights are matrices or tables.
#include <cmath>

#include "roast/hash.h"
#include "roast/nn/functional.h"
#include "roast/nn/module.h"
#include "roast/ops.h"
#include "roast/roast_matmul.h"
#include "nn/embedding_op.h"

namespace roast {
namespace nn {

std::uint64_t Context::next_seed() { return hash::hash3(seed, 0xD50Bull, n_random++, 0); }

const Mapping& Context::mapping(const TensorRef& tensor) const {
  ROAST_CHECK(memory != nullptr, "nn::Context: no memory bound");
  const auto& tensors = memory->plan().tensors();
  if (tensor.id >= tensors.size() || tensors[tensor.id].spec.name != tensor.name)
    fail("the memory was planned for a different model: this model's tensor \"", tensor.name, "\" (#", tensor.id,
         ") is ", tensor.id < tensors.size() ? "\"" + tensors[tensor.id].spec.name + "\"" : std::string("absent"),
         " in the memory's plan. Build the Memory from a Planner this model declared to");
  return tensors[tensor.id].mapping;
}

void Module::buffers(std::vector<std::pair<std::string, Tensor*>>&) {}

void Module::place_buffers(Device device) {
  std::vector<std::pair<std::string, Tensor*>> list;
  buffers(list);
  for (auto& entry : list)
    if (entry.second->device() != device) *entry.second = entry.second->to(device);
}

Tensor dropout(const Tensor& x, float p, Context& ctx) {
  if (!ctx.training || p == 0.0f) return x;
  const std::uint64_t salt = ctx.next_dropout_salt();
  return nn::dropout(x, p, salt, ctx.step_seed);
}

Linear::Linear(std::string name, std::int64_t in, std::int64_t out, bool bias)
    : Module(std::move(name)), in_(in), out_(out), has_bias_(bias) {
  ROAST_CHECK(in > 0 && out > 0, "Linear ", this->name(), ": sizes must be positive, got ", in, " -> ", out);
}

void Linear::declare(Planner& planner) {
  weight_ = {planner.matrix(child("weight"), in_, out_, in_), child("weight")};
  if (has_bias_) bias_ = {planner.vector(child("bias"), out_, 0.0f), child("bias")};
}

Tensor Linear::forward(const Tensor& x, Context& ctx) const {
  ROAST_CHECK(x.dim() >= 1 && x.size(-1) == in_, "Linear ", name(), ": expects inputs [..., ", in_, "], got ",
              x.describe());
  Tensor y = roast_matmul(x, *ctx.memory, ctx.mapping(weight_), ctx.numerics);
  if (has_bias_) y = add(y, read_exact(*ctx.memory, ctx.mapping(bias_), {out_}));
  return y;
}

Tensor Linear::forward_gelu(const Tensor& x, Context& ctx) const {
  ROAST_CHECK(x.dim() >= 1 && x.size(-1) == in_, "Linear ", name(), ": expects inputs [..., ", in_, "], got ",
              x.describe());
  const Tensor y = roast_matmul(x, *ctx.memory, ctx.mapping(weight_), ctx.numerics);
  if (!has_bias_) return gelu(y);
  return bias_gelu(y, read_exact(*ctx.memory, ctx.mapping(bias_), {out_}));
}

Embedding::Embedding(std::string name, std::int64_t rows, std::int64_t dim, float init_std)
    : Module(std::move(name)), rows_(rows), dim_(dim), init_std_(init_std) {
  ROAST_CHECK(rows > 0 && dim > 0, "Embedding ", this->name(), ": sizes must be positive, got ", rows, " x ", dim);
}

void Embedding::declare(Planner& planner) { table_ = {planner.embedding(child("table"), rows_, dim_, init_std_), child("table")}; }

Tensor Embedding::forward(const Tensor& ids, Context& ctx) const {
  return embedding_lookup(ctx.memory->params(), ctx.mapping(table_), ids, ctx.numerics);
}

Conv2d::Conv2d(std::string name, std::int64_t in_channels, std::int64_t out_channels, std::int64_t kernel,
               std::int64_t stride, std::int64_t padding, bool bias)
    : Module(std::move(name)), in_(in_channels), out_(out_channels), kernel_(kernel), stride_(stride),
      padding_(padding), has_bias_(bias) {
  ROAST_CHECK(in_ > 0 && out_ > 0 && kernel_ > 0 && stride_ > 0 && padding_ >= 0, "Conv2d ", this->name(),
              ": invalid geometry (in ", in_, ", out ", out_, ", kernel ", kernel_, ", stride ", stride_, ", padding ",
              padding_, ")");
}

void Conv2d::declare(Planner& planner) {
  const std::int64_t fan_in = in_ * kernel_ * kernel_;
  weight_ = {planner.matrix(child("weight"), fan_in, out_, fan_in), child("weight")};
  if (has_bias_) bias_ = {planner.vector(child("bias"), out_, 0.0f), child("bias")};
}

Tensor Conv2d::forward_rows(const Tensor& x, Context& ctx, std::int64_t* oh, std::int64_t* ow) const {
  ROAST_CHECK(x.dim() == 4 && x.size(1) == in_, "Conv2d ", name(), ": expects [B, ", in_, ", H, W], got ",
              x.describe());
  *oh = (x.size(2) + 2 * padding_ - kernel_) / stride_ + 1;
  *ow = (x.size(3) + 2 * padding_ - kernel_) / stride_ + 1;
  Tensor cols = im2col(x, kernel_, kernel_, stride_, padding_);  // [B*OH*OW, C*k*k]
  Tensor y = roast_matmul(cols, *ctx.memory, ctx.mapping(weight_), ctx.numerics);
  if (has_bias_) y = add(y, read_exact(*ctx.memory, ctx.mapping(bias_), {out_}));
  return y;
}

Tensor Conv2d::forward(const Tensor& x, Context& ctx) const {
  std::int64_t oh = 0, ow = 0;
  const Tensor y = forward_rows(x, ctx, &oh, &ow);
  return permute(reshape(y, {x.size(0), oh, ow, out_}), {0, 3, 1, 2});
}

}  // namespace nn
}  // namespace roast
