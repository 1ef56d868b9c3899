// A program that embeds roast through its installed package (find_package(roast)).
// docs/embedding.md walks through it. Commands (exit 0 on success, 1 on a failed check):
//
//   roast_consumer train-from-code DIR    build an MLP in C++, train it on synthetic data,
//                                         check the loss falls, save and load its memory
//   roast_consumer make-dataset DIR       write a tiny IDX image set and a roast-train
//                                         config for it: DIR/data/, DIR/tiny.json
//   roast_consumer predict CKPT DIR       load a checkpoint written by `roast-train train`
//                                         and classify DIR/data's test images with it
//   roast_consumer bad-input CKPT DIR     a mismatched shape, a checkpoint of another format
//                                         version and a model the memory cannot hold must
//                                         each throw roast::Error with a useful message
#include <roast/roast.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <random>
#include <string>
#include <vector>

namespace fs = std::filesystem;

#ifndef EXPECTED_ROAST_VERSION
#error "EXPECTED_ROAST_VERSION: the version find_package(roast) reported"
#endif

namespace {

int n_failures = 0;

void check(bool ok, const std::string& what) {
  std::printf("%s %s\n", ok ? "ok  " : "FAIL", what.c_str());
  if (!ok) ++n_failures;
}

// A 4-class problem on 1 x 16 x 16 "images": class c is a fixed random pattern plus noise.
roast::nn::Batch synthetic_batch(std::int64_t n, std::uint64_t seed) {
  constexpr std::int64_t kPixels = 16 * 16;
  std::mt19937 rng(static_cast<std::uint32_t>(seed));
  std::normal_distribution<float> noise(0.0f, 1.0f);
  std::mt19937 pattern_rng(12345);  // the same class patterns for every batch
  std::normal_distribution<float> unit(0.0f, 0.25f);
  std::vector<float> patterns(4 * kPixels);
  for (float& p : patterns) p = unit(pattern_rng);
  std::vector<float> images(static_cast<std::size_t>(n * kPixels));
  std::vector<std::int32_t> labels(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int32_t c = static_cast<std::int32_t>(rng() % 4);
    labels[static_cast<std::size_t>(i)] = c;
    for (std::int64_t p = 0; p < kPixels; ++p)
      images[static_cast<std::size_t>(i * kPixels + p)] = patterns[static_cast<std::size_t>(c * kPixels + p)] + noise(rng);
  }
  roast::nn::Batch batch;
  batch.images = roast::Tensor::from_vector(images, {n, 1, 16, 16});
  batch.labels = roast::Tensor::from_vector(labels, {n});
  return batch;
}

// The model and memory of example 1; the same code rebuilds them when loading.
roast::nn::InputSpec image_input() {
  roast::nn::InputSpec input;
  input.channels = 1, input.height = 16, input.width = 16, input.n_classes = 4;
  return input;
}
roast::MemoryConfig memory_config() {
  roast::MemoryConfig config;
  config.scheme = roast::Scheme::roast;
  config.compression = 4.0;          // m = n / 4: 4,177 floats hold all 16,708 virtual weights
  config.tile_rows = 16, config.tile_cols = 16;
  config.exact_threshold = 0;        // hash every matrix, however small
  config.seed = 7;
  return config;
}

// Example 1: a model written in C++, trained step by step; then its memory saved and loaded.
int train_from_code(const fs::path& dir) {
  fs::create_directories(dir);
  roast::nn::MlpOptions options;
  options.hidden = {64};
  std::unique_ptr<roast::nn::Model> model = roast::nn::make_mlp(image_input(), options);
  roast::Planner planner;
  model->declare(planner);
  roast::Memory memory(planner.finalize(memory_config()));
  std::printf("model: %lld virtual parameters in %lld memory floats (compression %.2f)\n",
              static_cast<long long>(memory.plan().n_virtual()), static_cast<long long>(memory.n_floats()),
              memory.plan().compression());

  roast::OptimizerConfig optimizer_config;
  optimizer_config.name = "adam";
  optimizer_config.lr = 0.01f;
  roast::Optimizer optimizer(optimizer_config);
  const roast::SlotFn slot = [&memory](const std::string& name) { return memory.slot(name); };

  std::vector<float> losses;
  for (int step = 0; step < 40; ++step) {
    const roast::nn::Batch train = synthetic_batch(32, 1000 + std::uint64_t(step));  // fresh samples every step
    memory.zero_grad();
    roast::nn::Context ctx(memory, /*train=*/true, /*seed=*/std::uint64_t(step));
    roast::Tensor loss = roast::cross_entropy(model->forward(train, ctx), train.labels);
    loss.backward();
    roast::Tensor params = memory.params(), grad = memory.grad();
    const double grad_norm = optimizer.step(params, grad, slot, optimizer_config.lr);
    losses.push_back(loss.item());
    if (step % 5 == 0 || step == 39) std::printf("step %2d  loss %.4f  grad norm %.4f\n", step, losses.back(), grad_norm);
  }
  // Mean loss of the first and the last five steps (single batches are noisy).
  const float first = (losses[0] + losses[1] + losses[2] + losses[3] + losses[4]) / 5;
  const float last = (losses[35] + losses[36] + losses[37] + losses[38] + losses[39]) / 5;
  check(last < 0.5f * first, "training from C++: the mean loss of 5 steps falls from " + std::to_string(first) +
                                 " to " + std::to_string(last));

  // Held-out accuracy and logits, to compare with the reloaded memory.
  const roast::nn::Batch test = synthetic_batch(200, 2);
  const auto logits_of = [&test](roast::nn::Model& m, const roast::Memory& mem) {
    roast::NoGradGuard no_grad;
    roast::nn::Context ctx(mem);
    return m.forward(test, ctx).to_vector();
  };
  const std::vector<float> logits = logits_of(*model, memory);
  const std::vector<std::int32_t> labels = test.labels.to_host<std::int32_t>();
  int correct = 0;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const float* row = logits.data() + i * 4;
    correct += static_cast<int>(std::max_element(row, row + 4) - row) == labels[i];
  }
  check(correct >= 180, "held-out accuracy " + std::to_string(correct) + " / 200");

  // Save: the trainable state is exactly the memory. Load: rebuild model and plan from the
  // same code and config, then copy the memory in; the predictions are bit-identical.
  const std::string path = (dir / "from_code.ckpt").string();
  roast::Checkpoint checkpoint;
  checkpoint.header_json = "{\"model\": \"mlp\", \"hidden\": [64], \"compression\": 4}";
  checkpoint.tensors.emplace_back("memory", memory.params());
  roast::save_checkpoint(path, checkpoint);

  std::unique_ptr<roast::nn::Model> loaded = roast::nn::make_mlp(image_input(), options);
  roast::Planner loaded_planner;
  loaded->declare(loaded_planner);
  roast::Memory loaded_memory(loaded_planner.finalize(memory_config()));
  const roast::Checkpoint saved = roast::load_checkpoint(path);
  loaded_memory.params().detach().copy_from(saved.tensor("memory"));
  check(saved.header_json == checkpoint.header_json, "the checkpoint keeps its header");
  check(logits_of(*loaded, loaded_memory) == logits, "the loaded model predicts exactly as the trained one");
  return 0;
}

void write_idx(const fs::path& path, const std::vector<std::uint8_t>& data, const std::vector<std::uint32_t>& dims) {
  std::ofstream out(path, std::ios::binary);
  const char magic[4] = {0, 0, 8, static_cast<char>(dims.size())};
  out.write(magic, 4);
  for (std::uint32_t d : dims) {
    const char be[4] = {char(d >> 24), char(d >> 16), char(d >> 8), char(d)};
    out.write(be, 4);
  }
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  if (!out) throw roast::Error("cannot write " + path.string());
}

// Ten classes of 28 x 28 images: class c lights a 4 x 4 block at its own place, plus noise.
void write_split(const fs::path& dir, const std::string& prefix, int n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::uint8_t> images(static_cast<std::size_t>(n) * 784), labels(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    const int c = i % 10;
    labels[std::size_t(i)] = std::uint8_t(c);
    for (int p = 0; p < 784; ++p) images[std::size_t(i) * 784 + std::size_t(p)] = std::uint8_t(rng() % 60);
    for (int y = 0; y < 4; ++y)
      for (int x = 0; x < 4; ++x)
        images[std::size_t(i) * 784 + std::size_t((4 + (c / 5) * 12 + y) * 28 + 2 + (c % 5) * 5 + x)] = 250;
  }
  write_idx(dir / (prefix + "-images-idx3-ubyte"), images, {std::uint32_t(n), 28, 28});
  write_idx(dir / (prefix + "-labels-idx1-ubyte"), labels, {std::uint32_t(n)});
}

int make_dataset(const fs::path& dir) {
  fs::create_directories(dir / "data");
  write_split(dir / "data", "train", 400, 1);
  write_split(dir / "data", "t10k", 100, 2);
  std::ofstream config(dir / "tiny.json");
  config << "{\n"
            "  \"name\": \"tiny\",\n"
            "  \"seed\": 3,\n"
            "  \"data\": {\"dataset\": \"mnist\", \"path\": \"" << (dir / "data").generic_string() << "\", \"validation_fraction\": 0.2},\n"
            "  \"model\": {\"type\": \"mlp\", \"hidden\": [32]},\n"
            "  \"memory\": {\"scheme\": \"roast\", \"compression\": 10, \"exact_threshold\": 0},\n"
            "  \"optimizer\": {\"name\": \"adam\", \"lr\": 0.01},\n"
            "  \"train\": {\"epochs\": 3, \"batch_size\": 32}\n"
            "}\n";
  if (!config) throw roast::Error("cannot write " + (dir / "tiny.json").string());
  std::printf("wrote %s and %s\n", (dir / "data").c_str(), (dir / "tiny.json").c_str());
  return 0;
}

// Example 2: a model trained by `roast-train train`, used from C++.
int predict(const std::string& checkpoint_path, const fs::path& dir) {
  const roast::TrainedModel model = roast::TrainedModel::load(checkpoint_path);
  const std::vector<std::int64_t> shape = model.image_shape();  // channels, height, width
  std::printf("loaded %s: %s model for %lldx%lldx%lld, %zu classes\n", checkpoint_path.c_str(),
              model.is_text() ? "text" : "image", static_cast<long long>(shape[0]), static_cast<long long>(shape[1]),
              static_cast<long long>(shape[2]), model.class_names().size());

  // The test split with its labels, read through roast's own IDX reader.
  const roast::data::ImageDataset test = roast::data::read_idx_dataset(
      (dir / "data" / "t10k-images-idx3-ubyte").string(), (dir / "data" / "t10k-labels-idx1-ubyte").string(), 10);
  std::vector<std::vector<std::uint8_t>> images;
  for (std::int64_t i = 0; i < test.n; ++i) images.emplace_back(test.image(i), test.image(i) + test.pixels_per_image());
  const std::vector<roast::Prediction> predictions = model.predict_images(images);

  int correct = 0;
  for (std::size_t i = 0; i < predictions.size(); ++i) {
    correct += predictions[i].label == test.labels[i];
    if (i < 3)
      std::printf("image %zu: class %d (%s), p = %.3f; true class %d\n", i, predictions[i].label,
                  predictions[i].class_name.c_str(), double(predictions[i].probability), test.labels[i]);
  }
  check(predictions.size() == images.size(), "one prediction per image");
  check(correct >= 90, "accuracy of the roast-train model: " + std::to_string(correct) + " / " +
                           std::to_string(predictions.size()));
  return 0;
}

// Runs `action`; passes when it throws roast::Error whose message contains every `needle`.
void expect_error(const std::string& what, const std::function<void()>& action, const std::vector<std::string>& needles) {
  try {
    action();
  } catch (const roast::Error& e) {
    bool ok = true;
    for (const std::string& needle : needles) ok = ok && std::strstr(e.what(), needle.c_str()) != nullptr;
    check(ok, what + ": roast::Error \"" + e.what() + "\"");
    return;
  } catch (const std::exception& e) {
    check(false, what + ": threw another exception type: " + e.what());
    return;
  }
  check(false, what + ": no error");
}

int bad_input(const std::string& checkpoint_path, const fs::path& dir) {
  // 1. Mismatched shapes: images of the wrong size, to the model and to a loaded model.
  {
    roast::nn::MlpOptions options;
    std::unique_ptr<roast::nn::Model> model = roast::nn::make_mlp(image_input(), options);
    roast::Planner planner;
    model->declare(planner);
    const roast::Memory memory(planner.finalize(memory_config()));
    roast::nn::Batch batch;
    batch.images = roast::randn({2, 1, 8, 8}, 5);  // the model was built for 1 x 16 x 16
    expect_error("8x8 images into a model for 16x16", [&] {
      roast::nn::Context ctx(memory);
      model->forward(batch, ctx);
    }, {"expects images [B, 1, 16, 16]", "[2, 1, 8, 8]"});
    expect_error("matmul of [2, 3] and [4, 5]", [] { roast::matmul(roast::randn({2, 3}, 1), roast::randn({4, 5}, 2)); },
                 {"matmul", "[2, 3]", "[4, 5]"});
    const roast::TrainedModel trained = roast::TrainedModel::load(checkpoint_path);
    expect_error("a 10-byte image to a loaded model", [&] { trained.predict_images({std::vector<std::uint8_t>(10, 0)}); },
                 {"image 0 has 10 values", "1x28x28 = 784"});
    expect_error("texts to an image model", [&] { trained.predict_texts({"some text"}); }, {"classifies images"});
  }
  // 2. A checkpoint of another format version: the u32 after the 8-byte magic.
  {
    std::ifstream in(checkpoint_path, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    const std::uint32_t other = roast::kCheckpointVersion + 1;
    for (int b = 0; b < 4; ++b) bytes[std::size_t(8 + b)] = char((other >> (8 * b)) & 0xff);
    const std::string path = (dir / "other_version.ckpt").string();
    std::ofstream(path, std::ios::binary) << bytes;
    expect_error("a checkpoint of format version " + std::to_string(other), [&] { roast::TrainedModel::load(path); },
                 {path, "format version " + std::to_string(other), "reads version " + std::to_string(roast::kCheckpointVersion)});
    expect_error("the same through load_checkpoint", [&] { roast::load_checkpoint(path); }, {"format version"});
  }
  // 3. Model definitions the memory cannot hold.
  {
    roast::nn::MlpOptions options;
    options.hidden = {64};
    std::unique_ptr<roast::nn::Model> model = roast::nn::make_mlp(image_input(), options);
    roast::Planner planner;
    model->declare(planner);
    roast::MemoryConfig too_small = memory_config();
    too_small.compression.reset();
    too_small.floats = 40;  // the 68 bias cells alone need more
    expect_error("a memory smaller than the exact cells", [&] { planner.finalize(too_small); },
                 {"memory.floats", "68", "short"});
    too_small.floats = 200;  // room for the biases, not for one 16 x 16 tile
    too_small.tile_fit_auto = false;  // "auto" would halve the tile until it fits
    expect_error("a shared region smaller than one tile", [&] { planner.finalize(too_small); },
                 {"memory.floats", "shared region", "256"});
    roast::MemoryConfig inflated = memory_config();
    inflated.compression = 0.5;  // more cells than virtual weights
    expect_error("a compression below 1", [&] { planner.finalize(inflated); }, {"memory.compression"});
  }
  return 0;
}

int usage() {
  std::fprintf(stderr,
               "usage: roast_consumer train-from-code DIR | make-dataset DIR | predict CKPT DIR | bad-input CKPT DIR\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::printf("roast %s (CUDA %s, built for the native CPU: %s)\n", ROAST_VERSION_STRING, ROAST_WITH_CUDA ? "on" : "off",
              ROAST_BUILT_FOR_NATIVE_CPU ? "yes" : "no");
  if (std::strcmp(ROAST_VERSION_STRING, EXPECTED_ROAST_VERSION) != 0) {
    std::fprintf(stderr, "roast/config.h says %s but find_package(roast) found %s\n", ROAST_VERSION_STRING,
                 EXPECTED_ROAST_VERSION);
    return 1;
  }
  if (argc < 3) return usage();
  const std::string command = argv[1];
  try {
    if (command == "train-from-code" && argc == 3) train_from_code(argv[2]);
    else if (command == "make-dataset" && argc == 3) make_dataset(argv[2]);
    else if (command == "predict" && argc == 4) predict(argv[2], argv[3]);
    else if (command == "bad-input" && argc == 4) bad_input(argv[2], argv[3]);
    else return usage();
  } catch (const roast::Error& e) {
    std::fprintf(stderr, "roast::Error: %s\n", e.what());
    return 1;
  }
  std::printf("%s: %d failed check(s)\n", command.c_str(), n_failures);
  return n_failures == 0 ? 0 : 1;
}
