#include "train/info.h"

#include "roast/config_types.h"
#include "train/session.h"

namespace roast {
namespace {
// The input a config's dataset gives without reading its files; false when they must be read.
bool known_input(const DataConfig& d, nn::InputSpec* in) {
  const DatasetType& type = dataset_registry().at(d.dataset, "data.dataset");
  if (!type.known_input) return false;
  *in = *type.known_input;
  if (in->text) in->vocab_size = d.vocab_size, in->max_length = d.seq_len;
  return true;
}

nlohmann::json stats_json(const LoadStats& s) {
  return {{"cells", s.n_cells},       {"empty_cells", s.n_empty_cells}, {"empty_share", s.empty_share()},
          {"min_load", s.min_load},   {"mean_load", s.mean_load},       {"max_load", s.max_load},
          {"std_load", s.std_load}};
}
}  // namespace

nlohmann::json describe_config(const std::string& path, const std::vector<std::string>& overrides) {
  Session s = open_config(path, overrides);
  nn::InputSpec input;
  std::vector<std::string> classes;
  if (!known_input(s.config.data, &input)) {
    const PreparedData data = prepare_data(s.config.data, ".");
    input = data.input;
    classes = data.class_names;
  }
  build_model(s, input, classes);
  const MemoryPlan& plan = s.memory->plan();
  nlohmann::json layers = nlohmann::json::array();
  for (const nn::LayerParams& l : nn::virtual_params_by_layer(plan))
    layers.push_back({{"layer", l.layer}, {"virtual_params", l.n_virtual}, {"exact_params", l.n_exact}});
  nlohmann::json tensors = nlohmann::json::array();
  for (const PlannedTensor& t : plan.tensors())
    tensors.push_back({{"name", t.spec.name},
                       {"kind", kind_name(t.spec.kind)},
                       {"shape", {t.spec.rows, t.spec.cols}},
                       {"scheme", scheme_name(t.mapping.scheme)},
                       {"region_base", t.mapping.region_base},
                       {"region_floats", t.mapping.region_size},
                       {"lambda", t.mapping.lambda}});
  const MemoryLoad load = load_stats(plan);
  nlohmann::json regions = nlohmann::json::array();
  for (const RegionLoad& r : load.regions)
    regions.push_back({{"region", r.region.name}, {"base", r.region.base}, {"floats", r.region.n_floats}, {"load", stats_json(r.stats)}});
  return {{"config", path},
          {"model", s.model->type()},
          {"scheme", scheme_name(plan.config().scheme)},
          {"virtual_params", plan.n_virtual()},
          {"memory_floats", plan.n_floats()},
          {"memory_bytes", plan.n_floats() * 4},
          {"exact_floats", plan.n_exact_floats()},
          {"compression", plan.compression()},
          {"compression_hashed", plan.compression_hashed()},
          {"hashed_params", plan.n_hashed_virtual()},
          {"compression_counted_over", plan.compression_over_hashed() ? "hashed" : "all"},
          {"small_tensors_hashed", plan.n_small_hashed()},
          {"mapping", plan.config().placement == Placement::fold ? "fold" : "hash"},
          {"tile", {plan.tile_rows(), plan.tile_cols()}},
          {"embedding_chunk", plan.embedding_chunk()},
          {"unused_floats", plan.n_unused_floats()},
          {"layers", layers},
          {"tensors", tensors},
          {"load", stats_json(load.total)},
          {"regions", regions}};
}

}  // namespace roast
