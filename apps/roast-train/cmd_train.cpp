// `roast-train train`, `eval` and `predict`.
#include <cstdio>
#include <fstream>
#include <iostream>

#include "commands.h"
#include "roast/data/idx.h"
#include "roast/error.h"
#include "roast/trainer.h"

namespace roast {
namespace cli {
namespace {

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail("--input ", path, ": cannot open the file. Give a text file with one text per line");
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) lines.push_back(line);
  if (lines.empty()) fail("--input ", path, ": the file holds no text (one text per line expected)");
  return lines;
}

void print_prediction(const Prediction& p, const std::string& what) {
  std::printf("%s\t%.4f\t%s\n", p.class_name.c_str(), double(p.probability), what.c_str());
}

}  // namespace

void add_train_commands(CLI::App& app) {
  auto options = std::make_shared<TrainOptions>();
  CLI::App* train = app.add_subcommand("train", "Train a model from a JSON config (docs/config.md)");
  train->add_option("--config", options->config_path, "The run's JSON config")->required()->check(CLI::ExistingFile);
  train->add_option("--set", options->overrides, "Override a config key, e.g. --set optimizer.lr=0.01 (repeatable)");
  train->add_option("--out", options->out_dir, "Run directory (default runs/<config name>)");
  train->add_flag("--resume", options->resume, "Continue the run in --out from its last.ckpt");
  train->add_flag("--quiet", [options](std::int64_t) { options->progress = false; }, "No progress output");
  train->callback([options] {
    const TrainSummary s = roast::train(*options);
    std::printf("test accuracy %.2f%% (validation %.2f%%), %lld virtual parameters in %lld floats (%.1fx), "
                "%.0f samples/s\nresults: %s (summary.json, metrics.jsonl, best.ckpt)\n",
                100.0 * s.test_accuracy, 100.0 * s.val_accuracy, (long long)s.virtual_params,
                (long long)s.memory_floats, s.compression, s.samples_per_second, s.run_dir.c_str());
  });

  auto checkpoint = std::make_shared<std::string>();
  auto split = std::make_shared<std::string>("test");
  CLI::App* eval = app.add_subcommand("eval", "Evaluate a checkpoint on the test or validation split");
  eval->add_option("--checkpoint", *checkpoint, "A best.ckpt or last.ckpt")->required()->check(CLI::ExistingFile);
  eval->add_option("--split", *split, "test or validation")->check(CLI::IsMember({"test", "validation"}));
  eval->callback([checkpoint, split] {
    const TrainedModel model = TrainedModel::load(*checkpoint);
    const Evaluation e = model.evaluate(*split);
    std::printf("%s accuracy %.2f%% loss %.4f on %lld samples\n", split->c_str(), 100.0 * e.accuracy, e.loss,
                (long long)e.n_samples);
  });

  auto predict_checkpoint = std::make_shared<std::string>();
  auto input = std::make_shared<std::string>();
  CLI::App* predict = app.add_subcommand("predict", "Classify texts (one per line) or images (an IDX file)");
  predict->add_option("--checkpoint", *predict_checkpoint, "A best.ckpt or last.ckpt")->required()->check(CLI::ExistingFile);
  predict->add_option("--input", *input, "Texts: a file, one text per line. Images: an IDX image file (raw or gzip)")
      ->required()
      ->check(CLI::ExistingFile);
  predict->callback([predict_checkpoint, input] {
    const TrainedModel model = TrainedModel::load(*predict_checkpoint);
    if (model.is_text()) {
      const std::vector<std::string> texts = read_lines(*input);
      const std::vector<Prediction> p = model.predict_texts(texts);
      for (std::size_t i = 0; i < p.size(); ++i) print_prediction(p[i], texts[i].substr(0, 60));
      return;
    }
    const data::ImageDataset images = data::read_idx_images(*input);
    const std::vector<std::int64_t> shape = model.image_shape();
    if (images.channels != shape[0] || images.height != shape[1] || images.width != shape[2])
      fail("--input ", *input, ": images are ", images.channels, "x", images.height, "x", images.width,
           " but the model expects ", shape[0], "x", shape[1], "x", shape[2]);
    std::vector<std::vector<std::uint8_t>> batch;
    for (std::int64_t i = 0; i < images.n; ++i)
      batch.emplace_back(images.image(i), images.image(i) + images.pixels_per_image());
    const std::vector<Prediction> p = model.predict_images(batch);
    for (std::size_t i = 0; i < p.size(); ++i) print_prediction(p[i], "image " + std::to_string(i));
  });
}

}  // namespace cli
}  // namespace roast
