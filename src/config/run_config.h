// The configuration of one training run, read strictly from JSON (docs/config.md lists
// every key with its default). parse_run_config fills every default and returns the
// resolved JSON that the run directory keeps as resolved_config.json.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "roast/optim.h"
#include "roast/plan.h"

namespace roast {

struct DataConfig {
  std::string dataset = "fashion-mnist";  // a name of dataset_registry() (roast/config_types.h)
  std::string path;                        // folder or file; "" = the dataset's default location
  float validation_fraction = 0.1f;        // of the training split, stratified
  float test_fraction = 0.2f;              // sets without a test split (imdb, reuters-r8)
  std::uint64_t split_seed = 1;
  // Text
  std::string tokenizer = "word";  // word | wordpiece
  std::string vocab_file;          // wordpiece: BERT vocab.txt
  std::int64_t vocab_size = 30000;
  std::int64_t min_frequency = 2;
  std::int64_t seq_len = 256;
  // Images
  bool normalize = true;
  bool augment = false;  // random crop (padding 4) and horizontal flip; 32x32 sets
  std::int64_t limit_train = 0;  // use only the first N training samples (0: all); for quick runs
};

struct TrainConfig {
  std::int64_t epochs = 5;
  std::int64_t batch_size = 128;
  std::int64_t eval_batch_size = 512;
  std::int64_t eval_every = 0;        // steps between evaluations; 0 = once per epoch
  std::int64_t early_stopping = 0;    // evaluations without improvement before stopping; 0 = off
  float label_smoothing = 0.0f;
  std::int64_t log_every = 50;        // steps between plain progress lines (non-terminal output)
  std::int64_t max_steps = 0;         // stop after this many steps (0: no limit)
  // CUDA: capture the training step once as a CUDA graph and replay it while the batch shape
  // repeats (docs/gpu.md). Ignored on the CPU. cuda_graphs_explicit: the config said so (then a
  // step that cannot be captured is an error instead of a warning and a fallback). On by
  // default since the capture passed its GPU check (docs/gpu.md, "Status").
  bool cuda_graphs = true;
  bool cuda_graphs_explicit = false;
};

struct RunConfig {
  std::string name = "run";
  std::uint64_t seed = 1;
  std::string device = "cpu";      // cpu | cuda | cuda:N (checked against the machine by training_device)
  std::string precision = "fp32";  // fp32 | tf32 | bf16: numerics_of(config).precision (roast/backend.h)
  bool deterministic = false;      // roast::set_deterministic for the run (CUDA only)
  std::int64_t threads = 0;  // OpenMP threads; 0 = all cores
  DataConfig data;
  nlohmann::json model;      // validated by model_from_config (model_factory.h) when the input is known
  MemoryConfig memory;
  OptimizerConfig optimizer;
  ScheduleConfig schedule;
  TrainConfig train;
};

// Parses and validates everything but the model object (which needs the data's shape);
// `resolved` receives the config with every default filled in. `source` names the file.
RunConfig parse_run_config(const nlohmann::json& config, const std::string& source, nlohmann::json* resolved);

}  // namespace roast
