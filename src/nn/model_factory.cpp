#include "nn/model_factory.h"

#include "roast/limits.h"

namespace roast {
namespace nn {
namespace {
float dropout_rate(JsonReader& r, float fallback) {
  const float p = r.get<float>("dropout", fallback);
  if (p < 0.0f || p >= 1.0f) r.bad("dropout", "must be in [0, 1), got " + std::to_string(p), "\"dropout\": 0.1");
  return p;
}

std::vector<std::int64_t> positive_list(JsonReader& r, const std::string& key, const std::vector<std::int64_t>& fallback,
                                        bool allow_empty) {
  const std::vector<std::int64_t> v = r.get<std::vector<std::int64_t>>(key, fallback);
  if (!allow_empty && v.empty()) r.bad(key, "needs at least one entry", "\"" + key + "\": [256]");
  if (std::int64_t(v.size()) > limits::kMaxLayers)
    r.bad(key, "has " + std::to_string(v.size()) + " entries, at most " + std::to_string(limits::kMaxLayers) + " allowed", "\"" + key + "\": [256, 128]");
  for (std::int64_t x : v)
    if (x <= 0 || x > limits::kMaxWidth)
      r.bad(key, "every entry must be an integer in [1, " + std::to_string(limits::kMaxWidth) + "], got " + std::to_string(x), "\"" + key + "\": [256, 128]");
  return v;
}
}  // namespace

std::unique_ptr<Model> build_model(JsonReader& r, const InputSpec& input) {
  const std::string type = one_of(r, "type", "mlp", model_types());
  std::unique_ptr<Model> model;
  if (type == "mlp") {
    MlpOptions o;
    o.hidden = positive_list(r, "hidden", o.hidden, true);
    o.activation = one_of(r, "activation", o.activation, {"relu", "gelu", "tanh"});
    o.dropout = dropout_rate(r, o.dropout);
    model = make_mlp(input, o);
  } else if (type == "cnn") {
    CnnOptions o;
    std::vector<JsonReader> stages = r.objects("stages");
    if (r.has("stages")) {
      if (stages.empty()) r.bad("stages", "needs at least one stage", R"("stages": [{"channels": 32, "convs": 2}])");
      if (std::int64_t(stages.size()) > limits::kMaxLayers)
        r.bad("stages", "has " + std::to_string(stages.size()) + " stages, at most " + std::to_string(limits::kMaxLayers) + " allowed",
              R"("stages": [{"channels": 32, "convs": 2}])");
      o.stages.clear();
      for (JsonReader& s : stages) {
        o.stages.push_back({int_in_range(s, "channels", 32, 1, limits::kMaxWidth), int_in_range(s, "convs", 2, 1, limits::kMaxLayers)});
        s.finish();
      }
    }
    o.batch_norm = r.get<bool>("batch_norm", o.batch_norm);
    o.hidden = r.get<std::int64_t>("hidden", o.hidden);
    if (o.hidden < 0 || o.hidden > limits::kMaxWidth)
      r.bad("hidden", "must be in [0, " + std::to_string(limits::kMaxWidth) + "] (0: no hidden layer)", "\"hidden\": 256");
    o.dropout = dropout_rate(r, o.dropout);
    model = make_cnn(input, o);
  } else if (type == "resnet") {
    ResNetOptions o;
    o.widths = positive_list(r, "widths", o.widths, false);
    o.blocks_per_stage = int_in_range(r, "blocks_per_stage", o.blocks_per_stage, 1, limits::kMaxLayers);
    model = make_resnet(input, o);
  } else if (type == "bag") {
    BagOptions o;
    o.dim = int_in_range(r, "dim", o.dim, 1, limits::kMaxWidth);
    o.hidden = positive_list(r, "hidden", o.hidden, true);
    o.bigram_buckets = r.get<std::int64_t>("bigram_buckets", o.bigram_buckets);
    if (o.bigram_buckets < 0 || o.bigram_buckets > limits::kMaxBigramBuckets)
      r.bad("bigram_buckets", "must be in [0, " + std::to_string(limits::kMaxBigramBuckets) + "] (0: no bigrams)", "\"bigram_buckets\": 100000");
    o.dropout = dropout_rate(r, o.dropout);
    model = make_bag(input, o);
  } else {
    TransformerOptions o;
    o.dim = int_in_range(r, "dim", o.dim, 1, limits::kMaxWidth);
    o.heads = int_in_range(r, "heads", o.heads, 1, limits::kMaxWidth);
    if (o.dim % o.heads != 0)
      r.bad("heads", "must divide dim (" + std::to_string(o.dim) + "), got " + std::to_string(o.heads), "\"heads\": 4");
    o.layers = int_in_range(r, "layers", o.layers, 1, limits::kMaxLayers);
    o.ffn_dim = int_in_range(r, "ffn_dim", o.ffn_dim, 1, limits::kMaxWidth);
    o.pooling = one_of(r, "pooling", o.pooling, {"cls", "mean"});
    o.pre_norm = r.get<bool>("pre_norm", o.pre_norm);
    o.dropout = dropout_rate(r, o.dropout);
    model = make_transformer(input, o);
  }
  r.finish();
  return model;
}

}  // namespace nn
}  // namespace roast
