// Training with "device": "cuda" against the same run on the CPU, checkpoints crossing
// devices, model forwards on the GPU against the CPU, and the device errors of a run.
// The [cuda] cases skip without a GPU.
#include <sys/wait.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "roast/autograd.h"
#include "roast/config.h"
#include "roast/nn/models.h"
#include "roast/ops.h"
#include "roast/trainer.h"
#include "support/gradcheck.h"
#include "test_data_fixtures.h"
#include "config/run_config.h"

using namespace roast;
using roast::testing::relative_error;
using data_fixtures::TempDir;

namespace {
// A learnable 10-class IDX set (as in test_cli.cpp): class c lights a 4x4 block at a
// class-specific place, over noise.
void write_split(const TempDir& dir, const std::string& prefix, int n, std::uint32_t seed) {
  data_fixtures::write_learnable_idx(dir.file(prefix), n, seed);
}

struct TinyRuns {
  TempDir dir;
  TinyRuns() {
    write_split(dir, "train", 400, 1);
    write_split(dir, "t10k", 100, 2);
  }
  // Writes a config for `model` and trains it on `device`.
  TrainSummary train(const std::string& name, const nlohmann::json& model, const std::string& device,
                     const std::vector<std::string>& extra_overrides = {}) const {
    const nlohmann::json config = {{"name", name},
                                   {"seed", 3},
                                   {"data", {{"dataset", "mnist"}, {"path", dir.path()}, {"validation_fraction", 0.2}}},
                                   {"model", model},
                                   {"memory", {{"scheme", "roast"}, {"compression", 10}, {"exact_threshold", 0}}},
                                   {"optimizer", {{"name", "adam"}, {"lr", 0.01}}},
                                   {"train", {{"epochs", 3}, {"batch_size", 32}}}};
    std::ofstream(dir.file(name + ".json")) << config.dump(2);
    TrainOptions o;
    o.config_path = dir.file(name + ".json");
    o.overrides = {"device=" + device};  // the generic --set path
    o.overrides.insert(o.overrides.end(), extra_overrides.begin(), extra_overrides.end());
    o.out_dir = dir.file(name + "-" + device);
    o.progress = false;
    return roast::train(o);
  }
};

// Logits of `model` (declared once) for `batch` with a memory on `device`, in evaluation mode.
std::vector<float> logits_on(nn::Model& model, const MemoryPlan& plan, const nn::Batch& batch, Device device) {
  NoGradGuard no_grad;
  Memory memory(plan, device);
  nn::Batch b;
  if (batch.images.defined()) b.images = batch.images.to(device);
  if (batch.ids.defined()) b.ids = batch.ids.to(device), b.mask = batch.mask.to(device);
  nn::Context ctx(memory, false);
  return model.forward(b, ctx).to_vector();
}

bool skip_without_gpu() {
  if (cuda_available()) return false;
  WARN("skipped: no CUDA device (build has CUDA: " << ROAST_WITH_CUDA << ")");
  return true;
}
}  // namespace

TEST_CASE("cuda train: mlp and cnn with batch norm train on the GPU as on the CPU", "[cuda][train]") {
  if (skip_without_gpu()) return;
  TinyRuns runs;
  const nlohmann::json models[] = {
      {{"type", "mlp"}, {"hidden", {32}}, {"dropout", 0.1}},
      {{"type", "cnn"}, {"stages", {{{"channels", 8}, {"convs", 1}}, {{"channels", 16}, {"convs", 1}}}}, {"batch_norm", true}, {"hidden", 32}}};
  for (const nlohmann::json& model : models) {
    const std::string name = model["type"].get<std::string>();
    INFO(name);
    const TrainSummary cpu = runs.train(name, model, "cpu");
    const TrainSummary gpu = runs.train(name, model, "cuda");
    CHECK(cpu.test_accuracy > 0.9);
    CHECK(gpu.test_accuracy > 0.9);
    CHECK(std::abs(gpu.test_accuracy - cpu.test_accuracy) <= 0.05);
    CHECK(gpu.steps == cpu.steps);
    // Checkpoints hold host bytes: the GPU run's best weights score the same on the CPU,
    // and the CPU run's on the GPU (within a sample or two of float noise).
    CHECK(TrainedModel::load(gpu.run_dir + "/best.ckpt", "cpu").evaluate("test").accuracy ==
          Approx(gpu.test_accuracy).margin(0.021));
    CHECK(TrainedModel::load(cpu.run_dir + "/best.ckpt", "cuda").evaluate("test").accuracy ==
          Approx(cpu.test_accuracy).margin(0.021));
    const nlohmann::json resolved = nlohmann::json::parse(std::ifstream(gpu.run_dir + "/resolved_config.json"));
    CHECK(resolved["device"] == "cuda");
    CHECK(resolved["precision"] == "fp32");
    CHECK(resolved["deterministic"] == false);
  }
}

TEST_CASE("cuda train: model forwards on the GPU equal the CPU's", "[cuda][models]") {
  // Plans and CPU logits are made everywhere (so the case itself is checked without a GPU).
  const bool gpu = !skip_without_gpu();
  nn::InputSpec text;
  text.text = true, text.vocab_size = 40, text.max_length = 12, text.n_classes = 3;
  nn::InputSpec image;
  image.channels = 3, image.height = 12, image.width = 12, image.n_classes = 4;
  nn::BagOptions bag;
  bag.bigram_buckets = 64, bag.hidden = {16};  // bigram ids are computed on the device
  nn::TransformerOptions tf;
  tf.dim = 32, tf.heads = 4, tf.layers = 1, tf.ffn_dim = 64;
  nn::CnnOptions cnn;
  cnn.stages = {{8, 1}}, cnn.hidden = 16;  // batch norm: running statistics on the device

  nn::Batch tokens;
  std::vector<std::int32_t> ids(4 * 12);
  std::vector<float> mask(ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = std::int32_t((i * 7 + 3) % 40), mask[i] = (i % 12) < 9 ? 1.0f : 0.0f;
  tokens.ids = Tensor::from_vector(ids, {4, 12});
  tokens.mask = Tensor::from_vector(mask, {4, 12});
  nn::Batch pictures;
  pictures.images = randn({4, 3, 12, 12}, 5);

  struct Case {
    const char* name;
    std::unique_ptr<nn::Model> model;
    const nn::Batch* batch;
  };
  Case cases[] = {{"bag", nn::make_bag(text, bag), &tokens},
                  {"transformer", nn::make_transformer(text, tf), &tokens},
                  {"cnn", nn::make_cnn(image, cnn), &pictures}};
  for (Case& c : cases) {
    INFO(c.name);
    Planner planner;
    c.model->declare(planner);
    MemoryConfig config;
    config.compression = 2.0;
    config.tile_rows = 8, config.tile_cols = 16, config.exact_threshold = 0;
    const MemoryPlan plan = planner.finalize(config);
    const std::vector<float> on_cpu = logits_on(*c.model, plan, *c.batch, Device::cpu());
    REQUIRE(on_cpu.size() == std::size_t(4 * (c.batch == &tokens ? text.n_classes : image.n_classes)));
    if (!gpu) continue;
    const std::vector<float> on_gpu = logits_on(*c.model, plan, *c.batch, Device::cuda(0));
    CHECK(relative_error(on_gpu, on_cpu) < 1e-4);
  }
}

TEST_CASE("train: a device this build or machine lacks is named with its fix", "[train][device]") {
  TinyRuns runs;
  const nlohmann::json model = {{"type", "mlp"}, {"hidden", {8}}};
  std::string message;
  try {
    runs.train("nodevice", model, "cuda:99");
  } catch (const Error& e) {
    message = e.what();
  }
  INFO(message);
  CHECK(message.find("`device`") != std::string::npos);
  CHECK(message.find("cuda:99") != std::string::npos);
  CHECK(message.find("\"cpu\"") != std::string::npos);
  // Through the CLI: exit code 2.
  const std::string cmd = std::string(ROAST_TRAIN_EXE) + " train --config " + runs.dir.file("nodevice.json") +
                          " --set device=cuda:99 --out " + runs.dir.file("cli") + " --quiet > /dev/null 2>&1";
  const int status = std::system(cmd.c_str());
  CHECK((WIFEXITED(status) ? WEXITSTATUS(status) : -1) == 2);
}

TEST_CASE("train: precision and deterministic are top-level keys with defaults", "[train][config]") {
  nlohmann::json config = {{"model", {{"type", "mlp"}}}};
  nlohmann::json resolved;
  RunConfig c = parse_run_config(config, "test.json", &resolved);
  CHECK(c.precision == "fp32");
  CHECK(c.deterministic == false);
  CHECK(resolved["precision"] == "fp32");
  CHECK(resolved["deterministic"] == false);
  config["precision"] = "tf32";
  config["deterministic"] = true;
  c = parse_run_config(config, "test.json", &resolved);
  CHECK(c.precision == "tf32");
  CHECK(c.deterministic);
  config["precision"] = "fp16";
  CHECK_THROWS_WITH(parse_run_config(config, "test.json", &resolved), ROAST_CONTAINS("precision"));
  config["precision"] = "fp32";
  config["device"] = "gpu";
  CHECK_THROWS_WITH(parse_run_config(config, "test.json", &resolved), ROAST_CONTAINS("device"));
}

TEST_CASE("cuda train: deterministic runs are bitwise reproducible on the GPU", "[cuda][train]") {
  if (skip_without_gpu()) return;
  TinyRuns runs;
  const nlohmann::json models[] = {
      {{"type", "mlp"}, {"hidden", {32}}, {"dropout", 0.1}},
      {{"type", "cnn"}, {"stages", {{{"channels", 8}, {"convs", 1}}}}, {"batch_norm", true}, {"hidden", 32}}};
  for (const nlohmann::json& model : models) {
    const std::string name = model["type"].get<std::string>();
    INFO(name);
    const TrainSummary a = runs.train(name + "-det-a", model, "cuda", {"deterministic=true"});
    const TrainSummary b = runs.train(name + "-det-b", model, "cuda", {"deterministic=true"});
    CHECK(a.test_loss == b.test_loss);  // bitwise: same kernels, same order, no timing-based choice
    CHECK(a.test_accuracy == b.test_accuracy);
    CHECK(a.test_accuracy > 0.8);
  }
}

namespace {
// One training step's loss and memory gradient of `model` on `memory` under `numerics`.
struct StepResult {
  float loss = 0;
  std::vector<float> grad;
};
StepResult step_of(nn::Model& model, Memory& memory, const nn::Batch& batch, const Tensor& labels,
                   const Numerics& numerics) {
  memory.zero_grad();
  nn::Context ctx(memory, false);
  ctx.numerics = numerics;
  Tensor loss = cross_entropy(model.forward(batch, ctx), labels);
  loss.backward();
  return {loss.item(), memory.grad().to_vector()};
}
}  // namespace

// Numeric options are values carried by each forward context, not process state: two models
// in one process, one in fp32 and one in TF32, interleave their steps and each gets exactly
// what it gets alone (deterministic, so that each alone is bitwise reproducible).
TEST_CASE("cuda train: two models with different precision in one process", "[cuda][train]") {
  if (skip_without_gpu()) return;
  nn::InputSpec text;
  text.text = true, text.vocab_size = 50, text.max_length = 16, text.n_classes = 3;
  nn::TransformerOptions tf;
  tf.dim = 64, tf.heads = 4, tf.layers = 1, tf.ffn_dim = 128;
  std::unique_ptr<nn::Model> models[2] = {nn::make_transformer(text, tf), nn::make_transformer(text, tf)};
  std::unique_ptr<Memory> memories[2];
  for (int i = 0; i < 2; ++i) {
    Planner planner;
    models[i]->declare(planner);
    MemoryConfig config;
    config.compression = 4.0;
    config.seed = std::uint64_t(11 + i);
    memories[i] = std::make_unique<Memory>(planner.finalize(config), Device::cuda(0));
  }
  std::vector<std::int32_t> ids(64 * 16), labels(64);
  std::vector<float> mask(ids.size(), 1.0f);
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = std::int32_t((i * 13 + 5) % 50);
  for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = std::int32_t(i % 3);
  nn::Batch batch;
  batch.ids = Tensor::from_vector(ids, {64, 16}, Device::cuda(0));
  batch.mask = Tensor::from_vector(mask, {64, 16}, Device::cuda(0));
  const Tensor y = Tensor::from_vector(labels, {64}, Device::cuda(0));
  Numerics numerics[2];
  numerics[0].precision = Precision::fp32, numerics[1].precision = Precision::tf32;
  numerics[0].deterministic = numerics[1].deterministic = true;

  const StepResult alone[2] = {step_of(*models[0], *memories[0], batch, y, numerics[0]),
                               step_of(*models[1], *memories[1], batch, y, numerics[1])};
  for (int round = 0; round < 2; ++round)  // interleaved, twice
    for (int i : {1, 0}) {
      INFO("model " << i << " round " << round);
      const StepResult again = step_of(*models[i], *memories[i], batch, y, numerics[i]);
      CHECK(again.loss == alone[i].loss);
      CHECK(again.grad == alone[i].grad);
    }
  // The option took effect: model 1 in fp32 differs from model 1 in TF32 (by rounding only).
  const StepResult fp32_of_1 = step_of(*models[1], *memories[1], batch, y, numerics[0]);
  CHECK(fp32_of_1.grad != alone[1].grad);
  CHECK(relative_error(fp32_of_1.grad, alone[1].grad) < 2e-2);
}
