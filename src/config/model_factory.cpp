#include "config/model_factory.h"

#include "roast/limits.h"

namespace roast {
namespace {
// The built-in types read their keys through the same ConfigReader a program's own
// types get (roast/config_reader.h), so the public interface is exercised by every run.
float dropout_rate(ConfigReader& r, float fallback) {
  const float p = r.get<float>("dropout", fallback);
  if (p < 0.0f || p >= 1.0f) r.bad("dropout", "must be in [0, 1), got " + std::to_string(p), "\"dropout\": 0.1");
  return p;
}

std::vector<std::int64_t> positive_list(ConfigReader& r, const std::string& key, const std::vector<std::int64_t>& fallback,
                                        bool allow_empty) {
  const std::vector<std::int64_t> v = r.get<std::vector<std::int64_t>>(key, fallback);
  if (!allow_empty && v.empty()) r.bad(key, "needs at least one entry", "\"" + key + "\": [256]");
  if (std::int64_t(v.size()) > limits::kMaxLayers)
    r.bad(key, "has " + std::to_string(v.size()) + " entries, at most " + std::to_string(limits::kMaxLayers) + " allowed",
          "\"" + key + "\": [256, 128]");
  for (std::int64_t x : v)
    if (x <= 0 || x > limits::kMaxWidth)
      r.bad(key, "every entry must be an integer in [1, " + std::to_string(limits::kMaxWidth) + "], got " + std::to_string(x),
            "\"" + key + "\": [256, 128]");
  return v;
}

nn::MlpOptions parse_mlp(ConfigReader& r) {
  nn::MlpOptions o;
  o.hidden = positive_list(r, "hidden", o.hidden, true);
  o.activation = one_of(r, "activation", o.activation, {"relu", "gelu", "tanh"});
  o.dropout = dropout_rate(r, o.dropout);
  return o;
}

nn::CnnOptions parse_cnn(ConfigReader& r) {
  nn::CnnOptions o;
  std::vector<ConfigReader> stages = r.objects("stages");
  if (r.has("stages")) {
    if (stages.empty()) r.bad("stages", "needs at least one stage", R"("stages": [{"channels": 32, "convs": 2}])");
    if (std::int64_t(stages.size()) > limits::kMaxLayers)
      r.bad("stages", "has " + std::to_string(stages.size()) + " stages, at most " + std::to_string(limits::kMaxLayers) + " allowed",
            R"("stages": [{"channels": 32, "convs": 2}])");
    o.stages.clear();
    for (ConfigReader& s : stages) {
      o.stages.push_back({int_in_range(s, "channels", 32, 1, limits::kMaxWidth), int_in_range(s, "convs", 2, 1, limits::kMaxLayers)});
      s.finish();
    }
  }
  o.batch_norm = r.get<bool>("batch_norm", o.batch_norm);
  o.hidden = r.get<std::int64_t>("hidden", o.hidden);
  if (o.hidden < 0 || o.hidden > limits::kMaxWidth)
    r.bad("hidden", "must be in [0, " + std::to_string(limits::kMaxWidth) + "] (0: no hidden layer)", "\"hidden\": 256");
  o.dropout = dropout_rate(r, o.dropout);
  return o;
}

nn::ResNetOptions parse_resnet(ConfigReader& r) {
  nn::ResNetOptions o;
  o.widths = positive_list(r, "widths", o.widths, false);
  o.blocks_per_stage = int_in_range(r, "blocks_per_stage", o.blocks_per_stage, 1, limits::kMaxLayers);
  return o;
}

nn::BagOptions parse_bag(ConfigReader& r) {
  nn::BagOptions o;
  o.dim = int_in_range(r, "dim", o.dim, 1, limits::kMaxWidth);
  o.hidden = positive_list(r, "hidden", o.hidden, true);
  o.bigram_buckets = r.get<std::int64_t>("bigram_buckets", o.bigram_buckets);
  if (o.bigram_buckets < 0 || o.bigram_buckets > limits::kMaxBigramBuckets)
    r.bad("bigram_buckets", "must be in [0, " + std::to_string(limits::kMaxBigramBuckets) + "] (0: no bigrams)",
          "\"bigram_buckets\": 100000");
  o.dropout = dropout_rate(r, o.dropout);
  return o;
}

nn::TransformerOptions parse_transformer(ConfigReader& r) {
  nn::TransformerOptions o;
  o.dim = int_in_range(r, "dim", o.dim, 1, limits::kMaxWidth);
  o.heads = int_in_range(r, "heads", o.heads, 1, limits::kMaxWidth);
  if (o.dim % o.heads != 0)
    r.bad("heads", "must divide dim (" + std::to_string(o.dim) + "), got " + std::to_string(o.heads), "\"heads\": 4");
  o.layers = int_in_range(r, "layers", o.layers, 1, limits::kMaxLayers);
  o.ffn_dim = int_in_range(r, "ffn_dim", o.ffn_dim, 1, limits::kMaxWidth);
  o.pooling = one_of(r, "pooling", o.pooling, {"cls", "mean"});
  o.pre_norm = r.get<bool>("pre_norm", o.pre_norm);
  o.dropout = dropout_rate(r, o.dropout);
  return o;
}

void require_functions(const ModelType& type) {
  ROAST_CHECK(type.parse && type.build, "cannot register model \"", type.name,
              "\": it needs both a parse and a build function (roast::make_model_type makes both)");
}
}  // namespace

void register_builtin_models(Registry<ModelType>& registry) {
  registry.add(make_model_type("mlp", "fully connected layers on flattened images",
                               parse_mlp, nn::make_mlp));
  registry.add(make_model_type("cnn", "VGG-style convolution stages, then a fully connected layer (images)", parse_cnn,
                               nn::make_cnn));
  registry.add(make_model_type("resnet", "a ResNet of basic blocks (images)", parse_resnet, nn::make_resnet));
  registry.add(make_model_type("bag", "the mean of token embeddings (and hashed bigrams), then an MLP (text)",
                               parse_bag, nn::make_bag));
  registry.add(make_model_type("transformer", "a BERT-style encoder with learned positions (text)",
                               parse_transformer, nn::make_transformer));
}

Registry<ModelType>& model_registry() {
  static Registry<ModelType> registry("model", require_functions);
  static const bool builtins_added = (register_builtin_models(registry), true);
  (void)builtins_added;
  return registry;
}

std::unique_ptr<nn::Model> model_from_config(JsonReader& r, const nn::InputSpec& input) {
  const ModelType& type = read_registered(r, "type", "mlp", model_registry());
  ConfigReader config(r);
  const std::any options = type.parse(config);
  r.finish();
  return type.build(options, input);
}

}  // namespace roast
