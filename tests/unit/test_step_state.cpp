// The training step without host synchronisation (src/train/train_step.cpp): the per-step
// scalars read from the StepState buffer, the clip factor computed beside the gradient norm,
// the dropout seed derived from the step's word, the loss and metric sums kept on the device,
// and the trainer's CUDA graphs (train.cuda_graphs). The [cuda] cases skip without a GPU.
#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "kernels/backend.h"
#include "kernels/dropout_hash.h"
#include "roast/config.h"
#include "roast/hash.h"
#include "roast/memory.h"
#include "roast/nn/functional.h"
#include "roast/nn/module.h"
#include "roast/ops.h"
#include "roast/optim.h"
#include "roast/trainer.h"
#include "support/catch.h"
#include "support/gradcheck.h"
#include "test_data_fixtures.h"

using namespace roast;
using data_fixtures::TempDir;

namespace {
bool gpu_or_skip() {
  if (cuda_available()) return true;
  WARN("skipped: no CUDA device (build has CUDA: " << ROAST_WITH_CUDA << ")");
  return false;
}

// The clip factor as Optimizer::step computed it on the host before the step state existed.
float host_clip(double squared_norm, float max_norm) {
  const double norm = std::sqrt(squared_norm);
  return max_norm > 0 && norm > max_norm ? float(max_norm / norm) : 1.0f;
}

// The step's scalars as the host sees them after the step (read back from the state's buffer).
kernels::StepScalars read_scalars(StepState& state) {
  kernels::StepScalars s;
  kernels::StepScalars* device = static_cast<kernels::StepScalars*>(state.scalars());
  if (state.device().is_cpu()) return *device;
  kernels::cuda::copy(&s, false, device, true, sizeof(s));
  return s;
}

std::vector<float> mask_of(const Tensor& x, float p, std::uint64_t salt, const std::uint64_t* step) {
  const Tensor y = nn::dropout(x, p, salt, step);
  return y.to_vector();
}
}  // namespace

TEST_CASE("step state: the device-side clip equals the host clip, and the update reads it", "[optim][step_state]") {
  const std::int64_t n = 50000;  // above the CPU's parallel threshold
  for (float max_norm : {0.0f, 1.0f, 1e6f}) {
    INFO("max_norm " << max_norm);
    OptimizerConfig c;
    c.name = "sgd";
    c.lr = 0.1f;
    c.grad_clip_norm = max_norm;
    Optimizer opt(c);
    StepState state(Device::cpu());
    Tensor p = randn({n}, 1, 1.0f);
    const std::vector<float> p0 = p.to_vector();
    Tensor g = randn({n}, 2, 0.5f);
    const std::vector<float> gv = g.to_vector();
    opt.prepare(state, c.lr);
    state.upload();
    opt.apply(p, g, [](const std::string&) { return Tensor(); }, state, nullptr, true);
    const kernels::StepScalars s = read_scalars(state);
    double serial = 0;
    for (float v : gv) serial += double(v) * double(v);
    CHECK(s.squared_norm == Approx(serial).epsilon(1e-12));
    CHECK(s.clip == host_clip(s.squared_norm, max_norm));  // bit for bit: the same formula
    if (max_norm == 1.0f) CHECK(s.clip < 1.0f);
    if (max_norm != 1.0f) CHECK(s.clip == 1.0f);
    CHECK(state.read_grad_norm() == Approx(std::sqrt(serial)).epsilon(1e-12));
    const std::vector<float> got = p.to_vector();
    for (std::int64_t i = 0; i < n; i += 997) {
      const float d = gv[std::size_t(i)] * s.clip + 0.0f * p0[std::size_t(i)];
      REQUIRE(got[std::size_t(i)] == Approx(p0[std::size_t(i)] - c.lr * d).epsilon(1e-6).margin(1e-7));
    }
  }
}

TEST_CASE("step state: Optimizer::step equals prepare + upload + apply with the schedule's rate", "[optim][step_state]") {
  for (const char* name : {"sgd", "adam", "adamw", "adagrad"}) {
    INFO(name);
    OptimizerConfig c;
    c.name = name;
    c.lr = 0.02f;
    c.weight_decay = 0.01f;
    c.grad_clip_norm = 2.0f;
    std::map<std::string, Tensor> slots_a, slots_b;
    const auto slot_in = [](std::map<std::string, Tensor>& m) {
      return [&m](const std::string& key) {
        auto it = m.find(key);
        if (it == m.end()) it = m.emplace(key, Tensor::zeros({300})).first;
        return it->second;
      };
    };
    Optimizer a(c), b(c);
    StepState state(Device::cpu());
    Tensor pa = randn({300}, 3), pb = randn({300}, 3);
    for (int step = 0; step < 4; ++step) {
      Tensor g = randn({300}, 10 + std::uint64_t(step));
      const float lr = c.lr * float(step + 1);
      a.step(pa, g, slot_in(slots_a), lr);
      b.prepare(state, lr);
      state.upload();
      b.apply(pb, g, slot_in(slots_b), state);
    }
    CHECK(pa.to_vector() == pb.to_vector());
    CHECK(a.steps_taken() == 4);
  }
}

TEST_CASE("step state: dropout masks follow the step's word, and equal the seeded masks", "[nn][step_state]") {
  const Tensor x = Tensor::full({4, 257}, 1.0f);
  const std::uint64_t word = 0x1234ABCDull, other = 0x1234ABCEull;
  // The call with index k under the step word draws what next_seed() gives a context whose
  // seed is the word: the masks of the trainer are those of the plain seeded form.
  for (std::uint64_t k = 0; k < 3; ++k)
    CHECK(mask_of(x, 0.3f, k, &word) == mask_of(x, 0.3f, hash::hash3(word, 0xD50Bull, k, 0), nullptr));
  CHECK(mask_of(x, 0.3f, 0, &word) != mask_of(x, 0.3f, 0, &other));  // a new step, a new mask
  CHECK(mask_of(x, 0.3f, 0, &word) != mask_of(x, 0.3f, 1, &word));   // a new call, a new mask
  CHECK(mask_of(x, 0.3f, 77, nullptr) == mask_of(x, 0.3f, 77, nullptr));
  // Through a context: the same calls in the same order.
  nn::Linear layer("layer", 2, 2);
  Planner planner;
  layer.declare(planner);
  MemoryConfig dense;
  dense.scheme = Scheme::dense;
  Memory memory(planner.finalize(dense));
  nn::Context seeded(memory, true, word), stepped(memory, true, 999);
  stepped.step_seed = &word;
  for (int call = 0; call < 3; ++call)
    CHECK(nn::dropout(x, 0.5f, seeded).to_vector() == nn::dropout(x, 0.5f, stepped).to_vector());
}

TEST_CASE("step state: the loss on the device equals cross_entropy; metric sums add up", "[ops][step_state]") {
  const std::int64_t rows = 37, classes = 11;
  const Tensor logits = randn({rows, classes}, 5, 2.0f);
  std::vector<std::int32_t> y(static_cast<std::size_t>(rows));
  for (std::int64_t r = 0; r < rows; ++r) y[std::size_t(r)] = std::int32_t((r * 7) % classes);
  const Tensor labels = Tensor::from_vector(y, {rows});
  StepState state(Device::cpu());
  for (float smoothing : {0.0f, 0.1f}) {
    const float want = cross_entropy(logits, labels, smoothing).item();
    const float got = cross_entropy_on_device(logits, labels, smoothing, state.metric_sums()).item();
    CHECK(got == want);
  }
  // Its gradient is the same as the host form's.
  Tensor l1 = logits.detach().clone(), l2 = logits.detach().clone();
  l1.set_requires_grad(true), l2.set_requires_grad(true);
  cross_entropy(l1, labels, 0.1f).backward();
  cross_entropy_on_device(l2, labels, 0.1f).backward();
  CHECK(l1.grad().to_vector() == l2.grad().to_vector());
  // Two losses summed, and the rows whose arg-max is the label.
  const StepState::Metrics m = state.take_metrics();
  const double want_sum = double(cross_entropy(logits, labels, 0.0f).item()) + double(cross_entropy(logits, labels, 0.1f).item());
  CHECK(m.loss_sum == want_sum);
  const std::vector<float> v = logits.to_vector();
  double correct = 0;
  for (std::int64_t r = 0; r < rows; ++r) {
    std::int64_t best = 0;
    for (std::int64_t j = 1; j < classes; ++j)
      if (v[std::size_t(r * classes + j)] > v[std::size_t(r * classes + best)]) best = j;
    correct += best == y[std::size_t(r)];
  }
  CHECK(m.correct == 2 * correct);
  CHECK(state.take_metrics().loss_sum == 0.0);  // taken: zeroed
}

TEST_CASE("step state: batch ids are checked on the host", "[ops][step_state]") {
  check_class_ids(Tensor::from_vector(std::vector<std::int32_t>{0, 3, 9}, {3}), 10, "labels");
  CHECK_THROWS_WITH(check_class_ids(Tensor::from_vector(std::vector<std::int32_t>{0, 10}, {2}), 10, "labels"),
                    ROAST_CONTAINS("labels: 10 at position 1 is outside [0, 10)"));
  CHECK_THROWS_WITH(check_class_ids(Tensor::from_vector(std::vector<std::int64_t>{-1}, {1}), 4, "token ids"),
                    ROAST_CONTAINS("token ids: -1 at position 0"));
}

// ---- CUDA: the same on the GPU, and the trainer's graphs -----------------------------------

TEST_CASE("cuda step state: norm, clip, optimizers, dropout and loss on the device equal the CPU", "[cuda][step_state]") {
  if (!gpu_or_skip()) return;
  const Device gpu = Device::cuda(0);
  for (std::int64_t n : {1, 1000, 300001}) {
    for (float max_norm : {0.0f, 1.0f}) {
      INFO("n " << n << " max_norm " << max_norm);
      OptimizerConfig c;
      c.name = "adam";
      c.grad_clip_norm = max_norm;
      Optimizer cpu_opt(c), gpu_opt(c);
      StepState cpu_state(Device::cpu()), gpu_state(gpu);
      Tensor pc = randn({n}, 7), gc = randn({n}, 8, 3.0f);
      Tensor pg = pc.to(gpu), gg = gc.to(gpu);
      std::map<std::string, Tensor> sc, sg;
      const auto slots = [](std::map<std::string, Tensor>& m, Device d, std::int64_t size) {
        return [&m, d, size](const std::string& key) {
          auto it = m.find(key);
          if (it == m.end()) it = m.emplace(key, Tensor::zeros({size}, DType::f32, d)).first;
          return it->second;
        };
      };
      for (int step = 0; step < 3; ++step) {
        for (auto* pair : {&cpu_state, &gpu_state}) pair->set_dropout_seed(std::uint64_t(step));
        cpu_opt.prepare(cpu_state, 0.01f), gpu_opt.prepare(gpu_state, 0.01f);
        cpu_state.upload(), gpu_state.upload();
        cpu_opt.apply(pc, gc, slots(sc, Device::cpu(), n), cpu_state, nullptr, true);
        gpu_opt.apply(pg, gg, slots(sg, gpu, n), gpu_state, nullptr, true);
      }
      const kernels::StepScalars a = read_scalars(cpu_state), b = read_scalars(gpu_state);
      CHECK(b.squared_norm == Approx(a.squared_norm).epsilon(1e-12));
      CHECK(b.clip == Approx(a.clip).epsilon(1e-6));
      CHECK(roast::testing::relative_error(pg.to_vector(), pc.to_vector()) < 1e-5);
    }
  }
  // Dropout with the step word on the device draws the CPU's mask.
  StepState gpu_state(gpu);
  gpu_state.set_dropout_seed(0xBEEFull);
  gpu_state.upload();
  const std::uint64_t word = 0xBEEFull;
  const Tensor x = randn({3, 1001}, 4);
  CHECK(nn::dropout(x.to(gpu), 0.25f, 5, gpu_state.dropout_seed_word()).to_vector() == mask_of(x, 0.25f, 5, &word));
  // The loss and the sums on the device.
  const Tensor logits = randn({300, 7}, 6, 2.0f);
  std::vector<std::int32_t> y(300);
  for (std::size_t r = 0; r < y.size(); ++r) y[r] = std::int32_t(r % 7);
  const Tensor labels = Tensor::from_vector(y, {300});
  StepState cpu_sums(Device::cpu());
  const float want = cross_entropy_on_device(logits, labels, 0.1f, cpu_sums.metric_sums()).item();
  const float got = cross_entropy_on_device(logits.to(gpu), labels.to(gpu), 0.1f, gpu_state.metric_sums()).item();
  CHECK(got == Approx(want).epsilon(1e-6));
  const StepState::Metrics mc = cpu_sums.take_metrics(), mg = gpu_state.take_metrics();
  CHECK(mg.correct == mc.correct);
  CHECK(mg.loss_sum == Approx(mc.loss_sum).epsilon(1e-6));
}

namespace {
// A learnable 10-class IDX set (as in test_cuda_train.cpp) and a learnable TSV text set.
void write_images(const TempDir& dir, const std::string& prefix, int n, std::uint32_t seed) {
  data_fixtures::write_learnable_idx(dir.file(prefix), n, seed);
}

void write_texts(const TempDir& dir) {
  std::ofstream train(dir.file("train.tsv")), test(dir.file("test.tsv"));
  const char* words[2][4] = {{"bad", "awful", "poor", "dull"}, {"good", "fine", "great", "nice"}};
  std::mt19937 rng(9);
  for (int i = 0; i < 230; ++i) {  // with 20% for validation: a ragged last batch of 24
    const int c = i % 2;
    train << (c ? "pos\t" : "neg\t");
    for (int w = 0; w < 6; ++w) train << words[c][rng() % 4] << " w" << rng() % 30 << " ";
    train << "\n";
  }
  for (int i = 0; i < 40; ++i) test << (i % 2 ? "pos\tgood nice w3\n" : "neg\tbad dull w4\n");
}

struct GraphRuns {
  TempDir dir;
  GraphRuns() {
    write_images(dir, "train", 400, 1);  // 320 training samples: batches of 48 leave a ragged 32
    write_images(dir, "t10k", 100, 2);
    write_texts(dir);
  }
  // 30 steps with an evaluation every 5, deterministic, cuda_graphs on or off.
  TrainSummary train(const std::string& name, const nlohmann::json& data, const nlohmann::json& model, bool graphs) const {
    const nlohmann::json config = {{"name", name},
                                   {"seed", 5},
                                   {"device", "cuda"},
                                   {"deterministic", true},
                                   {"data", data},
                                   {"model", model},
                                   {"memory", {{"scheme", "roast"}, {"compression", 10}, {"exact_threshold", 0}}},
                                   {"optimizer", {{"name", "adamw"}, {"lr", 0.003}, {"grad_clip_norm", 1.0}}},
                                   {"schedule", {{"name", "cosine"}, {"warmup_steps", 3}}},
                                   {"train", {{"epochs", 10}, {"batch_size", 48}, {"max_steps", 30}, {"eval_every", 5},
                                              {"log_every", 7}, {"cuda_graphs", graphs}}}};
    std::ofstream(dir.file(name + ".json")) << config.dump(2);
    TrainOptions o;
    o.config_path = dir.file(name + ".json");
    o.out_dir = dir.file(name + (graphs ? "-graphs" : "-plain"));
    o.progress = false;
    return roast::train(o);
  }
  std::vector<nlohmann::json> metrics(const TrainSummary& s) const {
    std::vector<nlohmann::json> out;
    std::ifstream in(s.run_dir + "/metrics.jsonl");
    for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
    return out;
  }
};
}  // namespace

// The CNN is the quick start's (batch norm: running statistics updated in place by the graph);
// the transformer has dropout (masks from the step's word) and clipping (norm on the device).
TEST_CASE("cuda step state: captured and uncaptured training give identical losses", "[cuda][train][graphs]") {
  if (!gpu_or_skip()) return;
  GraphRuns runs;
  const nlohmann::json image_data = {{"dataset", "mnist"}, {"path", runs.dir.path()}, {"validation_fraction", 0.2}};
  const nlohmann::json text_data = {{"dataset", "tsv"}, {"path", runs.dir.path()}, {"seq_len", 12}, {"min_frequency", 1},
                                    {"validation_fraction", 0.2}};
  struct Case {
    const char* name;
    nlohmann::json data, model;
  };
  const Case cases[] = {
      {"cnn", image_data,  // the quick start's model (configs/quickstart.json)
       {{"type", "cnn"}, {"stages", {{{"channels", 32}, {"convs", 1}}, {{"channels", 64}, {"convs", 1}}}}, {"batch_norm", true},
        {"hidden", 128}}},
      {"transformer", text_data,
       {{"type", "transformer"}, {"dim", 32}, {"heads", 4}, {"layers", 2}, {"ffn_dim", 64}, {"dropout", 0.1}}}};
  for (const Case& c : cases) {
    INFO(c.name);
    // Uncaptured first: auto_select's choices are then shared by both runs (one process).
    const TrainSummary plain = runs.train(c.name, c.data, c.model, false);
    const TrainSummary graphs = runs.train(c.name, c.data, c.model, true);
    CHECK(plain.cuda_graph_replays == 0);
    // 30 steps: 2 uncaptured before the capture, the ragged last batch of each epoch uncaptured.
    CHECK(graphs.cuda_graph_replays >= 20);
    CHECK(graphs.steps == plain.steps);
    const std::vector<nlohmann::json> a = runs.metrics(plain), b = runs.metrics(graphs);
    REQUIRE(a.size() == b.size());
    REQUIRE(a.size() >= 6);
    for (std::size_t i = 0; i < a.size(); ++i) {
      INFO("evaluation " << i);
      CHECK(b[i]["train_loss"].get<double>() == a[i]["train_loss"].get<double>());
      CHECK(b[i]["train_accuracy"].get<double>() == a[i]["train_accuracy"].get<double>());
      CHECK(b[i]["val_loss"].get<double>() == a[i]["val_loss"].get<double>());
    }
    CHECK(graphs.test_accuracy == plain.test_accuracy);
    const nlohmann::json summary = nlohmann::json::parse(std::ifstream(graphs.run_dir + "/summary.json"));
    CHECK(summary["cuda_graph_replays"].get<std::int64_t>() == graphs.cuda_graph_replays);
  }
}

TEST_CASE("step state: a CPU run reads its metrics at log points; train.cuda_graphs is a checked boolean",
          "[train][step_state]") {
  GraphRuns runs;
  const nlohmann::json config = {{"name", "cpu"},
                                 {"seed", 5},
                                 {"data", {{"dataset", "tsv"}, {"path", runs.dir.path()}, {"seq_len", 12}, {"min_frequency", 1}}},
                                 {"model", {{"type", "transformer"}, {"dim", 16}, {"heads", 2}, {"layers", 1}, {"ffn_dim", 32}}},
                                 {"optimizer", {{"name", "adamw"}, {"lr", 0.003}, {"grad_clip_norm", 1.0}}},
                                 {"train", {{"epochs", 1}, {"batch_size", 48}, {"eval_every", 2}, {"log_every", 3}}}};
  std::ofstream(runs.dir.file("cpu.json")) << config.dump(2);
  TrainOptions o;
  o.config_path = runs.dir.file("cpu.json");
  o.out_dir = runs.dir.file("cpu-run");
  o.progress = false;
  const TrainSummary s = roast::train(o);
  CHECK(s.cuda_graph_replays == 0);  // graphs are for CUDA; the CPU runs the same step uncaptured
  const nlohmann::json summary = nlohmann::json::parse(std::ifstream(s.run_dir + "/summary.json"));
  CHECK(summary["cuda_graph_replays"] == 0);
  std::ifstream metrics(s.run_dir + "/metrics.jsonl");
  int lines = 0;
  for (std::string line; std::getline(metrics, line); ++lines) {
    const nlohmann::json m = nlohmann::json::parse(line);
    CHECK(std::isfinite(m["train_loss"].get<double>()));
    CHECK(m["train_loss"].get<double>() > 0);
    CHECK(m["train_accuracy"].get<double>() >= 0);
    CHECK(m["train_accuracy"].get<double>() <= 1);
  }
  CHECK(lines >= 2);
  const nlohmann::json resolved = nlohmann::json::parse(std::ifstream(s.run_dir + "/resolved_config.json"));
  CHECK(resolved["train"]["cuda_graphs"] == true);  // on by default (checked on a GPU: docs/gpu.md)
  o.overrides = {"train.cuda_graphs=\"yes\""};
  o.out_dir = runs.dir.file("cpu-bad");
  CHECK_THROWS_WITH(roast::train(o), ROAST_CONTAINS("train.cuda_graphs"));
}
