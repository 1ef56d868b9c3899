// Models from the config's "model" object, through the model registry
// (roast/config_types.h). Engine code.
#pragma once

#include <memory>

#include "config/json_reader.h"
#include "roast/config_types.h"

namespace roast {

// Reads "type" (default "mlp") and that type's keys, each with its default recorded in the
// reader's resolved config, rejects keys no one read, then builds the model for `input`.
// Unknown types and keys are errors listing the valid choices.
std::unique_ptr<nn::Model> model_from_config(JsonReader& config, const nn::InputSpec& input);

// Adds mlp, cnn, resnet, bag and transformer; model_registry() calls it once.
void register_builtin_models(Registry<ModelType>& registry);

}  // namespace roast
