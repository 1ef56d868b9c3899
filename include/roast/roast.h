// roast: a C++17 training engine whose only parameter store is one ROAST memory.
//
// This header includes the whole public API. Link the target roast::roast
// (find_package(roast REQUIRED), docs/embedding.md); a consumer needs no CUDA, Eigen or
// JSON headers, and roast/config.h says how the library was built (ROAST_WITH_CUDA).
// Every function reports bad input and misuse by throwing roast::Error with a message
// that names what was wrong and how to fix it.
//
// Tutorial: build a model from C++, train a step, save, load.
//
//   #include <roast/roast.h>
//
//   // 1. A model: an MLP for 1x28x28 images and 10 classes (nn/models.h).
//   roast::nn::InputSpec input;                 // channels 1, 28 x 28, n_classes 2 by default
//   input.n_classes = 10;
//   roast::nn::MlpOptions options;
//   options.hidden = {128};
//   std::unique_ptr<roast::nn::Model> model = roast::nn::make_mlp(input, options);
//
//   // 2. Its memory: the model declares its virtual tensors to a planner, the plan sizes
//   //    one memory of m floats for them (here n / m = 10, plan.h) and maps each tensor
//   //    into it; the Memory (memory.h) allocates and initialises those m floats.
//   roast::Planner planner;
//   model->declare(planner);
//   roast::MemoryConfig memory_config;           // scheme roast, tiles 32 x 64
//   memory_config.compression = 10;
//   roast::Memory memory(planner.finalize(memory_config));
//
//   // 3. One training step on a batch: images f32 [B, 1, 28, 28], labels i32 [B].
//   roast::OptimizerConfig optimizer_config;     // adam, lr 1e-3 (optim.h)
//   roast::Optimizer optimizer(optimizer_config);
//   roast::nn::Batch batch;
//   batch.images = roast::randn({32, 1, 28, 28}, /*seed=*/1);
//   batch.labels = roast::Tensor::from_vector(std::vector<std::int32_t>(32, 3), {32});
//   memory.zero_grad();
//   roast::nn::Context ctx(memory, /*train=*/true, /*seed=*/0);
//   roast::Tensor loss = roast::cross_entropy(model->forward(batch, ctx), batch.labels);
//   loss.backward();                             // gradients land in memory.grad()
//   roast::Tensor params = memory.params(), grad = memory.grad();
//   optimizer.step(params, grad, [&](const std::string& name) { return memory.slot(name); },
//                  optimizer_config.lr);
//
//   // 4. Save: the trainable state is exactly the memory (checkpoint.h). The map from
//   //    weights to cells is recomputed from the plan, so the same model code and memory
//   //    config must be used to load it (keep them in the header, e.g. as JSON text).
//   roast::Checkpoint checkpoint;
//   checkpoint.header_json = "{\"model\": \"mlp-128\"}";
//   checkpoint.tensors.emplace_back("memory", memory.params());
//   roast::save_checkpoint("model.ckpt", checkpoint);
//
//   // 5. Load: rebuild the same model and plan, then copy the saved memory in.
//   roast::Checkpoint saved = roast::load_checkpoint("model.ckpt");
//   memory.params().detach().copy_from(saved.tensor("memory"));
//
// Runs made by `roast-train train` (JSON configs, trainer.h) load with
// roast::TrainedModel::load("runs/NAME/best.ckpt"), which rebuilds the model from the
// config stored in the checkpoint and predicts with predict_images / predict_texts.
//
// Headers, one per concept: tensor.h (Tensor, Device), autograd.h (the tape), ops.h
// (differentiable ops), mapping.h / hash.h (the ROAST map), plan.h (Planner, MemoryConfig),
// memory.h (Memory), roast_matmul.h, nn/ (layers, functional forms, models), optim.h,
// checkpoint.h, trainer.h (train, TrainedModel), config_types.h (the model types and
// datasets configs name; register your own; config_reader.h, registry.h), data/ (readers,
// tokenizers, loaders).
#pragma once

#include "roast/config.h"
#include "roast/error.h"
#include "roast/tensor.h"
#include "roast/autograd.h"
#include "roast/ops.h"
#include "roast/hash.h"
#include "roast/mapping.h"
#include "roast/plan.h"
#include "roast/memory.h"
#include "roast/roast_matmul.h"
#include "roast/nn/functional.h"
#include "roast/nn/module.h"
#include "roast/nn/models.h"
#include "roast/optim.h"
#include "roast/checkpoint.h"
#include "roast/trainer.h"
#include "roast/registry.h"
#include "roast/config_reader.h"
#include "roast/config_types.h"
#include "roast/data/dataset.h"
#include "roast/data/idx.h"
#include "roast/data/cifar.h"
#include "roast/data/text_formats.h"
#include "roast/data/text_corpora.h"
#include "roast/data/vocabulary.h"
#include "roast/data/tokenizer.h"
#include "roast/data/wordpiece.h"
#include "roast/data/image_transforms.h"
#include "roast/data/split.h"
#include "roast/data/loader.h"
