#include "train/bench.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <random>

#include "kernels/backend.h"
#include "roast/config_types.h"
#include "roast/hash.h"
#include "roast/ops.h"
#include "roast/optim.h"
#include "train/session.h"
#include "train/train_step.h"
#ifdef _OPENMP
#include <omp.h>
#endif

namespace roast {
namespace {
using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Random batches shaped as the config's data: images N(0, 1), token ids uniform with full
// masks, labels uniform. A few are made up front and cycled, so the timed loop draws nothing.
std::vector<nn::Batch> synthetic_batches(const nn::InputSpec& in, std::int64_t batch, Device device) {
  std::mt19937 rng(1234);
  std::vector<nn::Batch> out;
  for (int i = 0; i < 4; ++i) {
    nn::Batch b;
    std::vector<std::int32_t> labels(static_cast<std::size_t>(batch));
    std::uniform_int_distribution<std::int32_t> label(0, std::int32_t(in.n_classes - 1));
    for (auto& l : labels) l = label(rng);
    b.labels = Tensor::from_vector(labels, {batch}, device);
    if (in.text) {
      const std::int64_t t = in.max_length;
      std::vector<std::int32_t> ids(static_cast<std::size_t>(batch * t));
      std::uniform_int_distribution<std::int32_t> id(0, std::int32_t(in.vocab_size - 1));
      for (auto& v : ids) v = id(rng);
      b.ids = Tensor::from_vector(ids, {batch, t}, device);
      b.mask = Tensor::full({batch, t}, 1.0f, device);
    } else {
      std::vector<float> px(static_cast<std::size_t>(batch * in.channels * in.height * in.width));
      std::normal_distribution<float> normal(0.0f, 1.0f);
      for (auto& v : px) v = normal(rng);
      b.images = Tensor::from_vector(px, {batch, in.channels, in.height, in.width}, device);
    }
    out.push_back(b);
  }
  return out;
}

void sync(Device d) {
  if (!d.is_cpu()) kernels::cuda::synchronize();
}
}  // namespace

nlohmann::json bench_train(const BenchTrainOptions& o) {
  ROAST_CHECK(o.steps > 0 && o.warmup >= 0, "bench train: --steps must be positive and --warmup non-negative");
  Session s = open_config(o.config_path, o.overrides);
  s.device = usable_device(s.config.device, o.config_path + ": `device`", "\"device\": \"cpu\" in the config, or --set device=cpu");
  check_precision(s.device, s.config.precision, o.config_path);
#ifdef _OPENMP
  if (s.config.threads > 0) omp_set_num_threads(int(s.config.threads));
  const int threads = omp_get_max_threads();
#else
  const int threads = 1;
#endif
  const std::int64_t batch_size = s.config.train.batch_size;
  // The data: read unless the batches are synthetic and the dataset knows its input shape.
  std::unique_ptr<PreparedData> data;
  nn::InputSpec input;
  const DatasetType& type = dataset_registry().at(s.config.data.dataset, "data.dataset");
  if (o.synthetic && type.known_input) {
    input = *type.known_input;
    if (input.text) input.vocab_size = s.config.data.vocab_size, input.max_length = s.config.data.seq_len;
  } else {
    data = std::make_unique<PreparedData>(prepare_data(s.config.data, "."));
    input = data->input;
  }
  build_model(s, input, data ? data->class_names : std::vector<std::string>{});

  std::vector<nn::Batch> fixed;
  std::unique_ptr<data::BatchLoader> loader;
  std::int64_t epoch = 0;
  if (o.synthetic) {
    fixed = synthetic_batches(input, batch_size, s.device);
  } else {
    loader = data->loader(PreparedData::train, batch_size, s.config.seed, s.config.data.augment);
    loader->start_epoch(epoch);
  }
  data::Batch host_batch;
  auto next_batch = [&](std::int64_t step) -> nn::Batch {
    if (o.synthetic) return fixed[std::size_t(step) % fixed.size()];
    while (!loader->next(host_batch) || host_batch.size() != batch_size) loader->start_epoch(++epoch);
    return to_model_batch(host_batch, data->text, s.device);
  };

  Optimizer optimizer(s.config.optimizer);
  Tensor grad_scale;
  if (s.config.optimizer.grad_scaling) grad_scale = gradient_scale(s.memory->plan(), s.device);
  const std::int64_t total = o.warmup + o.steps;
  // With CUDA graphs (train.cuda_graphs on a GPU) the step is the trainer's own (TrainStep:
  // captured after its warm-up, then replayed) and only whole steps are timed; otherwise each
  // phase is timed apart, synchronising between them.
  const bool graphs = !s.device.is_cpu() && s.config.train.cuda_graphs;
  // A replayed graph is one launch: its kernels cannot be timed one by one (the profiler
  // synchronises around each dispatch, which capture forbids).
  const bool profile = o.profile && !graphs;
  TrainStep whole(s, optimizer, grad_scale.defined() ? &grad_scale : nullptr, graphs, s.config.train.cuda_graphs_explicit);
  StepState& state = whole.state();
  std::vector<double> step_s;
  double fwd_s = 0, bwd_s = 0, opt_s = 0;
  AllocatorCounters before;
  Allocator& alloc = allocator_for(s.device);
  for (std::int64_t step = 0; step < total; ++step) {
    if (step == o.warmup) {
      kernels::profile::reset();
      kernels::profile::set_enabled(profile);
      before = alloc.counters();
      if (!s.device.is_cpu()) kernels::cuda::reset_device_peak();
    }
    const nn::Batch batch = next_batch(step);
    const float lr = scheduled_lr(s.config.schedule, s.config.optimizer.lr, step, total);
    const std::uint64_t dropout_seed = hash::hash3(s.config.seed, 0x7EA1ull, std::uint64_t(step), 0);
    sync(s.device);
    const auto t0 = Clock::now();
    if (graphs) {
      whole.run(batch, lr, dropout_seed);
      sync(s.device);
      if (step >= o.warmup) step_s.push_back(seconds_since(t0));
      continue;
    }
    optimizer.prepare(state, lr);
    state.set_dropout_seed(dropout_seed);
    state.upload();
    s.memory->zero_grad();
    nn::Context ctx = forward_context(s, true);
    ctx.step_seed = state.dropout_seed_word();
    Tensor loss = cross_entropy_on_device(s.model->forward(batch, ctx), batch.labels, s.config.train.label_smoothing,
                                          state.metric_sums());
    sync(s.device);
    const double t_fwd = seconds_since(t0);
    const auto t1 = Clock::now();
    loss.backward();
    sync(s.device);
    const double t_bwd = seconds_since(t1);
    const auto t2 = Clock::now();
    Tensor params = s.memory->params(), grad = s.memory->grad();
    optimizer.apply(params, grad, [&s](const std::string& name) { return s.memory->slot(name); }, state,
                    grad_scale.defined() ? &grad_scale : nullptr);
    sync(s.device);
    const double t_opt = seconds_since(t2);
    if (step >= o.warmup) {
      step_s.push_back(seconds_since(t0));
      fwd_s += t_fwd, bwd_s += t_bwd, opt_s += t_opt;
    }
  }
  kernels::profile::set_enabled(false);
  const AllocatorCounters after = alloc.counters();

  const double n = double(o.steps);
  std::vector<double> sorted = step_s;
  std::sort(sorted.begin(), sorted.end());
  const double median = sorted[sorted.size() / 2];
  double sum_s = 0;
  for (double v : step_s) sum_s += v;
  std::map<std::string, double> families;
  nlohmann::json kernels_json = nlohmann::json::array();
  double in_kernels = 0, launches = 0;
  for (const kernels::profile::Record& r : kernels::profile::records()) {
    launches += double(r.calls) / n;
    families[r.family] += r.seconds * 1e3 / n;
    in_kernels += r.seconds;
    kernels_json.push_back({{"kernel", r.kernel}, {"family", r.family}, {"ms_per_step", r.seconds * 1e3 / n},
                            {"calls_per_step", double(r.calls) / n}});
  }
  nlohmann::json result = {
      {"config", o.config_path},
      {"model", s.model->type()},
      {"scheme", scheme_name(s.config.memory.scheme)},
      {"memory_floats", s.memory->n_floats()},
      {"device", s.device.str()},
      {"threads", threads},
      {"batch_size", batch_size},
      {"synthetic", o.synthetic},
      {"steps", o.steps},
      {"samples_per_second", double(batch_size) / median},
      {"step_ms", {{"median", median * 1e3}, {"min", sorted.front() * 1e3}, {"mean", sum_s * 1e3 / n}}},
      {"cuda_graphs", graphs && whole.graph_replays() > 0},
      {"cuda_graph_replays", whole.graph_replays()},
      {"allocations",
       {{"fresh_per_step", double(after.fresh - before.fresh) / n},
        {"reused_per_step", double(after.reused - before.reused) / n},
        {"peak_live_mb", double(after.peak_live_bytes) / (1 << 20)}}}};
  if (!s.device.is_cpu()) result["peak_gpu_mb"] = double(kernels::cuda::device_peak_bytes()) / (1 << 20);
  if (!graphs) result["phases_ms"] = {{"forward", fwd_s * 1e3 / n}, {"backward", bwd_s * 1e3 / n}, {"optimizer", opt_s * 1e3 / n}};
  if (o.profile && !profile)
    result["profile_note"] = "no per-kernel profile with CUDA graphs: --set train.cuda_graphs=false to time each kernel";
  if (profile) {
    result["families_ms"] = families;
    result["kernels"] = kernels_json;
    result["other_ms"] = (sum_s - in_kernels) * 1e3 / n;
    result["kernel_launches_per_step"] = launches;
  }
  return result;
}

}  // namespace roast
