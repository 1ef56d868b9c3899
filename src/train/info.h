// `roast-train info`: what a config builds, without training. Engine code.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace roast {

// Virtual parameters per layer, memory cells and bytes, compression, scheme and per-cell
// load statistics of the model a config describes. Text models are sized with
// data.vocab_size (the vocabulary a run builds can be smaller); sets whose shape is not
// known in advance are read.
nlohmann::json describe_config(const std::string& config_path, const std::vector<std::string>& overrides);

}  // namespace roast
