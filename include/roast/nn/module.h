// Layers: every trainable number lives in the memory (memory.h).
//
// A layer is built in two steps. First it declares its virtual tensors to a Planner
// (declare), in a fixed order: the declaration index is part of every hash key, so the
// same model config always gives the same map. Once the plan is finalised and the Memory
// exists, forward(x, ctx) reads its weights from ctx.memory through their mappings; the
// backward adds into the memory's gradient in place. Layers own only non-trainable
// buffers (batch-norm running statistics), which checkpoints keep.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "roast/backend.h"
#include "roast/memory.h"
#include "roast/tensor.h"

namespace roast {
namespace nn {

// A declared tensor: its id in the plan and its name (to catch a memory planned for
// another model).
struct TensorRef {
  std::uint32_t id = 0;
  std::string name;
};

// What a forward pass needs besides its input. The memory must outlive the context; one
// context serves one forward pass (its random-call counter starts at 0).
struct Context {
  const Memory* memory = nullptr;
  bool training = false;
  std::uint64_t seed = 0;      // dropout masks derive from (seed, call counter)
  std::uint64_t n_random = 0;  // calls that drew randomness in this pass
  // A training step's seed word on the memory's device (roast::StepState), or null. With it,
  // each random call's seed is derived on the device from the word and the call counter
  // (kernels/dropout_hash.h: dropout_seed), so that the host passes the same arguments every
  // step (a captured step replays them) while each step draws new masks. The masks equal
  // those of a context whose seed is the word's value.
  const std::uint64_t* step_seed = nullptr;
  Tensor key_padding_mask;     // text: f32 [B, T], 1 for tokens, 0 for padding
  Numerics numerics;           // precision / deterministic of every product of this pass

  explicit Context(const Memory& m, bool train = false, std::uint64_t s = 0) : memory(&m), training(train), seed(s) {}
  // A fresh seed for one random op of this pass.
  std::uint64_t next_seed();
  // The salt of one random op (kernels/types.h: DropoutSeed{salt, step_seed}): the call's
  // index when step_seed is set, else next_seed() (the whole seed; step_seed null).
  std::uint64_t next_dropout_salt() { return step_seed != nullptr ? n_random++ : next_seed(); }
  // The mapping of a declared tensor; throws roast::Error when the memory's plan has another
  // tensor at that id (the memory was planned for a different model).
  const Mapping& mapping(const TensorRef& tensor) const;
};

class Module {
 public:
  explicit Module(std::string name) : name_(std::move(name)) {}
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  const std::string& name() const { return name_; }
  // Declares this module's virtual tensors (names prefixed by name()).
  virtual void declare(Planner& planner) = 0;
  // Non-trainable state by name, appended to `out` (default: none).
  virtual void buffers(std::vector<std::pair<std::string, Tensor*>>& out);
  // Moves every buffer listed by buffers() to `device` (values kept; those already there are
  // untouched). The session calls it once the memory exists; layers with buffers also call
  // it from forward with the memory's device, so a module computes where its memory lives.
  void place_buffers(Device device);

 protected:
  std::string child(const std::string& suffix) const { return name_.empty() ? suffix : name_ + "." + suffix; }

 private:
  std::string name_;
};

// y = x W + b; x [..., in] -> [..., out]. W is an in x out matrix (fan-in in), b exact cells.
class Linear : public Module {
 public:
  Linear(std::string name, std::int64_t in, std::int64_t out, bool bias = true);
  void declare(Planner& planner) override;
  Tensor forward(const Tensor& x, Context& ctx) const;
  // gelu(forward(x)) with the bias folded into the activation (nn::bias_gelu: one op).
  Tensor forward_gelu(const Tensor& x, Context& ctx) const;
  std::int64_t in_features() const { return in_; }
  std::int64_t out_features() const { return out_; }
  std::uint32_t weight_id() const { return weight_.id; }
  std::uint32_t bias_id() const { return bias_.id; }
  bool has_bias() const { return has_bias_; }

 private:
  std::int64_t in_, out_;
  bool has_bias_;
  TensorRef weight_, bias_;
};

// Token ids [...] (i32/i64 in [0, rows)) -> [..., dim]. ROBE-Z chunks in the hashed schemes;
// the backward touches only the rows in the batch.
class Embedding : public Module {
 public:
  Embedding(std::string name, std::int64_t rows, std::int64_t dim, float init_std);
  void declare(Planner& planner) override;
  Tensor forward(const Tensor& ids, Context& ctx) const;
  std::uint32_t table_id() const { return table_.id; }
  const TensorRef& table() const { return table_; }  // for fused lookups (nn/embedding_op.h)

 private:
  std::int64_t rows_, dim_;
  float init_std_;
  TensorRef table_;
};

// 2-D convolution through its im2col view on ROAST-MM: K = C * kh * kw, N = out channels.
// x [B, C, H, W] -> [B, out, OH, OW].
class Conv2d : public Module {
 public:
  Conv2d(std::string name, std::int64_t in_channels, std::int64_t out_channels, std::int64_t kernel,
         std::int64_t stride = 1, std::int64_t padding = 0, bool bias = true);
  void declare(Planner& planner) override;
  Tensor forward(const Tensor& x, Context& ctx) const;
  // The product before the layout change: [B * OH * OW, out] (channels last), bias added;
  // *oh and *ow receive the output size. BatchNorm::forward_conv takes it from here.
  Tensor forward_rows(const Tensor& x, Context& ctx, std::int64_t* oh, std::int64_t* ow) const;
  std::uint32_t weight_id() const { return weight_.id; }

 private:
  std::int64_t in_, out_, kernel_, stride_, padding_;
  bool has_bias_;
  TensorRef weight_, bias_;
};

// Batch norm over [B, C, H, W] or [B, C]: gain and bias in exact cells, running mean and
// variance as buffers (updated in training with `momentum`, used in evaluation). The
// buffers are created on the CPU and follow the memory's device (Module::place_buffers).
class BatchNorm : public Module {
 public:
  BatchNorm(std::string name, std::int64_t channels, float momentum = 0.1f, float eps = 1e-5f);
  void declare(Planner& planner) override;
  Tensor forward(const Tensor& x, Context& ctx);
  // The same over a convolution's rows [B * H * W, C] (Conv2d::forward_rows), returning
  // [B, C, H, W], with an optional ReLU after it: one fused op (nn::conv_batch_norm_*).
  Tensor forward_conv(const Tensor& rows, std::int64_t batch, std::int64_t h, std::int64_t w, bool relu, Context& ctx);
  void buffers(std::vector<std::pair<std::string, Tensor*>>& out) override;

 private:
  void update_running(const Tensor& mean, const Tensor& var, std::int64_t n);
  std::int64_t channels_;
  float momentum_, eps_;
  TensorRef gain_, bias_;
  Tensor running_mean_, running_var_;
  Tensor ones_;  // [C] of 1 on the buffers' device (evaluation's 1 / sqrt(var + eps)), not state
};

// Layer norm over the last axis with gain and bias in exact cells.
class LayerNorm : public Module {
 public:
  LayerNorm(std::string name, std::int64_t dim, float eps = 1e-5f);
  void declare(Planner& planner) override;
  Tensor forward(const Tensor& x, Context& ctx) const;

 private:
  std::int64_t dim_;
  float eps_;
  TensorRef gain_, bias_;
};

// Multi-head self-attention: x [B, T, D] -> [B, T, D]; ctx.key_padding_mask (if set, [B, T])
// keeps padded keys out of every query's softmax (a sequence with every key padded attends
// uniformly). The heads' attention is one fused op (src/nn/attention_op.h, no T x T matrix
// stored), with dropout on the attention weights in training.
class SelfAttention : public Module {
 public:
  SelfAttention(std::string name, std::int64_t dim, std::int64_t heads, float dropout = 0.0f);
  void declare(Planner& planner) override;
  Tensor forward(const Tensor& x, Context& ctx) const;

 private:
  std::int64_t dim_, heads_;
  float dropout_;
  Linear query_, key_, value_, output_;
};

// A transformer encoder block: attention and a GELU feed-forward network, each with a
// residual connection; layer norm before each (pre-norm) or after each residual (post-norm).
class TransformerBlock : public Module {
 public:
  TransformerBlock(std::string name, std::int64_t dim, std::int64_t heads, std::int64_t ffn_dim, bool pre_norm,
                   float dropout);
  void declare(Planner& planner) override;
  Tensor forward(const Tensor& x, Context& ctx) const;

 private:
  bool pre_norm_;
  float dropout_;
  SelfAttention attention_;
  LayerNorm norm1_, norm2_;
  Linear ffn_in_, ffn_out_;
};

// Functional forms that need the context (dropout is off outside training).
Tensor dropout(const Tensor& x, float p, Context& ctx);

}  // namespace nn
}  // namespace roast
