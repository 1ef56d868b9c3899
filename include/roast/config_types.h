// The model types and datasets a run's config can name ("model.type", "data.dataset"),
// and how a program adds its own.
//
// Both registries start with the engine's built-in entries (docs/config.md lists them).
// A program that links the library may add entries before it trains, evaluates or
// describes a config; they then work everywhere a built-in one does in that process
// (roast::train, roast::TrainedModel::load, resolved configs, checkpoints), and unknown
// names list them among the valid ones. The roast-train executable knows only the
// built-in entries. Example (a model type):
//
//   struct ProbeOptions { std::int64_t width = 16; };
//   roast::model_registry().add(roast::make_model_type(
//       "probe", "a one-hidden-layer probe",
//       [](roast::ConfigReader& config) {            // reads every key but "type"
//         ProbeOptions o;
//         o.width = roast::positive_int(config, "width", o.width);
//         return o;
//       },
//       [](const roast::nn::InputSpec& input, const ProbeOptions& o) {
//         return make_probe(input, o);             // std::unique_ptr<roast::nn::Model>
//       }));
//   // then "model": {"type": "probe", "width": 32} in a config.
#pragma once

#include <any>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "roast/config_reader.h"
#include "roast/data/dataset.h"
#include "roast/nn/models.h"
#include "roast/registry.h"

namespace roast {

struct ModelType {
  std::string name;         // the value of "model.type"
  std::string description;  // one line: what the model is and which data it takes
  // Reads the type's keys (every key of the model object but "type"), each with its
  // default, and returns the options (any copyable value). Fails through config.bad().
  // The engine rejects the keys it did not read afterwards.
  std::function<std::any(ConfigReader& config)> parse;
  // The model for `input` from what parse returned; not yet declared to a planner.
  // Throws roast::Error when the options do not fit the input.
  std::function<std::unique_ptr<nn::Model>(const std::any& options, const nn::InputSpec& input)> build;
};

// A ModelType from a typed pair: parse(ConfigReader&) -> Options, and
// build(const nn::InputSpec&, const Options&) -> std::unique_ptr<nn::Model>.
template <typename Parse, typename Build>
ModelType make_model_type(std::string name, std::string description, Parse parse, Build build) {
  using Options = std::decay_t<std::invoke_result_t<Parse&, ConfigReader&>>;
  ModelType type;
  type.name = std::move(name);
  type.description = std::move(description);
  type.parse = [parse](ConfigReader& config) -> std::any { return parse(config); };
  type.build = [build](const std::any& options, const nn::InputSpec& input) -> std::unique_ptr<nn::Model> {
    return build(input, std::any_cast<const Options&>(options));
  };
  return type;
}

// Model types by name; first use registers the built-in ones (mlp, cnn, resnet, bag,
// transformer). add() throws roast::Error unless parse and build are set.
Registry<ModelType>& model_registry();

struct DatasetType {
  std::string name;  // the value of "data.dataset"
  // What data.path must hold and where the files come from; shown when it is missing.
  std::string files;
  // Where the files are looked for when data.path is "": an absolute path as is, a
  // relative one under $ROAST_DATA_DIR (default "data"); "" means the dataset's name.
  std::string default_path;
  // The model's input without reading any file (`roast-train info`); for text sets
  // vocab_size and max_length come from data.vocab_size and data.seq_len. Unset: the
  // files are read to find it.
  std::optional<nn::InputSpec> known_input;
  // Exactly one of the two loaders is set: it reads the training and test samples
  // found at `path` (validation is split off the training samples by the engine). The
  // engine validates what it returns (ImageDataset / TextDataset::validate) and throws
  // roast::Error naming the dataset when a set is empty or inconsistent; a loader throws
  // roast::Error for unreadable files, naming them.
  std::function<void(const std::string& path, data::ImageDataset& train, data::ImageDataset& test)> load_images;
  std::function<void(const std::string& path, data::TextDataset& train, data::TextDataset& test)> load_texts;
  // Text sets without a test split: load_texts puts the whole corpus in `train`; the
  // engine removes duplicate texts and splits off data.test_fraction (stratified,
  // recorded in the run's split.json).
  bool split_test = false;

  bool text() const { return static_cast<bool>(load_texts); }
};

// Datasets by name; first use registers the built-in ones (fashion-mnist, mnist, cifar10,
// cifar100, imdb, reuters-r8, ag-news, dbpedia, csv, jsonl, tsv). add() throws
// roast::Error unless exactly one loader is set.
Registry<DatasetType>& dataset_registry();

}  // namespace roast
