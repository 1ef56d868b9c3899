// Builds a model from its JSON object (the config's "model" key); engine code.
#pragma once

#include <memory>

#include "config/json_reader.h"
#include "roast/nn/models.h"

namespace roast {
namespace nn {

// Reads "type" and that type's keys (each with its default recorded in the reader's
// resolved config); unknown types and keys are errors listing the valid choices.
std::unique_ptr<Model> build_model(JsonReader& config, const InputSpec& input);

}  // namespace nn
}  // namespace roast
