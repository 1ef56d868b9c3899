// What a run and a loaded model share: config, data description, model, memory, and the
// conversions to and from checkpoints. Engine code.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "config/run_config.h"
#include "roast/checkpoint.h"
#include "roast/distributed.h"
#include "roast/memory.h"
#include "roast/nn/models.h"
#include "roast/trainer.h"
#include "train/data_source.h"

namespace roast {

struct Session {
  RunConfig config;
  nlohmann::json resolved;  // the config with every default filled in
  std::string source;       // the config file (or checkpoint) errors should name
  nn::InputSpec input;
  std::vector<std::string> class_names;
  std::unique_ptr<nn::Model> model;
  std::unique_ptr<Memory> memory;
  std::vector<std::pair<std::string, Tensor*>> buffers;
  // Where the memory, the buffers and every batch live (build_model uses it). CPU unless
  // the caller set it from usable_device.
  Device device = Device::cpu();
};

// Reads a config file, applies overrides, parses and validates everything but the model.
// The device is only parsed here (describing a config needs no GPU); see usable_device.
Session open_config(const std::string& path, const std::vector<std::string>& overrides);
// Builds the model for `input` and plans its memory on session.device (the model's keys
// are validated here); the model's buffers are moved there too.
void build_model(Session& session, const nn::InputSpec& input, const std::vector<std::string>& class_names);

// The device `text` names, checked to exist in this build and on this machine, and made
// the current CUDA device. Throws roast::Error starting with `where` (the config file and
// key, or the CLI flag) and saying how to fix it (`cpu_setting`: how to ask for the CPU
// there): a CUDA device in a build without the CUDA backend, or a cuda:N this machine lacks.
Device usable_device(const std::string& text, const std::string& where, const std::string& cpu_setting);
// The device `text` names when this machine has it, else the CPU (loading a checkpoint
// trained on a GPU on a machine without one).
Device device_or_cpu(const std::string& text);
// The fix of a run's config: another precision, or another GPU.
inline const char* const kPrecisionFix =
    "Use \"precision\": \"fp32\" or \"tf32\" (--set precision=fp32), or run on such a GPU";
// Refuses a `precision` the device cannot compute: "bf16" on a CUDA device of compute
// capability below 8.0 (no bf16 tensor cores) throws roast::Error "<where>: <why>. <fix>",
// naming the key (exit code 2 in roast-train). The CPU takes every precision (it emulates
// bf16). Call after usable_device, before any data is read.
void check_precision(const Device& device, const std::string& precision, const std::string& where,
                     const std::string& fix = kPrecisionFix);
// Why `precision` cannot run on a device of `compute_capability` (10 * major + minor) named
// `device_name`, or "" when it can (what check_precision says; testable without a GPU).
std::string precision_unsupported(const std::string& precision, int compute_capability, const std::string& device_name);
// The numeric options of the config's products (keys precision, deterministic): every
// forward context of the session carries them (nn::Context::numerics).
Numerics numerics_of(const RunConfig& config);
// A forward context over the session's memory with the config's numerics.
nn::Context forward_context(const Session& session, bool training, std::uint64_t seed = 0);

// Where a run is in its schedule; stored in checkpoints.
struct TrainState {
  std::int64_t step = 0, epoch = 0, batch_in_epoch = 0;
  double best_val_accuracy = -1;
  std::int64_t best_step = -1, evals_since_best = 0;
  double train_seconds = 0;
  std::int64_t samples = 0;
  nlohmann::json metrics = nlohmann::json::array();  // every evaluation so far
};

constexpr const char* kCheckpointFormat = "roast-training-checkpoint";

// A checkpoint of the session. With `optimizer`, the memory's slots and the schedule state
// are included (last.ckpt); without, only what prediction needs (best.ckpt).
Checkpoint make_checkpoint(const Session& session, const TrainState& state, const PreparedData* data, bool optimizer);
// The header of a checkpoint, validated: "format", and every field the loaders read with
// its type and range (input shape, class names, state, vocabulary or channel statistics).
nlohmann::json checkpoint_header(const Checkpoint& checkpoint, const std::string& path);
// True when the checkpoint holds every optimizer slot this session's memory has (last.ckpt
// does; best.ckpt does not).
bool has_optimizer_state(const Session& session, const Checkpoint& checkpoint);
// True when an f32 tensor holds no NaN or infinity (reads it back once).
bool all_finite(const Tensor& tensor);
// Copies the memory, buffers and (when present and wanted) the slots from a checkpoint.
void restore_weights(Session& session, const Checkpoint& checkpoint, const std::string& path, bool slots);
TrainState restore_state(const nlohmann::json& header);
// Throws roast::Error naming the first key whose value differs, ignoring the run-length
// keys of "train" (epochs, max_steps, early_stopping, log_every; cuda_graphs, which changes
// how a step runs, not what it computes), "device", "optimizer.lr"
// and "schedule" (allowed changes on --resume).
void require_same_config(const nlohmann::json& here, const nlohmann::json& there, const std::string& path);
// The first key path where two configs differ ("(top level)" for different types), or "".
std::string first_difference(const nlohmann::json& a, const nlohmann::json& b, const std::string& path = "");

// Loss and accuracy of the session's model on one part of the data. Each batch is copied
// to session.device once; per batch, the logits and the loss are read back once each.
// With a communicator of several ranks, each rank evaluates its share of every batch and the
// sums are reduced (collective): every rank returns the same figures.
Evaluation evaluate(Session& session, const PreparedData& data, PreparedData::Part part,
                    dist::Communicator* comm = nullptr);
// Rows of logits [B, C] (any device: read back once) whose arg-max is the label (i32 [B]).
std::int64_t count_correct(const Tensor& logits, const Tensor& labels);

}  // namespace roast
