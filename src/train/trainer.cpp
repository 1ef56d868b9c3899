// The training loop of `roast-train train`.
#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <optional>
#include <sstream>

#include "io/crash_point.h"
#include "io/run_lock.h"
#include "roast/hash.h"
#include "roast/ops.h"
#include "roast/optim.h"
#include "train/progress.h"
#include "train/session.h"
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

class Loop {
 public:
  Loop(Session& s, PreparedData& data, TrainState st, std::string dir, bool show_progress, bool resumed)
      : s_(s), data_(data), st_(std::move(st)), dir_(std::move(dir)), optimizer_(s.config.optimizer),
        progress_(show_progress, s.config.train.log_every) {
    if (s.config.optimizer.grad_scaling) grad_scale_ = gradient_scale(s.memory->plan(), s.device);
    if (resumed) last_finite_step_ = st_.step;  // last.ckpt, loaded and checked finite
  }

  TrainSummary run();

 private:
  bool train_epoch(data::BatchLoader& loader, std::int64_t n_batches, std::int64_t total_steps);
  // Returns true when early stopping says to stop.
  bool evaluate_and_save();
  void save(const std::string& name, bool optimizer) {
    save_checkpoint(dir_ + "/" + name, make_checkpoint(s_, st_, &data_, optimizer));
    if (name == "last.ckpt") last_finite_step_ = st_.step;
  }
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
  double loss_since_eval_ = 0;
  std::int64_t steps_since_eval_ = 0, n_batches_ = 1, total_steps_ = 1;
  std::int64_t last_finite_step_ = -1;  // the step last.ckpt holds; -1: none written by this run
  bool stop_ = false, stopped_early_ = false;
};

TrainSummary Loop::run() {
  const TrainConfig& t = s_.config.train;
  auto loader = data_.loader(PreparedData::train, t.batch_size, s_.config.seed, s_.config.data.augment);
  const std::int64_t n_batches = loader->n_batches();
  n_batches_ = n_batches;
  std::int64_t total_steps = saturating_mul(t.epochs, n_batches);
  if (t.max_steps > 0) total_steps = std::min(total_steps, t.max_steps);
  total_steps_ = total_steps;
  if (st_.batch_in_epoch > n_batches)
    fail("checkpoint ", dir_, "/last.ckpt: its state.batch_in_epoch ", st_.batch_in_epoch, " is beyond the ", n_batches,
         " batches of an epoch of this data; the checkpoint is damaged or belongs to other data. Start a new run with another --out");
  optimizer_.set_steps_taken(st_.step);
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

  // Test with the best weights on validation.
  const Checkpoint best = load_checkpoint(dir_ + "/best.ckpt");
  restore_weights(s_, best, dir_ + "/best.ckpt", false);
  const Evaluation test = evaluate(s_, data_, PreparedData::test);
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
                                  {"n_test", data_.size(PreparedData::test)}};
  write_file_atomic(dir_ + "/summary.json", summary.dump(2) + "\n");
  return sum;
}

bool Loop::train_epoch(data::BatchLoader& loader, std::int64_t n_batches, std::int64_t total_steps) {
  const TrainConfig& t = s_.config.train;
  data::Batch b;
  for (std::int64_t skip = 0; skip < st_.batch_in_epoch; ++skip) loader.next(b);  // resume mid-epoch
  while (loader.next(b)) {
    const auto start = std::chrono::steady_clock::now();
    s_.memory->zero_grad();
    nn::Context ctx = forward_context(s_, true, hash::hash3(s_.config.seed, 0x7EA1ull, std::uint64_t(st_.step), 0));
    const nn::Batch batch = to_model_batch(b, data_.text, s_.device);  // the step's one host-to-device copy
    Tensor loss = cross_entropy(s_.model->forward(batch, ctx), batch.labels, t.label_smoothing);
    const float value = loss.item();  // the step's read-back (the optimizer reads the gradient norm too)
    if (!std::isfinite(value)) {
      std::ostringstream what;
      what << "the training loss is " << value << " at step " << st_.step + 1 << " (epoch " << st_.epoch + 1 << ")";
      diverged(what.str());
    }
    loss.backward();
    crash_point("step");  // tests: a kill in the middle of a step
    const float lr = scheduled_lr(s_.config.schedule, s_.config.optimizer.lr, st_.step, total_steps);
    Tensor params = s_.memory->params();
    Tensor grad = s_.memory->grad();
    optimizer_.step(params, grad, [this](const std::string& name) { return s_.memory->slot(name); }, lr,
                    grad_scale_.defined() ? &grad_scale_ : nullptr);
    ++st_.step, ++st_.batch_in_epoch;
    st_.samples += b.size();
    st_.train_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    loss_since_eval_ += value, ++steps_since_eval_;
    progress_.step(st_.epoch, t.epochs, st_.batch_in_epoch, n_batches, value, lr, b.size());
    if (t.eval_every > 0 && st_.step % t.eval_every == 0 && evaluate_and_save()) return false;
    if (t.max_steps > 0 && st_.step >= total_steps) {
      stop_ = true;
      return false;
    }
  }
  return true;
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
  fail(msg.str());
}

bool Loop::evaluate_and_save() {
  const Evaluation val = evaluate(s_, data_, PreparedData::validation);
  // Nothing non-finite reaches best.ckpt or last.ckpt.
  if (!std::isfinite(val.loss)) {
    std::ostringstream what;
    what << "the validation loss is " << val.loss << " at step " << st_.step;
    diverged(what.str());
  }
  if (!all_finite(s_.memory->params().detach()))
    diverged("the parameters hold NaN or infinity at step " + std::to_string(st_.step));
  const double train_loss = steps_since_eval_ > 0 ? loss_since_eval_ / double(steps_since_eval_) : 0.0;
  loss_since_eval_ = 0, steps_since_eval_ = 0;
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
  write_file_atomic(dir_ + "/metrics.jsonl", lines_of(st_.metrics));
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
  Session s = open_config(options.config_path, options.overrides);
  // Before any data is read: a device this machine lacks fails at once.
  s.device = usable_device(s.config.device, options.config_path + ": `device`",
                           "\"device\": \"cpu\" in the config, or --set device=cpu");
  const std::string dir = options.out_dir.empty() ? "runs/" + s.config.name : options.out_dir;
  prepare_run_dir(dir, options.resume);
  const RunLock lock(dir, !options.progress);  // one writer per run folder, until train() returns
#ifdef _OPENMP
  if (s.config.threads > 0) omp_set_num_threads(int(s.config.threads));
#endif
  Checkpoint resume_from;
  nlohmann::json header;
  const std::string last = dir + "/last.ckpt";
  if (options.resume) {
    if (!fs::exists(last)) fail("--resume: ", dir, " holds no last.ckpt to continue from. Drop --resume to start a new run");
    resume_from = load_checkpoint(last);
    header = checkpoint_header(resume_from, last);
    if (header["input"]["text"].get<bool>() != (s.config.data.dataset != "fashion-mnist" && s.config.data.dataset != "mnist" &&
                                                s.config.data.dataset != "cifar10" && s.config.data.dataset != "cifar100"))
      fail("checkpoint ", last, " was written for another kind of data (text vs images); resume with the config that run used");
  }
  std::vector<std::string> vocab;
  data::ChannelStats stats;
  if (options.resume && header.contains("vocabulary")) vocab = header["vocabulary"].get<std::vector<std::string>>();
  if (options.resume && header.contains("channel_stats"))
    stats = {header["channel_stats"]["mean"].get<std::vector<float>>(), header["channel_stats"]["std"].get<std::vector<float>>()};
  PreparedData data = prepare_data(s.config.data, dir, vocab.empty() ? nullptr : &vocab,
                                   header.contains("channel_stats") ? &stats : nullptr);
  build_model(s, data.input, data.class_names);
  TrainState state;
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
  write_file_atomic(dir + "/resolved_config.json", s.resolved.dump(2) + "\n");
  if (data.text) data.tokenizer->vocabulary().save(dir + "/vocab.txt");
  if (options.progress) {
    std::ostringstream msg;
    msg << "roast: " << s.config.name << ": " << s.model->type() << " with " << s.memory->plan().n_virtual()
        << " virtual parameters in a " << scheme_name(s.config.memory.scheme) << " memory of " << s.memory->n_floats()
        << " floats (" << s.memory->plan().compression() << "x); " << data.size(PreparedData::train) << " training, "
        << data.size(PreparedData::validation) << " validation, " << data.size(PreparedData::test)
        << " test samples (loaded in " << data.load_seconds << " s)";
    std::fprintf(stderr, "%s\n", msg.str().c_str());
  }
  Loop loop(s, data, state, dir, options.progress, options.resume);
  return loop.run();
}

}  // namespace roast
