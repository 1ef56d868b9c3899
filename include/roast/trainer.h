// Training runs driven by a JSON config, and trained models loaded back for evaluation and
// prediction. This is what `roast-train train / eval / predict` call.
//
// A run directory holds: resolved_config.json (every default filled in), metrics.jsonl (one
// JSON object per evaluation), summary.json (final figures), last.ckpt (the latest state,
// for --resume), best.ckpt (the weights with the best validation accuracy), and for text
// sets vocab.txt and, where the set has no test split, split.json. Every file is written
// to a temporary name and renamed: a crash never leaves a half-written file.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace roast {
namespace dist {
class Communicator;  // roast/distributed.h
}

struct TrainOptions {
  std::string config_path;
  std::vector<std::string> overrides;  // "a.b=value", applied in order
  std::string out_dir;                 // "" = runs/<config name>
  bool resume = false;                 // continue from out_dir/last.ckpt
  bool progress = true;                // progress output on stderr
  // Data-parallel training (roast/distributed.h, docs/distributed.md): null or one rank =
  // one process. With several ranks every rank calls train() with the same options;
  // train.batch_size stays the global batch, each rank processes its share of every batch,
  // the memory's gradient is summed over the ranks once per step, and rank 0 alone writes
  // the run folder. Errors are thrown on every rank (dist::CollectiveError) or, when only
  // one rank can know them, as a plain Error on that rank (the caller aborts the job).
  dist::Communicator* comm = nullptr;
  std::string comm_engine = "auto";  // the gradient sum: auto, mpi or nccl (docs/distributed.md)
};

struct TrainSummary {
  std::string run_dir;
  double test_accuracy = 0, val_accuracy = 0, test_loss = 0;
  std::int64_t virtual_params = 0, memory_floats = 0;
  double compression = 0;
  double train_seconds = 0, samples_per_second = 0, data_wait_seconds = 0;
  std::int64_t steps = 0;
  bool stopped_early = false;
  int world_size = 1;                    // ranks that trained together
  std::string comm_engine;               // what summed the gradients ("single process", "MPI (...)", "NCCL x.y.z")
  std::int64_t comm_bytes_per_step = 0;  // floats all-reduced per step x 4 (0 on one rank without NCCL)
  double comm_seconds = 0;               // time in the per-step reductions (includes waiting for the slowest rank)
  // Training steps run by replaying the step's CUDA graph (train.cuda_graphs; 0 on the CPU,
  // with graphs off, or when the step could not be captured).
  std::int64_t cuda_graph_replays = 0;
};

// Trains as configured. Throws roast::Error for bad config, data or checkpoints (nothing
// is left half-written); a NaN or infinite loss stops the run with an Error after keeping
// the last good checkpoint.
TrainSummary train(const TrainOptions& options);

struct Prediction {
  std::int32_t label = 0;
  std::string class_name;
  float probability = 0;
};
struct Evaluation {
  double accuracy = 0, loss = 0;
  std::int64_t n_samples = 0;
};

// A trained model loaded from a checkpoint written by train() (best.ckpt or last.ckpt).
// Every member throws roast::Error for bad input; none leaves the model changed.
class TrainedModel {
 public:
  // Reads the checkpoint and rebuilds the model and its memory from the config
  // stored in it. The data files are needed only by evaluate(). Throws roast::Error naming
  // the file for a missing, truncated or corrupted file, another format version
  // (kCheckpointVersion, checkpoint.h) or a checkpoint not written by train().
  // device: "" = the device the run trained on when this machine has it, else the CPU;
  // or "cpu", "cuda", "cuda:N" (throws roast::Error when this build or machine lacks it).
  // Checkpoints hold host bytes, so one trained on a GPU loads on the CPU and vice versa.
  // Evaluation uses the process's backend settings (roast/backend.h; fp32 by default).
  static TrainedModel load(const std::string& checkpoint_path, const std::string& device = "");
  ~TrainedModel();
  TrainedModel(TrainedModel&&) noexcept;
  TrainedModel& operator=(TrainedModel&&) noexcept;

  bool is_text() const;
  // One name per class, or empty when the training data named none (Prediction::class_name
  // is then the label number).
  const std::vector<std::string>& class_names() const;
  // split: "test" or "validation" (the run's data config says where the files are).
  Evaluation evaluate(const std::string& split) const;
  // One prediction per input, in order: the most probable class and its softmax probability.
  // predict_images: an image model (!is_text()); each image is bytes in [0, 255], channels x
  // height x width (CHW) in image_shape(), normalised as in training. predict_texts: a text
  // model; texts are tokenized with the run's vocabulary and cut to its max length. Requires
  // at least one input. Throws roast::Error otherwise (an image of the wrong size is named,
  // with the size expected).
  std::vector<Prediction> predict_images(const std::vector<std::vector<std::uint8_t>>& images) const;
  std::vector<Prediction> predict_texts(const std::vector<std::string>& texts) const;
  // The model's expected image shape (channels, height, width); image models only.
  std::vector<std::int64_t> image_shape() const;

 private:
  struct State;
  explicit TrainedModel(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace roast
