// Classification models built from layers (module.h); every weight lives in the memory.
//
// A model declares its tensors to a Planner, then maps a batch to logits [B, classes].
// The same model class gives the dense, ROAST, ROAST-local and HashedNet variants: only
// the memory's scheme differs. Models can be built from C++ (the option structs below) or
// from a JSON object (`roast-train` configs; docs/config.md), by the type names of
// roast/config_types.h, where a program can register types of its own.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "roast/nn/module.h"

namespace roast {
namespace nn {

// One batch. Images: f32 [B, C, H, W]. Text: token ids i32 [B, T] and mask f32 [B, T]
// (1 for tokens, 0 for padding).
struct Batch {
  Tensor images;
  Tensor ids;
  Tensor mask;
  Tensor labels;  // i32 [B]
};

// What the data looks like; fixes the input layer sizes.
struct InputSpec {
  bool text = false;
  std::int64_t channels = 1, height = 28, width = 28;  // images
  std::int64_t vocab_size = 0, max_length = 0;         // text
  std::int64_t n_classes = 2;
};

class Model : public Module {
 public:
  using Module::Module;
  // logits [B, n_classes]. Requires: ctx.memory built from a plan that this model (or an
  // identical one: same type, input and options) declared into, and a batch shaped as
  // the InputSpec says. Throws roast::Error naming the layer or op and the shapes otherwise;
  // with ctx.training, dropout is on and batch-norm statistics are updated.
  virtual Tensor forward(const Batch& batch, Context& ctx) = 0;
  // The JSON "type" of this model.
  virtual const char* type() const = 0;
};

struct MlpOptions {
  std::vector<std::int64_t> hidden{256};
  std::string activation = "relu";  // relu | gelu | tanh
  float dropout = 0.0f;
};
struct CnnStage {
  std::int64_t channels = 32;
  std::int64_t convs = 2;
};
struct CnnOptions {
  std::vector<CnnStage> stages{{32, 2}, {64, 2}};
  bool batch_norm = true;
  std::int64_t hidden = 256;  // fully connected layer after the stages (0: none)
  float dropout = 0.0f;
};
struct ResNetOptions {
  std::vector<std::int64_t> widths{16, 32, 64};  // one stage per width; stride 2 from the second on
  std::int64_t blocks_per_stage = 2;
};
struct BagOptions {
  std::int64_t dim = 64;
  std::vector<std::int64_t> hidden{};  // MLP after the mean of embeddings
  std::int64_t bigram_buckets = 0;     // hashed bigram rows added to the table (0: off)
  float dropout = 0.0f;
};
struct TransformerOptions {
  std::int64_t dim = 128, heads = 4, layers = 2, ffn_dim = 256;
  std::string pooling = "cls";  // cls (first token) | mean (over tokens)
  bool pre_norm = true;
  float dropout = 0.1f;
};

// Builders: a model for `input` with the given options, not yet declared to a planner.
// Throw roast::Error naming the option when a size is not positive or a name is unknown.
std::unique_ptr<Model> make_mlp(const InputSpec& input, const MlpOptions& options);
std::unique_ptr<Model> make_cnn(const InputSpec& input, const CnnOptions& options);
std::unique_ptr<Model> make_resnet(const InputSpec& input, const ResNetOptions& options);
std::unique_ptr<Model> make_bag(const InputSpec& input, const BagOptions& options);
std::unique_ptr<Model> make_transformer(const InputSpec& input, const TransformerOptions& options);

// Virtual parameters per layer (tensors grouped by name without their last component).
struct LayerParams {
  std::string layer;
  std::int64_t n_virtual = 0;
  std::int64_t n_exact = 0;  // of those, in exact (unshared) cells
};
std::vector<LayerParams> virtual_params_by_layer(const MemoryPlan& plan);

}  // namespace nn
}  // namespace roast
