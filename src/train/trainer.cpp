// The training loop of `roast-train train`.
#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <functional>
#include <optional>
#include <sstream>
#include <unistd.h>

#include "dist/gradient_sync.h"
#include "io/crash_point.h"
#include "io/run_lock.h"
#include "kernels/backend.h"
#include "roast/config.h"
#include "roast/hash.h"
#include "roast/ops.h"
#include "roast/optim.h"
#include "train/progress.h"
#include "train/session.h"
#include "train/train_step.h"
#ifdef _OPENMP
#include <omp.h>
#endif

namespace roast {
namespace fs = std::filesystem;

namespace {
double peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return double(usage.ru_maxrss) / 1024.0;  // Linux reports KiB
}

std::string lines_of(const nlohmann::json& array) {
  std::string out;
  for (const nlohmann::json& j : array) out += j.dump() + "\n";
  return out;
}

void prepare_run_dir(const std::string& dir, bool resume) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir))
    fail("--out ", dir, ": cannot create the run directory (", ec ? ec.message() : "not a directory",
         "). Choose a writable folder");
  const std::string probe = dir + "/.write_test";
  write_file_atomic(probe, "");  // fails with a clear message when the folder is not writable
  fs::remove(probe, ec);
  if (!resume && fs::exists(dir + "/last.ckpt"))
    fail("--out ", dir, " already holds a run (last.ckpt). Continue it with --resume, or choose another --out");
}

// a * b, saturating at INT64_MAX (both non-negative).
std::int64_t saturating_mul(std::int64_t a, std::int64_t b) {
  if (a == 0 || b == 0) return 0;
  return a > INT64_MAX / b ? INT64_MAX : a * b;
}

// A 64-bit hash of bytes (FNV-1a), for the cross-rank checks.
std::uint64_t fingerprint(const void* data, std::size_t n) {
  std::uint64_t h = 1469598103934665603ull;
  const unsigned char* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}
std::string hex(std::uint64_t v) {
  std::ostringstream out;
  out << std::hex << v;
  return out.str();
}

class Loop {
 public:
  Loop(Session& s, PreparedData& data, TrainState st, std::string dir, bool show_progress, bool resumed,
       dist::Communicator& comm, dist::GradientSync& sync)
      : s_(s), data_(data), st_(std::move(st)), dir_(std::move(dir)), optimizer_(s.config.optimizer),
        progress_(show_progress, s.config.train.log_every), comm_(comm), sync_(sync) {
    if (s.config.optimizer.grad_scaling) grad_scale_ = gradient_scale(s.memory->plan(), s.device);
    if (resumed) last_finite_step_ = st_.step;  // last.ckpt, loaded and checked finite
    const TrainConfig& t = s.config.train;
    // Data-parallel steps sum the gradient over the ranks inside the step: never captured.
    if (syncing() && !s.device.is_cpu() && t.cuda_graphs && t.cuda_graphs_explicit)
      fail("`train.cuda_graphs`: true cannot be honoured by data-parallel training (the gradient is summed over the ",
           "ranks inside each step, which a CUDA graph cannot replay). Set train.cuda_graphs to false, or leave it out");
    step_ = std::make_unique<TrainStep>(s, optimizer_, s.config.optimizer.grad_scaling ? &grad_scale_ : nullptr,
                                        t.cuda_graphs && !syncing(), t.cuda_graphs_explicit);
  }

  TrainSummary run();

 private:
  bool train_epoch(data::BatchLoader& loader, std::int64_t n_batches, std::int64_t total_steps);
  // Returns true when early stopping says to stop.
  bool evaluate_and_save();
  void save(const std::string& name, bool optimizer) {
    if (comm_.rank() == 0) save_checkpoint(dir_ + "/" + name, make_checkpoint(s_, st_, &data_, optimizer));
    if (name == "last.ckpt") last_finite_step_ = st_.step;
  }
  bool syncing() const { return comm_.size() > 1 || sync_.uses_nccl(); }
  // Several ranks: the gradient, the loss and the buffers summed over the ranks (collective).
  void reduce_step(Tensor& grad, double& loss, const data::Batch& b);
  // One data-parallel step: the loss is read back and summed over the ranks every step.
  // Returns the step's (global) loss.
  double synced_step(const data::Batch& b, float lr, std::uint64_t dropout_seed);
  // Reads the training metrics the steps summed on the device (synchronises; every
  // train.log_every steps and before each evaluation) and stops a run whose summed loss is
  // not finite: the granularity of the divergence check (docs/reliability.md).
  void read_metrics();
  [[noreturn]] void diverged_loss(double loss, const std::string& when);
  // Several ranks: stops the job (CollectiveError on every rank) when the ranks' parameters
  // are no longer bit-identical.
  void check_ranks_agree();
  // Stops a diverged run (roast::Error, exit 2) naming what went non-finite, the step, the
  // last checkpoint that is finite, and the fixes that --resume allows.
  [[noreturn]] void diverged(const std::string& what);

  Session& s_;
  PreparedData& data_;
  TrainState st_;
  std::string dir_;
  Optimizer optimizer_;
  Progress progress_;
  Tensor grad_scale_;
  std::unique_ptr<TrainStep> step_;
  double loss_since_eval_ = 0, correct_since_eval_ = 0;
  std::int64_t steps_since_eval_ = 0, samples_since_eval_ = 0, n_batches_ = 1, total_steps_ = 1;
  // Steps since the metrics were last read, and the (global) loss of those run by synced_step.
  std::int64_t steps_since_read_ = 0, first_unread_step_ = 1;
  double synced_loss_since_read_ = 0;
  std::int64_t last_finite_step_ = -1;  // the step last.ckpt holds; -1: none written by this run
  bool stop_ = false, stopped_early_ = false;
  dist::Communicator& comm_;
  dist::GradientSync& sync_;
  double comm_seconds_ = 0;
  std::int64_t comm_bytes_per_step_ = 0;
};

TrainSummary Loop::run() {
  const TrainConfig& t = s_.config.train;
  auto loader = data_.loader(PreparedData::train, t.batch_size, s_.config.seed, s_.config.data.augment, comm_.rank(),
                             comm_.size());
  const std::int64_t n_batches = loader->n_batches();
  n_batches_ = n_batches;
  std::int64_t total_steps = saturating_mul(t.epochs, n_batches);
  if (t.max_steps > 0) total_steps = std::min(total_steps, t.max_steps);
  total_steps_ = total_steps;
  if (st_.batch_in_epoch > n_batches)
    fail("checkpoint ", dir_, "/last.ckpt: its state.batch_in_epoch ", st_.batch_in_epoch, " is beyond the ", n_batches,
         " batches of an epoch of this data; the checkpoint is damaged or belongs to other data. Start a new run with another --out");
  optimizer_.set_steps_taken(st_.step);
  first_unread_step_ = st_.step + 1;
  double wait = 0;
  while (!stop_ && st_.epoch < t.epochs) {
    loader->start_epoch(st_.epoch);
    const bool finished = train_epoch(*loader, n_batches, total_steps);
    wait += loader->epoch_wait_seconds();
    if (!finished) break;
    ++st_.epoch;
    st_.batch_in_epoch = 0;
    if (t.eval_every == 0 && evaluate_and_save()) break;
  }
  if (steps_since_eval_ > 0) evaluate_and_save();  // runs cut short by max_steps end evaluated too
  save("last.ckpt", true);

  // Test with the best weights on validation (rank 0 reads best.ckpt; the others get its bytes).
  std::string best_bytes;
  if (comm_.rank() == 0) best_bytes = read_checkpoint_file(dir_ + "/best.ckpt");
  comm_.broadcast(best_bytes, 0);
  const Checkpoint best = parse_checkpoint(best_bytes, dir_ + "/best.ckpt");
  restore_weights(s_, best, dir_ + "/best.ckpt", false);
  const Evaluation test = evaluate(s_, data_, PreparedData::test, &comm_);
  TrainSummary sum;
  sum.run_dir = dir_;
  sum.test_accuracy = test.accuracy;
  sum.test_loss = test.loss;
  sum.val_accuracy = st_.best_val_accuracy;
  sum.virtual_params = s_.memory->plan().n_virtual();
  sum.memory_floats = s_.memory->n_floats();
  sum.compression = s_.memory->plan().compression();
  sum.train_seconds = st_.train_seconds;
  sum.samples_per_second = st_.train_seconds > 0 ? double(st_.samples) / st_.train_seconds : 0;
  sum.data_wait_seconds = wait;
  sum.steps = st_.step;
  sum.stopped_early = stopped_early_;
  sum.world_size = comm_.size();
  sum.comm_engine = sync_.engine();
  sum.comm_bytes_per_step = comm_bytes_per_step_;
  sum.comm_seconds = comm_seconds_;
  sum.cuda_graph_replays = step_->graph_replays();
  const nlohmann::json summary = {{"test_accuracy", sum.test_accuracy},
                                  {"test_loss", sum.test_loss},
                                  {"val_accuracy", sum.val_accuracy},
                                  {"best_step", st_.best_step},
                                  {"virtual_params", sum.virtual_params},
                                  {"memory_floats", sum.memory_floats},
                                  {"memory_bytes", s_.memory->n_floats() * 4},
                                  {"compression", sum.compression},
                                  {"scheme", scheme_name(s_.config.memory.scheme)},
                                  {"train_seconds", sum.train_seconds},
                                  {"samples_per_second", sum.samples_per_second},
                                  {"data_wait_seconds", wait},
                                  {"data_load_seconds", data_.load_seconds},
                                  {"peak_rss_mb", peak_rss_mb()},
                                  {"steps", st_.step},
                                  {"epochs_completed", st_.epoch},
                                  {"stopped_early", stopped_early_},
                                  {"n_train", data_.size(PreparedData::train)},
                                  {"n_validation", data_.size(PreparedData::validation)},
                                  {"n_test", data_.size(PreparedData::test)},
                                  {"world_size", sum.world_size},
                                  {"comm_engine", sum.comm_engine},
                                  {"comm_bytes_per_step", sum.comm_bytes_per_step},
                                  {"comm_seconds", sum.comm_seconds},
                                  {"comm_share", sum.train_seconds > 0 ? sum.comm_seconds / sum.train_seconds : 0.0},
                                  {"cuda_graph_replays", sum.cuda_graph_replays}};
  if (comm_.rank() == 0) write_file_atomic(dir_ + "/summary.json", summary.dump(2) + "\n");
  return sum;
}

bool Loop::train_epoch(data::BatchLoader& loader, std::int64_t n_batches, std::int64_t total_steps) {
  const TrainConfig& t = s_.config.train;
  data::Batch b;
  for (std::int64_t skip = 0; skip < st_.batch_in_epoch; ++skip) loader.next(b);  // resume mid-epoch
  while (loader.next(b)) {
    const auto start = std::chrono::steady_clock::now();
    check_batch(b, data_.text, s_.input);  // the ids' check, on the host: the step's kernels skip it
    const float lr = scheduled_lr(s_.config.schedule, s_.config.optimizer.lr, st_.step, total_steps);
    // Dropout masks: rank 0 draws what one process draws; other ranks' shares draw their own.
    const std::uint64_t dropout_seed =
        hash::hash3(s_.config.seed, 0x7EA1ull, std::uint64_t(st_.step), std::uint64_t(comm_.rank()));
    if (syncing()) synced_loss_since_read_ += synced_step(b, lr, dropout_seed);
    else step_->run(to_model_batch(b, data_.text), lr, dropout_seed);  // no read-back: the loss stays on the device
    crash_point("step");  // tests: a kill before the step is recorded
    ++st_.step, ++st_.batch_in_epoch;
    st_.samples += b.global_size;
    ++steps_since_eval_, ++steps_since_read_;
    samples_since_eval_ += b.global_size;
    if (st_.step % t.log_every == 0) read_metrics();
    st_.train_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    progress_.step(st_.epoch, t.epochs, st_.batch_in_epoch, n_batches, lr, b.global_size);
    if (t.eval_every > 0 && st_.step % t.eval_every == 0 && evaluate_and_save()) return false;
    if (t.max_steps > 0 && st_.step >= total_steps) {
      stop_ = true;
      return false;
    }
  }
  return true;
}

double Loop::synced_step(const data::Batch& b, float lr, std::uint64_t dropout_seed) {
  double value = 0;  // the step's loss: the mean over the (global) batch
  const auto reduce = [&](Tensor& loss, Tensor& grad) {
    if (loss.defined()) value = loss.item();
    reduce_step(grad, value, b);
    if (!std::isfinite(value)) {  // the same sum on every rank: all stop together
      std::ostringstream when;
      when << "at step " << st_.step + 1 << " (epoch " << st_.epoch + 1 << ")";
      diverged_loss(value, when.str());
    }
  };
  if (b.size() > 0) {  // a rank's share of a short last batch may be empty
    step_->run(to_model_batch(b, data_.text), lr, dropout_seed, reduce, float(double(b.size()) / double(b.global_size)));
    return value;
  }
  StepState& state = step_->state();
  optimizer_.prepare(state, lr);
  state.upload();
  s_.memory->zero_grad();
  Tensor params = s_.memory->params();
  Tensor grad = s_.memory->grad();
  if (!grad.defined()) grad = Tensor::zeros({s_.memory->n_floats()}, DType::f32, s_.device);
  Tensor no_loss;
  reduce(no_loss, grad);
  optimizer_.apply(params, grad, [this](const std::string& name) { return s_.memory->slot(name); }, state,
                   grad_scale_.defined() ? &grad_scale_ : nullptr);
  return value;
}

void Loop::read_metrics() {
  if (steps_since_read_ == 0) return;
  const StepState::Metrics m = step_->take_metrics();
  const double loss_sum = syncing() ? synced_loss_since_read_ : m.loss_sum;
  const std::int64_t first = first_unread_step_, n = steps_since_read_;
  synced_loss_since_read_ = 0, steps_since_read_ = 0, first_unread_step_ = st_.step + 1;
  if (!std::isfinite(loss_sum)) {
    std::ostringstream when;
    if (n == 1) when << "at step " << first;
    else when << "in steps " << first << " to " << first + n - 1 << " (read together every train.log_every steps)";
    when << " (epoch " << st_.epoch + 1 << ")";
    diverged_loss(loss_sum, when.str());
  }
  loss_since_eval_ += loss_sum;
  correct_since_eval_ += m.correct;
  progress_.set_loss(loss_sum / double(n));
}

void Loop::diverged_loss(double loss, const std::string& when) {
  std::ostringstream what;
  what << "the training loss is " << loss << " " << when;
  diverged(what.str());
}

void Loop::reduce_step(Tensor& grad, double& loss, const data::Batch& b) {
  const auto start = std::chrono::steady_clock::now();
  sync_.sum(grad);
  std::int64_t floats = grad.numel();
  if (comm_.size() > 1) {
    // The loss, then the buffers (batch-norm running statistics) averaged with the shares'
    // weights, in one host message: each rank updated them from its own share.
    std::vector<double> small = {loss};
    std::vector<float> buffers;
    const double weight = double(b.size()) / double(b.global_size);
    for (const auto& entry : s_.buffers)
      if (entry.second->dtype() == DType::f32)
        for (float v : entry.second->to_vector()) buffers.push_back(float(weight * double(v)));
    comm_.allreduce_sum(small.data(), 1);
    if (!buffers.empty()) comm_.allreduce_sum(buffers.data(), std::int64_t(buffers.size()));
    loss = small[0];
    std::size_t at = 0;
    for (const auto& entry : s_.buffers) {
      Tensor& t = *entry.second;
      if (t.dtype() != DType::f32) continue;
      const std::vector<float> part(buffers.begin() + std::ptrdiff_t(at), buffers.begin() + std::ptrdiff_t(at + std::size_t(t.numel())));
      t.copy_from(Tensor::from_vector(part, t.shape(), t.device()));
      at += std::size_t(t.numel());
    }
    floats += std::int64_t(buffers.size());
    comm_bytes_per_step_ = floats * std::int64_t(sizeof(float)) + std::int64_t(sizeof(double));
  } else {
    comm_bytes_per_step_ = floats * std::int64_t(sizeof(float));
  }
  comm_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void Loop::check_ranks_agree() {
  if (comm_.size() == 1) return;
  const std::vector<float> p = s_.memory->params().detach().to_vector();
  const std::string mine = hex(fingerprint(p.data(), p.size() * sizeof(float)));
  std::string root = mine;
  comm_.broadcast(root, 0);
  dist::agree(comm_, root == mine ? "" :
      "after step " + std::to_string(st_.step) + " its parameters (hash " + mine + ") differ from rank 0's (hash " + root +
      "): the ranks no longer train one model. This is a bug of the reduction; please report it with the config");
}

void Loop::diverged(const std::string& what) {
  progress_.line("");
  std::ostringstream msg;
  msg << "training diverged: " << what << ". ";
  if (last_finite_step_ >= 0)
    msg << "The last finite checkpoint is " << dir_ << "/last.ckpt (step " << last_finite_step_ << ")"
        << (st_.best_step >= 0 ? "; best.ckpt holds step " + std::to_string(st_.best_step) : std::string()) << ". ";
  else
    msg << "No checkpoint was written before it (nothing non-finite is ever saved). ";
  msg << "Lower optimizer.lr, set optimizer.grad_clip_norm (e.g. 1.0) or turn on optimizer.grad_scaling";
  if (last_finite_step_ >= 0)
    msg << "; --resume may change optimizer.lr and the schedule: roast-train train --config ... --out " << dir_
        << " --resume --set optimizer.lr=<lower>";
  if (syncing()) throw dist::CollectiveError(msg.str());  // every rank saw the same reduced values
  fail(msg.str());
}

bool Loop::evaluate_and_save() {
  read_metrics();  // before anything is saved: a non-finite training loss stops the run here
  const Evaluation val = evaluate(s_, data_, PreparedData::validation, &comm_);
  check_ranks_agree();
  // Nothing non-finite reaches best.ckpt or last.ckpt.
  if (!std::isfinite(val.loss)) {
    std::ostringstream what;
    what << "the validation loss is " << val.loss << " at step " << st_.step;
    diverged(what.str());
  }
  if (!all_finite(s_.memory->params().detach()))
    diverged("the parameters hold NaN or infinity at step " + std::to_string(st_.step));
  const double train_loss = steps_since_eval_ > 0 ? loss_since_eval_ / double(steps_since_eval_) : 0.0;
  // Rows the steps classified right, over the samples they saw (one process: data-parallel
  // steps do not sum it).
  const double train_accuracy = samples_since_eval_ > 0 ? correct_since_eval_ / double(samples_since_eval_) : 0.0;
  loss_since_eval_ = 0, correct_since_eval_ = 0, steps_since_eval_ = 0, samples_since_eval_ = 0;
  const bool improved = val.accuracy > st_.best_val_accuracy;
  if (improved) {
    st_.best_val_accuracy = val.accuracy;
    st_.best_step = st_.step;
    st_.evals_since_best = 0;
  } else {
    ++st_.evals_since_best;
  }
  st_.metrics.push_back({{"step", st_.step},
                         {"epoch", double(st_.epoch) + double(st_.batch_in_epoch) / double(std::max<std::int64_t>(1, n_batches_))},
                         {"train_loss", train_loss},
                         {"val_loss", val.loss},
                         {"val_accuracy", val.accuracy},
                         // The rate of the step just taken, on the run's whole schedule.
                         {"lr", scheduled_lr(s_.config.schedule, s_.config.optimizer.lr, std::max<std::int64_t>(0, st_.step - 1), total_steps_)},
                         {"train_seconds", st_.train_seconds},
                         {"samples_per_second", st_.train_seconds > 0 ? double(st_.samples) / st_.train_seconds : 0.0}});
  if (!syncing()) st_.metrics.back()["train_accuracy"] = train_accuracy;
  if (comm_.rank() == 0) write_file_atomic(dir_ + "/metrics.jsonl", lines_of(st_.metrics));
  std::ostringstream msg;
  msg.precision(4);
  msg << "step " << st_.step << ": train loss " << train_loss << ", val loss " << val.loss << ", val accuracy "
      << 100.0 * val.accuracy << "%" << (improved ? " (best)" : "");
  progress_.line(msg.str());
  if (improved) save("best.ckpt", false);
  save("last.ckpt", true);
  const std::int64_t patience = s_.config.train.early_stopping;
  if (patience > 0 && st_.evals_since_best >= patience) {
    progress_.line("early stopping: no improvement in " + std::to_string(patience) + " evaluations");
    stopped_early_ = stop_ = true;
  }
  return stop_;
}
}  // namespace

TrainSummary train(const TrainOptions& options) {
  const std::unique_ptr<dist::Communicator> alone = dist::single_process();
  dist::Communicator& comm = options.comm != nullptr ? *options.comm : *alone;
  const bool root = comm.rank() == 0, multi = comm.size() > 1;
  // Runs one part of the set-up on every rank. With several ranks, an Error on any of them is
  // rethrown on every rank (dist::CollectiveError) before any goes on to a collective step, so
  // that no rank waits for one that has stopped. One process: the part, as it is.
  const auto together = [&comm, multi](const std::function<void()>& part) {
    if (!multi) return part();
    std::string error;
    try {
      part();
    } catch (const Error& e) {
      error = e.what();
    }
    dist::agree(comm, error);
  };
  Session s;
  std::string dir;
  std::optional<RunLock> lock;  // one writer per run folder (rank 0), until train() returns
  together([&] {
    s = open_config(options.config_path, options.overrides);
    // Before any data is read: a device this machine lacks fails at once. Several ranks on
    // "cuda": each takes the GPU of its rank on this machine.
    std::string device = s.config.device;
    if (multi && device == "cuda") {
      const int n_gpus = kernels::cuda::device_count();
      // (A machine without GPUs falls through to usable_device, which says so and how to use the CPU.)
      if (comm.local_rank() >= n_gpus && n_gpus > 0)
        fail(options.config_path, ": `device` \"cuda\" gives each rank the GPU of its rank on its machine, but this rank ",
             "is number ", comm.local_rank() + 1, " on a machine with ", n_gpus, " GPU(s). Launch at most ", n_gpus,
             " rank(s) per machine (mpirun -np / --map-by ppr:", n_gpus, ":node)");
      if (ROAST_WITH_CUDA) device = "cuda:" + std::to_string(comm.local_rank());
    }
    s.device = usable_device(device, options.config_path + ": `device`",
                             "\"device\": \"cpu\" in the config, or --set device=cpu");
    check_precision(s.device, s.config.precision, options.config_path);
    if (multi && s.config.train.batch_size < comm.size())
      fail(options.config_path, ": `train.batch_size` ", s.config.train.batch_size, " is the global batch, shared by the ",
           comm.size(), " ranks: every rank needs at least one sample of it. Launch at most ", s.config.train.batch_size,
           " ranks (mpirun -np), or raise train.batch_size");
    dir = options.out_dir.empty() ? "runs/" + s.config.name : options.out_dir;
    if (root) {
      prepare_run_dir(dir, options.resume);
      lock.emplace(dir, !options.progress);
    }
  });
  if (multi) {  // every rank must train the same thing: compare the resolved configs
    const std::string mine = s.resolved.dump();
    std::string theirs = mine;
    comm.broadcast(theirs, 0);
    std::string error;
    if (theirs != mine) {
      const nlohmann::json there = nlohmann::json::parse(theirs);
      const std::string key = first_difference(there, s.resolved);
      std::string pointer = "/" + key;
      for (char& c : pointer)
        if (c == '.') c = '/';
      const auto value_at = [&pointer](const nlohmann::json& j) {
        const nlohmann::json::json_pointer at(pointer);
        return j.contains(at) ? j.at(at).dump() : std::string("absent");
      };
      error = "its resolved config (hash " + hex(fingerprint(mine.data(), mine.size())) + ") differs from rank 0's (hash " +
              hex(fingerprint(theirs.data(), theirs.size())) + "): `" + key + "` is " + value_at(there) + " on rank 0 and " +
              value_at(s.resolved) + " here. Every rank must be given the same config file contents and --set values";
    }
    dist::agree(comm, error);
  }
#ifdef _OPENMP
  if (s.config.threads > 0) omp_set_num_threads(int(s.config.threads));
#endif
  Checkpoint resume_from;
  nlohmann::json header;
  const std::string last = dir + "/last.ckpt";
  if (options.resume) {
    std::string bytes;  // rank 0 reads the file; the others parse its bytes (no shared folder needed)
    together([&] {
      if (!root) return;
      if (!fs::exists(last)) fail("--resume: ", dir, " holds no last.ckpt to continue from. Drop --resume to start a new run");
      bytes = read_checkpoint_file(last);
    });
    comm.broadcast(bytes, 0);
    together([&] {
      resume_from = parse_checkpoint(bytes, last);
      header = checkpoint_header(resume_from, last);
      if (header["input"]["text"].get<bool>() != (s.config.data.dataset != "fashion-mnist" && s.config.data.dataset != "mnist" &&
                                                  s.config.data.dataset != "cifar10" && s.config.data.dataset != "cifar100"))
        fail("checkpoint ", last, " was written for another kind of data (text vs images); resume with the config that run used");
    });
  }
  PreparedData data;
  TrainState state;
  together([&] {
    std::vector<std::string> vocab;
    data::ChannelStats stats;
    if (options.resume && header.contains("vocabulary")) vocab = header["vocabulary"].get<std::vector<std::string>>();
    if (options.resume && header.contains("channel_stats"))
      stats = {header["channel_stats"]["mean"].get<std::vector<float>>(), header["channel_stats"]["std"].get<std::vector<float>>()};
    // Only rank 0 writes into the run folder: the others keep a split record (text sets
    // without a test split) in a scratch folder; the split is the same seeded one.
    std::string data_dir = dir;
    if (!root) {
      data_dir = (fs::temp_directory_path() / ("roast-rank" + std::to_string(comm.rank()) + "-" + std::to_string(::getpid()))).string();
      fs::create_directories(data_dir);
    }
    struct Scratch {
      std::string path;
      ~Scratch() {
        std::error_code ec;
        if (!path.empty()) fs::remove_all(path, ec);
      }
    } scratch{root ? std::string() : data_dir};
    data = prepare_data(s.config.data, data_dir, vocab.empty() ? nullptr : &vocab,
                        header.contains("channel_stats") ? &stats : nullptr);
    build_model(s, data.input, data.class_names);
    if (options.resume) {
      require_same_config(s.resolved, header["config"], last);
      if (!has_optimizer_state(s, resume_from))
        fail("--resume: ", last, " holds no optimizer state (", s.config.optimizer.name,
             "'s moments are missing: it is a copy of best.ckpt, which keeps weights only). Resuming would silently restart ",
             "the optimizer from zero. Restore the run's own last.ckpt, or start a new run (another --out) from scratch");
      restore_weights(s, resume_from, last, true);
      if (!all_finite(s.memory->params().detach()))
        fail("--resume: ", last, " holds non-finite parameters (NaN or infinity); it cannot be continued. Start a new run");
      state = restore_state(header);
    }
  });
  resume_from = Checkpoint();
  if (multi) {  // and read the same data
    std::ostringstream shape;
    shape << data.size(PreparedData::train) << " training, " << data.size(PreparedData::validation) << " validation and "
          << data.size(PreparedData::test) << " test samples, a memory of " << s.memory->n_floats() << " floats";
    const std::string mine = shape.str();
    std::string theirs = mine;
    comm.broadcast(theirs, 0);
    dist::agree(comm, theirs == mine ? "" :
        "it read " + mine + ", rank 0 " + theirs + ". Every machine must hold the same data files at the same path");
  }
  dist::GradientSync sync(comm, s.device, options.comm_engine);
  if (root) {
    write_file_atomic(dir + "/resolved_config.json", s.resolved.dump(2) + "\n");
    if (data.text) data.tokenizer->vocabulary().save(dir + "/vocab.txt");
  }
  if (options.progress && root) {
    std::ostringstream msg;
    msg << "roast: " << s.config.name << ": " << s.model->type() << " with " << s.memory->plan().n_virtual()
        << " virtual parameters in a " << scheme_name(s.config.memory.scheme) << " memory of " << s.memory->n_floats()
        << " floats (" << s.memory->plan().compression() << "x); " << data.size(PreparedData::train) << " training, "
        << data.size(PreparedData::validation) << " validation, " << data.size(PreparedData::test)
        << " test samples (loaded in " << data.load_seconds << " s)";
    if (multi || sync.uses_nccl())
      msg << "; " << comm.size() << " rank(s) in data parallel, gradients summed by " << sync.engine() << " ("
          << s.memory->n_floats() * 4 << " bytes per step)";
    std::fprintf(stderr, "%s\n", msg.str().c_str());
  }
  Loop loop(s, data, state, dir, options.progress && root, options.resume, comm, sync);
  return loop.run();
}

}  // namespace roast
