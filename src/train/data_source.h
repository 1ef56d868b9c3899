// Turns the config's "data" object into train / validation / test sets, a tokenizer for
// text, the model's input spec, and batch loaders. Engine code.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/run_config.h"
#include "roast/data/image_transforms.h"
#include "roast/data/loader.h"
#include "roast/data/tokenizer.h"
#include "roast/nn/models.h"

namespace roast {

struct PreparedData {
  nn::InputSpec input;
  std::vector<std::string> class_names;
  bool text = false;
  // Images (uint8 pixels, normalised per batch with `stats`).
  std::shared_ptr<const data::ImageDataset> images[3];  // train, validation, test
  data::ChannelStats stats;
  // Text (encoded once).
  std::shared_ptr<const data::EncodedTexts> texts[3];
  std::vector<std::int32_t> labels[3];
  std::shared_ptr<const data::Tokenizer> tokenizer;
  double load_seconds = 0;

  enum Part { train = 0, validation = 1, test = 2 };
  std::int64_t size(Part part) const;
  // A loader over one part; training batches are shuffled (and augmented when configured).
  // Data-parallel ranks pass their shard: each makes its share of every batch (loader.h).
  std::unique_ptr<data::BatchLoader> loader(Part part, std::int64_t batch_size, std::uint64_t seed, bool augment,
                                            int shard = 0, int n_shards = 1) const;
};

// Reads the dataset named by config (an entry of dataset_registry(), roast/config_types.h).
// `run_dir` receives split.json for sets without a test split. A vocabulary given in
// `fixed_vocabulary` (from a checkpoint) replaces the one built from the training texts;
// `channel_stats` likewise (so evaluation normalises as training did).
PreparedData prepare_data(const DataConfig& config, const std::string& run_dir,
                          const std::vector<std::string>* fixed_vocabulary = nullptr,
                          const data::ChannelStats* channel_stats = nullptr);

// Converts a loader batch to a model batch on `device`: inputs, mask and labels are copied
// there once (no copy on the CPU).
nn::Batch to_model_batch(const data::Batch& batch, bool text, Device device = Device::cpu());

}  // namespace roast
