// Image models: mlp, cnn (VGG-style), resnet (small residual network).
#include "roast/nn/functional.h"
#include "roast/nn/models.h"
#include "roast/ops.h"

namespace roast {
namespace nn {
namespace {

Tensor activate(const std::string& name, const Tensor& x) {
  if (name == "gelu") return gelu(x);
  if (name == "tanh") return roast::tanh(x);
  return relu(x);
}

Tensor flatten(const Tensor& x) { return reshape(x, {x.size(0), -1}); }

void check_images(const Batch& batch, const InputSpec& in, const char* model) {
  ROAST_CHECK(batch.images.defined(), model, ": needs image batches; this batch has no images (is the dataset a text set?)");
  ROAST_CHECK(batch.images.dim() == 4 && batch.images.size(1) == in.channels && batch.images.size(2) == in.height &&
                  batch.images.size(3) == in.width,
              model, ": expects images [B, ", in.channels, ", ", in.height, ", ", in.width, "], got ",
              batch.images.describe());
}

class Mlp final : public Model {
 public:
  Mlp(const InputSpec& in, const MlpOptions& o) : Model(""), input_(in), options_(o) {
    ROAST_CHECK(o.activation == "relu" || o.activation == "gelu" || o.activation == "tanh",
                "mlp: activation must be relu, gelu or tanh, got \"", o.activation, "\"");
    std::int64_t width = in.channels * in.height * in.width;
    for (std::size_t i = 0; i < o.hidden.size(); ++i) {
      layers_.push_back(std::make_unique<Linear>("fc" + std::to_string(i + 1), width, o.hidden[i]));
      width = o.hidden[i];
    }
    layers_.push_back(std::make_unique<Linear>("classifier", width, in.n_classes));
  }
  const char* type() const override { return "mlp"; }
  void declare(Planner& p) override {
    for (auto& l : layers_) l->declare(p);
  }
  Tensor forward(const Batch& batch, Context& ctx) override {
    check_images(batch, input_, "mlp");
    Tensor h = flatten(batch.images);
    for (std::size_t i = 0; i + 1 < layers_.size(); ++i)
      h = dropout(activate(options_.activation, layers_[i]->forward(h, ctx)), options_.dropout, ctx);
    return layers_.back()->forward(h, ctx);
  }

 private:
  InputSpec input_;
  MlpOptions options_;
  std::vector<std::unique_ptr<Linear>> layers_;
};

class Cnn final : public Model {
 public:
  Cnn(const InputSpec& in, const CnnOptions& o) : Model(""), input_(in), options_(o) {
    ROAST_CHECK(!o.stages.empty(), "cnn: needs at least one stage");
    std::int64_t channels = in.channels, h = in.height, w = in.width;
    for (std::size_t s = 0; s < o.stages.size(); ++s) {
      ROAST_CHECK(o.stages[s].channels > 0 && o.stages[s].convs > 0, "cnn: stage ", s, " needs positive channels and convs");
      for (std::int64_t c = 0; c < o.stages[s].convs; ++c) {
        const std::string name = "stage" + std::to_string(s + 1) + ".conv" + std::to_string(c + 1);
        convs_.push_back(std::make_unique<Conv2d>(name, channels, o.stages[s].channels, 3, 1, 1, !o.batch_norm));
        if (o.batch_norm) norms_.push_back(std::make_unique<BatchNorm>(name + ".bn", o.stages[s].channels));
        channels = o.stages[s].channels;
      }
      ROAST_CHECK(h >= 2 && w >= 2, "cnn: ", o.stages.size(), " stages halve a ", in.height, "x", in.width,
                  " image below 1x1; use fewer stages");
      h /= 2, w /= 2;
    }
    std::int64_t width = channels * h * w;
    if (o.hidden > 0) {
      hidden_ = std::make_unique<Linear>("fc", width, o.hidden);
      width = o.hidden;
    }
    classifier_ = std::make_unique<Linear>("classifier", width, in.n_classes);
  }
  const char* type() const override { return "cnn"; }
  void declare(Planner& p) override {
    for (std::size_t i = 0; i < convs_.size(); ++i) {
      convs_[i]->declare(p);
      if (!norms_.empty()) norms_[i]->declare(p);
    }
    if (hidden_) hidden_->declare(p);
    classifier_->declare(p);
  }
  void buffers(std::vector<std::pair<std::string, Tensor*>>& out) override {
    for (auto& n : norms_) n->buffers(out);
  }
  Tensor forward(const Batch& batch, Context& ctx) override {
    check_images(batch, input_, "cnn");
    Tensor h = batch.images;
    std::size_t at = 0;
    for (const CnnStage& stage : options_.stages) {
      for (std::int64_t c = 0; c < stage.convs; ++c, ++at) {
        if (norms_.empty()) {
          h = relu(convs_[at]->forward(h, ctx));
        } else {  // conv rows -> batch norm + ReLU + layout change, one op
          std::int64_t oh = 0, ow = 0;
          const std::int64_t b = h.size(0);
          const Tensor rows = convs_[at]->forward_rows(h, ctx, &oh, &ow);
          h = norms_[at]->forward_conv(rows, b, oh, ow, true, ctx);
        }
      }
      h = max_pool2d(h, 2, 2);
    }
    h = flatten(h);
    if (hidden_) h = dropout(relu(hidden_->forward(h, ctx)), options_.dropout, ctx);
    return classifier_->forward(h, ctx);
  }

 private:
  InputSpec input_;
  CnnOptions options_;
  std::vector<std::unique_ptr<Conv2d>> convs_;
  std::vector<std::unique_ptr<BatchNorm>> norms_;
  std::unique_ptr<Linear> hidden_, classifier_;
};

// conv-bn-relu-conv-bn plus a shortcut (1x1 conv + bn when the shape changes), then relu.
class BasicBlock final : public Module {
 public:
  BasicBlock(const std::string& name, std::int64_t in, std::int64_t out, std::int64_t stride)
      : Module(name), conv1_(child("conv1"), in, out, 3, stride, 1, false), bn1_(child("bn1"), out),
        conv2_(child("conv2"), out, out, 3, 1, 1, false), bn2_(child("bn2"), out) {
    if (stride != 1 || in != out) {
      shortcut_ = std::make_unique<Conv2d>(child("shortcut"), in, out, 1, stride, 0, false);
      shortcut_bn_ = std::make_unique<BatchNorm>(child("shortcut_bn"), out);
    }
  }
  void declare(Planner& p) override {
    conv1_.declare(p), bn1_.declare(p), conv2_.declare(p), bn2_.declare(p);
    if (shortcut_) shortcut_->declare(p), shortcut_bn_->declare(p);
  }
  void buffers(std::vector<std::pair<std::string, Tensor*>>& out) override {
    bn1_.buffers(out), bn2_.buffers(out);
    if (shortcut_bn_) shortcut_bn_->buffers(out);
  }
  Tensor forward(const Tensor& x, Context& ctx) {
    const Tensor h = bn2_.forward(conv2_.forward(relu(bn1_.forward(conv1_.forward(x, ctx), ctx)), ctx), ctx);
    const Tensor skip = shortcut_ ? shortcut_bn_->forward(shortcut_->forward(x, ctx), ctx) : x;
    return relu(add(h, skip));
  }

 private:
  Conv2d conv1_;
  BatchNorm bn1_;
  Conv2d conv2_;
  BatchNorm bn2_;
  std::unique_ptr<Conv2d> shortcut_;
  std::unique_ptr<BatchNorm> shortcut_bn_;
};

class ResNet final : public Model {
 public:
  ResNet(const InputSpec& in, const ResNetOptions& o)
      : Model(""), input_(in), stem_("stem", in.channels, o.widths.at(0), 3, 1, 1, false), stem_bn_("stem_bn", o.widths[0]) {
    ROAST_CHECK(o.blocks_per_stage > 0, "resnet: blocks_per_stage must be positive");
    std::int64_t channels = o.widths[0];
    for (std::size_t s = 0; s < o.widths.size(); ++s)
      for (std::int64_t b = 0; b < o.blocks_per_stage; ++b) {
        const std::int64_t stride = (s > 0 && b == 0) ? 2 : 1;
        blocks_.push_back(std::make_unique<BasicBlock>("stage" + std::to_string(s + 1) + ".block" + std::to_string(b + 1),
                                                       channels, o.widths[s], stride));
        channels = o.widths[s];
      }
    classifier_ = std::make_unique<Linear>("classifier", channels, in.n_classes);
  }
  const char* type() const override { return "resnet"; }
  void declare(Planner& p) override {
    stem_.declare(p), stem_bn_.declare(p);
    for (auto& b : blocks_) b->declare(p);
    classifier_->declare(p);
  }
  void buffers(std::vector<std::pair<std::string, Tensor*>>& out) override {
    stem_bn_.buffers(out);
    for (auto& b : blocks_) b->buffers(out);
  }
  Tensor forward(const Batch& batch, Context& ctx) override {
    check_images(batch, input_, "resnet");
    Tensor h = relu(stem_bn_.forward(stem_.forward(batch.images, ctx), ctx));
    for (auto& b : blocks_) h = b->forward(h, ctx);
    return classifier_->forward(global_avg_pool2d(h), ctx);
  }

 private:
  InputSpec input_;
  Conv2d stem_;
  BatchNorm stem_bn_;
  std::vector<std::unique_ptr<BasicBlock>> blocks_;
  std::unique_ptr<Linear> classifier_;
};

}  // namespace

std::unique_ptr<Model> make_mlp(const InputSpec& in, const MlpOptions& o) { return std::make_unique<Mlp>(in, o); }
std::unique_ptr<Model> make_cnn(const InputSpec& in, const CnnOptions& o) { return std::make_unique<Cnn>(in, o); }
std::unique_ptr<Model> make_resnet(const InputSpec& in, const ResNetOptions& o) {
  ROAST_CHECK(!o.widths.empty(), "resnet: widths needs at least one stage width");
  return std::make_unique<ResNet>(in, o);
}

}  // namespace nn
}  // namespace roast
