// `roast-train train`, `eval` and `predict`.
#include <cstdio>
#include <fstream>
#include <iostream>

#include "commands.h"
#include "ranks.h"
#include "roast/data/idx.h"
#include "roast/data/png.h"
#include "roast/distributed.h"
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

bool is_png(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char head[4] = {};
  in.read(head, 4);
  return head[1] == 'P' && head[2] == 'N' && head[3] == 'G';
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
  train->add_option("--comm", options->comm_engine,
                    "Under mpirun, what sums the gradients: auto (NCCL on GPUs, else MPI), mpi (through host memory), "
                    "nccl (also at one rank); docs/distributed.md")
      ->check(CLI::IsMember({"auto", "mpi", "nccl"}))
      ->capture_default_str();
  train->callback([options] {
    // Under mpirun: the MPI communicator (every rank runs this); otherwise one process.
    const std::unique_ptr<dist::Communicator> comm = dist::connect();
    options->comm = comm.get();
    on_every_rank(*comm, [&] {
      const TrainSummary s = roast::train(*options);
      if (comm->rank() != 0) return;
      std::printf("test accuracy %.2f%% (validation %.2f%%), %lld virtual parameters in %lld floats (%.1fx), "
                  "%.0f samples/s\n",
                  100.0 * s.test_accuracy, 100.0 * s.val_accuracy, (long long)s.virtual_params,
                  (long long)s.memory_floats, s.compression, s.samples_per_second);
      if (s.comm_bytes_per_step > 0)
        std::printf("data parallel: %d rank(s), %s, %lld bytes all-reduced per step, %.2f s in communication (%.1f%% of "
                    "training)\n",
                    s.world_size, s.comm_engine.c_str(), (long long)s.comm_bytes_per_step, s.comm_seconds,
                    s.train_seconds > 0 ? 100.0 * s.comm_seconds / s.train_seconds : 0.0);
      std::printf("results: %s (summary.json, metrics.jsonl, best.ckpt)\n", s.run_dir.c_str());
    });
  });

  auto checkpoint = std::make_shared<std::string>();
  auto split = std::make_shared<std::string>("test");
  auto eval_device = std::make_shared<std::string>();
  CLI::App* eval = app.add_subcommand("eval", "Evaluate a checkpoint on the test or validation split");
  eval->add_option("--checkpoint", *checkpoint, "A best.ckpt or last.ckpt")->required()->check(CLI::ExistingFile);
  eval->add_option("--split", *split, "test or validation")->check(CLI::IsMember({"test", "validation"}));
  eval->add_option("--device", *eval_device,
                   "cpu, cuda or cuda:N (default: the run's device when this machine has it, else cpu)");
  eval->callback([checkpoint, split, eval_device] {
    const TrainedModel model = TrainedModel::load(*checkpoint, *eval_device);
    const Evaluation e = model.evaluate(*split);
    std::printf("%s accuracy %.2f%% loss %.4f on %lld samples\n", split->c_str(), 100.0 * e.accuracy, e.loss,
                (long long)e.n_samples);
  });

  auto predict_checkpoint = std::make_shared<std::string>();
  auto inputs = std::make_shared<std::vector<std::string>>();
  auto predict_device = std::make_shared<std::string>();
  CLI::App* predict = app.add_subcommand("predict", "Classify texts (one per line) or images (PNG or IDX files)");
  predict->add_option("--checkpoint", *predict_checkpoint, "A best.ckpt or last.ckpt")->required()->check(CLI::ExistingFile);
  predict->add_option("--input", *inputs, "Texts: files with one text per line. Images: PNG files or IDX image files")
      ->required()
      ->check(CLI::ExistingFile);
  predict->add_option("--device", *predict_device,
                      "cpu, cuda or cuda:N (default: the run's device when this machine has it, else cpu)");
  predict->callback([predict_checkpoint, inputs, predict_device] {
    const TrainedModel model = TrainedModel::load(*predict_checkpoint, *predict_device);
    if (model.is_text()) {
      for (const std::string& file : *inputs) {
        const std::vector<std::string> texts = read_lines(file);
        const std::vector<Prediction> p = model.predict_texts(texts);
        for (std::size_t i = 0; i < p.size(); ++i) print_prediction(p[i], texts[i].substr(0, 60));
      }
      return;
    }
    const std::vector<std::int64_t> shape = model.image_shape();
    std::vector<std::vector<std::uint8_t>> images;
    std::vector<std::string> names;
    for (const std::string& file : *inputs) {
      if (is_png(file)) {
        const data::PngImage png = data::convert_channels(data::read_png(file), shape[0]);
        if (png.height != shape[1] || png.width != shape[2])
          fail("--input ", file, ": the image is ", png.width, "x", png.height, " pixels but the model expects ", shape[2],
               "x", shape[1], "; resize it first");
        images.push_back(png.pixels);
        names.push_back(file);
        continue;
      }
      const data::ImageDataset idx = data::read_idx_images(file);
      if (idx.channels != shape[0] || idx.height != shape[1] || idx.width != shape[2])
        fail("--input ", file, ": images are ", idx.channels, "x", idx.height, "x", idx.width, " but the model expects ",
             shape[0], "x", shape[1], "x", shape[2]);
      for (std::int64_t i = 0; i < idx.n; ++i) {
        images.emplace_back(idx.image(i), idx.image(i) + idx.pixels_per_image());
        names.push_back(file + " image " + std::to_string(i));
      }
    }
    const std::vector<Prediction> p = model.predict_images(images);
    for (std::size_t i = 0; i < p.size(); ++i) print_prediction(p[i], names[i]);
  });
}

}  // namespace cli
}  // namespace roast
