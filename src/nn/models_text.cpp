// Text models: bag (fastText-style mean of embeddings) and transformer (BERT-style encoder).
#include <map>

#include "kernels/backend.h"
#include "nn/embedding_op.h"
#include "roast/nn/models.h"
#include "roast/ops.h"

namespace roast {
namespace nn {
namespace {

void check_text(const Batch& batch, const InputSpec& in, const char* model) {
  ROAST_CHECK(batch.ids.defined() && batch.mask.defined(), model,
              ": needs token batches (ids and mask); this batch has none (is the dataset an image set?)");
  ROAST_CHECK(batch.ids.dim() == 2 && batch.mask.shape() == batch.ids.shape(), model, ": ids ", batch.ids.describe(),
              " and mask ", batch.mask.describe(), " must both be [B, T]");
  ROAST_CHECK(in.max_length == 0 || batch.ids.size(1) <= in.max_length, model, ": sequences of length ",
              batch.ids.size(1), " exceed max_length ", in.max_length);
}

// Mean over the tokens of x [B, T, D] where mask [B, T] is 1.
Tensor masked_mean(const Tensor& x, const Tensor& mask) {
  const Tensor m = reshape(mask.detach(), {mask.size(0), mask.size(1), 1});
  const Tensor total = sum(mul(x, m), 1);  // [B, D]
  const Tensor count = add_scalar(sum(mask.detach(), 1, true), 1e-6f);
  return div(total, count);
}

class Bag final : public Model {
 public:
  Bag(const InputSpec& in, const BagOptions& o)
      : Model(""), input_(in), options_(o), embedding_("embedding", in.vocab_size + o.bigram_buckets, o.dim, 1.0f) {
    ROAST_CHECK(in.vocab_size > 0, "bag: the vocabulary size must be positive");
    ROAST_CHECK(o.bigram_buckets >= 0, "bag: bigram_buckets must be >= 0");
    std::int64_t width = o.dim;
    for (std::size_t i = 0; i < o.hidden.size(); ++i) {
      hidden_.push_back(std::make_unique<Linear>("fc" + std::to_string(i + 1), width, o.hidden[i]));
      width = o.hidden[i];
    }
    classifier_ = std::make_unique<Linear>("classifier", width, in.n_classes);
  }
  const char* type() const override { return "bag"; }
  void declare(Planner& p) override {
    embedding_.declare(p);
    for (auto& l : hidden_) l->declare(p);
    classifier_->declare(p);
  }
  Tensor forward(const Batch& batch, Context& ctx) override {
    check_text(batch, input_, "bag");
    Tensor pooled = masked_mean(embedding_.forward(batch.ids, ctx), batch.mask);
    if (options_.bigram_buckets > 0 && batch.ids.size(1) > 1) {
      Tensor ids, mask;
      bigrams(batch, &ids, &mask);
      pooled = add(pooled, masked_mean(embedding_.forward(ids, ctx), mask));
    }
    Tensor h = dropout(pooled, options_.dropout, ctx);
    for (auto& l : hidden_) h = dropout(relu(l->forward(h, ctx)), options_.dropout, ctx);
    return classifier_->forward(h, ctx);
  }

 private:
  // Bigram (a, b) of adjacent tokens -> row vocab + H(a, b) mod buckets; masked where either is padding.
  // Computed where the batch lives (bigram_ids, kernels/kernel_list.inc): no copy to the host.
  void bigrams(const Batch& batch, Tensor* ids, Tensor* mask) const {
    const std::int64_t b = batch.ids.size(0), t = batch.ids.size(1);
    const Device device = batch.ids.device();
    ROAST_CHECK(batch.ids.dtype() == DType::i32 && batch.mask.dtype() == DType::f32 && batch.mask.device() == device,
                "bag: bigrams need i32 ids and an f32 mask on one device, got ", batch.ids.describe(), " and ",
                batch.mask.describe());
    *ids = Tensor::empty({b, t - 1}, DType::i32, device);
    *mask = Tensor::empty({b, t - 1}, DType::f32, device);
    ROAST_KERNEL(device, bigram_ids, batch.ids.data<std::int32_t>(), batch.mask.data<float>(), ids->data<std::int32_t>(),
                 mask->data<float>(), b, t, input_.vocab_size, options_.bigram_buckets);
  }

  InputSpec input_;
  BagOptions options_;
  Embedding embedding_;
  std::vector<std::unique_ptr<Linear>> hidden_;
  std::unique_ptr<Linear> classifier_;
};

class Transformer final : public Model {
 public:
  Transformer(const InputSpec& in, const TransformerOptions& o)
      : Model(""), input_(in), options_(o), tokens_("token_embedding", in.vocab_size, o.dim, 0.02f),
        positions_("position_embedding", in.max_length, o.dim, 0.02f), final_norm_("final_norm", o.dim),
        classifier_("classifier", o.dim, in.n_classes) {
    ROAST_CHECK(in.vocab_size > 0 && in.max_length > 0, "transformer: vocabulary size and max_length must be positive");
    ROAST_CHECK(o.pooling == "cls" || o.pooling == "mean", "transformer: pooling must be cls or mean, got \"", o.pooling, "\"");
    ROAST_CHECK(o.layers > 0, "transformer: layers must be positive");
    for (std::int64_t l = 0; l < o.layers; ++l)
      blocks_.push_back(std::make_unique<TransformerBlock>("block" + std::to_string(l + 1), o.dim, o.heads, o.ffn_dim,
                                                           o.pre_norm, o.dropout));
  }
  const char* type() const override { return "transformer"; }
  void declare(Planner& p) override {
    tokens_.declare(p), positions_.declare(p);
    for (auto& b : blocks_) b->declare(p);
    final_norm_.declare(p), classifier_.declare(p);
  }
  Tensor forward(const Batch& batch, Context& ctx) override {
    check_text(batch, input_, "transformer");
    const std::int64_t b = batch.ids.size(0);
    // Token + position rows and the dropout mask in one op; the seed is drawn where
    // nn::dropout would draw it, so the masks of the whole pass are unchanged.
    const float p = ctx.training ? options_.dropout : 0.0f;
    const std::uint64_t salt = p > 0.0f ? ctx.next_dropout_salt() : 0;
    Tensor h = embedding_position_lookup(ctx.memory->params(), ctx.mapping(tokens_.table()),
                                         ctx.mapping(positions_.table()), batch.ids, p, salt, ctx.numerics,
                                         ctx.step_seed);
    ctx.key_padding_mask = batch.mask;
    for (auto& block : blocks_) h = block->forward(h, ctx);
    ctx.key_padding_mask = Tensor();
    if (options_.pre_norm) h = final_norm_.forward(h, ctx);
    const Tensor pooled = options_.pooling == "cls" ? reshape(slice(h, 1, 0, 1), {b, options_.dim}) : masked_mean(h, batch.mask);
    return classifier_.forward(pooled, ctx);
  }

 private:
  InputSpec input_;
  TransformerOptions options_;
  Embedding tokens_, positions_;
  std::vector<std::unique_ptr<TransformerBlock>> blocks_;
  LayerNorm final_norm_;
  Linear classifier_;
};

}  // namespace

std::unique_ptr<Model> make_bag(const InputSpec& in, const BagOptions& o) { return std::make_unique<Bag>(in, o); }
std::unique_ptr<Model> make_transformer(const InputSpec& in, const TransformerOptions& o) {
  return std::make_unique<Transformer>(in, o);
}

std::vector<LayerParams> virtual_params_by_layer(const MemoryPlan& plan) {
  std::vector<LayerParams> out;
  std::map<std::string, std::size_t> index;
  for (const PlannedTensor& t : plan.tensors()) {
    const std::size_t dot = t.spec.name.find_last_of('.');
    const std::string layer = dot == std::string::npos ? t.spec.name : t.spec.name.substr(0, dot);
    auto it = index.find(layer);
    if (it == index.end()) {
      it = index.emplace(layer, out.size()).first;
      out.push_back({layer, 0, 0});
    }
    out[it->second].n_virtual += t.n_virtual();
    if (t.exact()) out[it->second].n_exact += t.n_virtual();
  }
  return out;
}

}  // namespace nn
}  // namespace roast
