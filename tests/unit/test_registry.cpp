// Registries (roast/registry.h, roast/config_types.h): a model type and a dataset added
// from outside the library through the public API train from a JSON config like built-in
// ones; unknown names list the valid ones, the added ones included; bad registrations are
// refused; docs/config.md names every built-in entry.
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "roast/config_types.h"
#include "roast/ops.h"
#include "roast/trainer.h"
#include "support/catch.h"
#include "test_data_fixtures.h"

namespace {
using namespace roast;

// ---- What a program outside the library would write (public headers only). ----

// A one-hidden-layer probe on flattened images.
struct ProbeOptions {
  std::int64_t width = 16;
};

class Probe final : public nn::Model {
 public:
  Probe(const nn::InputSpec& in, const ProbeOptions& o)
      : nn::Model(""), hidden_("hidden", in.channels * in.height * in.width, o.width), out_("classifier", o.width, in.n_classes) {
    ROAST_CHECK(!in.text, "probe: needs an image dataset");
  }
  const char* type() const override { return "probe"; }
  void declare(Planner& planner) override {
    hidden_.declare(planner);
    out_.declare(planner);
  }
  Tensor forward(const nn::Batch& batch, nn::Context& ctx) override {
    const Tensor x = reshape(batch.images, {batch.images.size(0), -1});  // [B, C*H*W]
    return out_.forward(relu(hidden_.forward(x, ctx)), ctx);
  }

 private:
  nn::Linear hidden_, out_;
};

// 1 x 8 x 8 images of 4 classes: class c lights a 3 x 3 block in quadrant c, over noise.
data::ImageDataset blobs(std::int64_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  data::ImageDataset d;
  d.n = n, d.channels = 1, d.height = 8, d.width = 8, d.n_classes = 4;
  d.class_names = {"top-left", "top-right", "bottom-left", "bottom-right"};
  for (std::int64_t i = 0; i < n; ++i) {
    const int c = int(rng() % 4);
    d.labels.push_back(c);
    for (int p = 0; p < 64; ++p) {
      const int y = p / 8, x = p % 8;
      const bool lit = y / 4 == c / 2 && x / 4 == c % 2 && y % 4 < 3 && x % 4 < 3;
      d.pixels.push_back(std::uint8_t(rng() % 80 + (lit ? 170 : 0)));
    }
  }
  d.validate("blobs");
  return d;
}

void register_toys() {
  if (model_registry().contains("probe")) return;  // once per process
  model_registry().add(make_model_type(
      "probe", "a one-hidden-layer probe (test)",
      [](ConfigReader& config) {
        ProbeOptions o;
        o.width = positive_int(config, "width", o.width);
        return o;
      },
      [](const nn::InputSpec& input, const ProbeOptions& o) -> std::unique_ptr<nn::Model> {
        return std::make_unique<Probe>(input, o);
      }));
  DatasetType t;
  t.name = "blobs";
  t.files = "nothing: the samples are generated (the folder must exist)";
  nn::InputSpec input;
  input.channels = 1, input.height = 8, input.width = 8, input.n_classes = 4;
  t.known_input = input;
  t.load_images = [](const std::string&, data::ImageDataset& train, data::ImageDataset& test) {
    train = blobs(400, 1);
    test = blobs(200, 2);
  };
  dataset_registry().add(t);
}

// ---- Test helpers. ----

std::string config_text(const std::string& dataset, const std::string& model) {
  return R"({"name": "toy", "seed": 5,
  "data": {"dataset": ")" + dataset + R"(", "validation_fraction": 0.2},
  "model": )" + model + R"(,
  "memory": {"scheme": "roast", "compression": 4, "exact_threshold": 0, "tile": [8, 8]},
  "optimizer": {"name": "adam", "lr": 0.01},
  "train": {"epochs": 6, "batch_size": 32}})";
}

TrainOptions options_for(const data_fixtures::TempDir& dir, const std::string& text, const std::string& run) {
  data_fixtures::write_text(dir.file(run + ".json"), text);
  TrainOptions o;
  o.config_path = dir.file(run + ".json");
  o.overrides = {"data.path=" + dir.path()};
  o.out_dir = dir.file(run);
  o.progress = false;
  return o;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no roast::Error)";
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}
}  // namespace

TEST_CASE("registry: a model type and a dataset added from outside train from a JSON config", "[registry]") {
  register_toys();
  data_fixtures::TempDir dir;
  const TrainSummary s = train(options_for(dir, config_text("blobs", R"({"type": "probe"})"), "run"));
  INFO("test accuracy " << s.test_accuracy << ", validation " << s.val_accuracy);
  CHECK(s.test_accuracy >= 0.95);
  CHECK(s.virtual_params == 64 * 16 + 16 + 16 * 4 + 4);
  CHECK(s.compression > 3.0);
  // The parse function's default is recorded like a built-in type's.
  CHECK_THAT(read_text(dir.file("run/resolved_config.json")), ROAST_CONTAINS("\"width\": 16"));

  // A checkpoint rebuilds the model through the registry.
  const TrainedModel model = TrainedModel::load(dir.file("run/best.ckpt"));
  CHECK(model.class_names().size() == 4);
  CHECK(model.evaluate("test").accuracy == Approx(s.test_accuracy));
}

TEST_CASE("registry: unknown names list the valid ones, the added ones included", "[registry]") {
  register_toys();
  data_fixtures::TempDir dir;
  const std::string model_error =
      error_of([&] { train(options_for(dir, config_text("blobs", R"({"type": "prob"})"), "a")); });
  CHECK_THAT(model_error, ROAST_CONTAINS("`model.type`: unknown model \"prob\" (did you mean \"probe\"?); valid: mlp, "
                                         "cnn, resnet, bag, transformer, probe"));
  const std::string dataset_error =
      error_of([&] { train(options_for(dir, config_text("blob", R"({"type": "probe"})"), "b")); });
  CHECK_THAT(dataset_error, ROAST_CONTAINS("`data.dataset`: unknown dataset \"blob\" (did you mean \"blobs\"?)"));
  CHECK_THAT(dataset_error, ROAST_CONTAINS("fashion-mnist, mnist") && ROAST_CONTAINS("tsv, blobs"));
  // An added type's keys are strict too.
  CHECK_THAT(error_of([&] { train(options_for(dir, config_text("blobs", R"({"type": "probe", "widht": 8})"), "c")); }),
             ROAST_CONTAINS("`model.widht`: unknown key (did you mean `width`?)"));
  CHECK_THAT(error_of([&] { train(options_for(dir, config_text("blobs", R"({"type": "probe", "width": 0})"), "d")); }),
             ROAST_CONTAINS("`model.width`: must be a positive integer, got 0"));
  CHECK_THAT(error_of([] { model_registry().at("boosted-trees", "model.type"); }),
             ROAST_CONTAINS("model.type: unknown model \"boosted-trees\"; valid: mlp, cnn, resnet, bag, transformer, "
                            "probe"));
}

TEST_CASE("registry: names are registered once and entries must be complete", "[registry]") {
  register_toys();
  CHECK_THAT(error_of([] { model_registry().add(model_registry().at("mlp")); }),
             ROAST_CONTAINS("cannot register model \"mlp\": the name is taken"));
  ModelType no_build;
  no_build.name = "half";
  no_build.parse = [](ConfigReader&) { return std::any(0); };
  CHECK_THAT(error_of([&] { model_registry().add(no_build); }), ROAST_CONTAINS("needs both a parse and a build"));
  DatasetType no_loader;
  no_loader.name = "empty";
  CHECK_THAT(error_of([&] { dataset_registry().add(no_loader); }), ROAST_CONTAINS("exactly one of load_images"));
  CHECK_FALSE(model_registry().contains("half"));
  CHECK_FALSE(dataset_registry().contains("empty"));

  Registry<ModelType> local("widget");
  CHECK(local.names().empty());
  CHECK_THAT(error_of([&] { local.at("x"); }), ROAST_CONTAINS("unknown widget \"x\"; valid: "));
}

TEST_CASE("registry: what an added loader returns is validated", "[registry]") {
  register_toys();
  if (!dataset_registry().contains("blobs-without-labels")) {
    DatasetType t = dataset_registry().at("blobs");
    t.name = "blobs-without-labels";
    t.load_images = [](const std::string&, data::ImageDataset& train, data::ImageDataset& test) {
      train = blobs(40, 1);
      test = blobs(20, 2);
      train.labels.pop_back();
    };
    dataset_registry().add(t);
  }
  data_fixtures::TempDir dir;
  const std::string error =
      error_of([&] { train(options_for(dir, config_text("blobs-without-labels", R"({"type": "probe"})"), "a")); });
  CHECK_THAT(error, ROAST_CONTAINS("blobs-without-labels (training set at " + dir.path() + "): has 39 labels for 40 images"));
}

TEST_CASE("registry: roast-train exits with 2 and lists the valid names for every kind", "[registry][cli]") {
  data_fixtures::TempDir dir;
  data_fixtures::write_text(dir.file("c.json"), R"({"data": {"dataset": "fashion-mnist"}, "model": {"type": "mlp"}})");
  const auto info = [&](const std::string& set) {
    const std::string log = dir.file("out.log");
    const std::string cmd =
        std::string(ROAST_TRAIN_EXE) + " info --config " + dir.file("c.json") + " --set " + set + " > " + log + " 2>&1";
    const int status = std::system(cmd.c_str());
    return std::make_pair(WIFEXITED(status) ? WEXITSTATUS(status) : -1, read_text(log));
  };
  const std::pair<std::string, std::string> cases[] = {
      {"model.type=boosted-trees",
       "`model.type`: unknown model \"boosted-trees\"; valid: mlp, cnn, resnet, bag, transformer"},
      {"data.dataset=cifar", "`data.dataset`: unknown dataset \"cifar\" (did you mean \"cifar10\"?); valid: "
                             "fashion-mnist, mnist, cifar10, cifar100, imdb, reuters-r8, ag-news, dbpedia, csv, jsonl, tsv"},
      {"memory.scheme=roasted", "`memory.scheme`: unknown scheme \"roasted\" (did you mean \"roast\"?); valid: dense, "
                                "roast, roast-local, hashednet"},
      {"optimizer.name=adamax", "`optimizer.name`: unknown optimizer \"adamax\" (did you mean \"adam\"?); valid: sgd, "
                                "adam, adamw, adagrad"},
      {"schedule.name=linear", "`schedule.name`: unknown schedule \"linear\"; valid: constant, step, cosine"}};
  for (const auto& [set, expected] : cases) {
    const auto [code, output] = info(set);
    INFO(set << "\n" << output);
    CHECK(code == 2);
    CHECK_THAT(output, ROAST_CONTAINS(expected));
  }
}
