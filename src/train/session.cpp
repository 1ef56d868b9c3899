#include "train/session.h"

#include <cmath>
#include <new>

#include "config/json_reader.h"
#include "config/model_factory.h"
#include "kernels/backend.h"
#include "roast/autograd.h"
#include "roast/backend.h"
#include "roast/config.h"
#include "roast/ops.h"
#include "io/json_safe.h"
#include "roast/limits.h"
#include "roast/optim.h"

namespace roast {
namespace {

nlohmann::json input_to_json(const nn::InputSpec& in) {
  return {{"text", in.text}, {"channels", in.channels}, {"height", in.height},         {"width", in.width},
          {"vocab_size", in.vocab_size}, {"max_length", in.max_length}, {"n_classes", in.n_classes}};
}

const nlohmann::json& at_path(const nlohmann::json& j, const std::string& path) {
  static const nlohmann::json kNull;
  const nlohmann::json* node = &j;
  std::size_t start = 0;
  while (start <= path.size()) {
    const std::size_t dot = path.find('.', start);
    const std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!node->is_object() || !node->contains(part)) return kNull;
    node = &node->at(part);
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return *node;
}
}  // namespace

Session open_config(const std::string& path, const std::vector<std::string>& overrides) {
  nlohmann::json config = read_config_file(path);
  for (const std::string& o : overrides) apply_override(config, o);
  Session s;
  s.source = path;
  s.config = parse_run_config(config, path, &s.resolved);
  return s;
}

Device usable_device(const std::string& text, const std::string& where, const std::string& cpu_setting) {
  Device d;
  try {
    d = parse_device(text);
  } catch (const std::exception&) {
    fail(where, ": \"", text, "\" is not a device; use \"cpu\", \"cuda\" or \"cuda:N\"");
  }
  if (d.is_cpu()) return d;
  if (!ROAST_WITH_CUDA)
    fail(where, ": \"", text, "\" needs the CUDA backend, which this build does not have (built with ",
         "ROAST_USE_CUDA=OFF or without nvcc). Use \"cpu\" (", cpu_setting, "), or rebuild with nvcc on PATH");
  const int n = kernels::cuda::device_count();
  if (d.index >= n)
    fail(where, ": \"", text, "\" does not exist: this machine has ", n, " CUDA device(s)",
         n > 0 ? " (cuda:0 to cuda:" + std::to_string(n - 1) + ")" : std::string(), ". Use ",
         n > 0 ? "one of those or " : "", "\"cpu\" (", cpu_setting, ")");
  kernels::cuda::set_current_device(d.index);
  return d;
}

Device device_or_cpu(const std::string& text) {
  const Device d = parse_device(text);  // rejects what is not a device
  if (!d.is_cpu() && d.index < kernels::cuda::device_count()) {
    kernels::cuda::set_current_device(d.index);
    return d;
  }
  return Device::cpu();
}

std::string precision_unsupported(const std::string& precision, int compute_capability, const std::string& device_name) {
  if (precision != "bf16" || compute_capability >= 80) return "";
  return "`precision` \"bf16\" needs a GPU of compute capability 8.0 or later (bf16 tensor cores: A100, H100, "
         "RTX 30 series and newer), but " + device_name + " has " + std::to_string(compute_capability / 10) + "." +
         std::to_string(compute_capability % 10);
}

void check_precision(const Device& device, const std::string& precision, const std::string& where, const std::string& fix) {
  if (device.is_cpu()) return;
  const std::string why =
      precision_unsupported(precision, kernels::cuda::compute_capability(device.index), "cuda:" + std::to_string(device.index));
  if (!why.empty()) fail(where, ": ", why, ". ", fix);
}

Numerics numerics_of(const RunConfig& config) {
  Numerics n;
  n.precision = parse_precision(config.precision);
  n.deterministic = config.deterministic;
  return n;
}

nn::Context forward_context(const Session& s, bool training, std::uint64_t seed) {
  nn::Context ctx(*s.memory, training, seed);
  ctx.numerics = numerics_of(s.config);
  return ctx;
}

void build_model(Session& s, const nn::InputSpec& input, const std::vector<std::string>& class_names) {
  s.input = input;
  s.class_names = class_names;
  JsonReader reader(s.config.model, "model", s.source, &s.resolved["model"]);
  s.model = model_from_config(reader, input);
  Planner planner;
  s.model->declare(planner);
  try {
    s.memory = std::make_unique<Memory>(planner.finalize(s.config.memory), s.device);
  } catch (const Error& e) {
    fail(s.source, ": ", e.what());
  } catch (const std::bad_alloc&) {
    fail(s.source, ": the parameter memory does not fit in this machine's memory (the plan asks for ",
         planner.finalize(s.config.memory).n_floats(), " floats plus optimizer state). Lower `memory.floats` / ",
         "`memory.bytes`, raise `memory.compression`, or make the model smaller");
  }
  s.model->place_buffers(s.device);
  s.buffers.clear();
  s.model->buffers(s.buffers);
}

Checkpoint make_checkpoint(const Session& s, const TrainState& st, const PreparedData* data, bool optimizer) {
  nlohmann::json h;
  h["format"] = kCheckpointFormat;
  h["roast_version"] = ROAST_VERSION_STRING;
  h["config"] = s.resolved;
  h["input"] = input_to_json(s.input);
  h["class_names"] = s.class_names;
  h["fold_layout"] = kFoldLayout;
  h["state"] = {{"step", st.step},
                {"epoch", st.epoch},
                {"batch_in_epoch", st.batch_in_epoch},
                {"best_val_accuracy", st.best_val_accuracy},
                {"best_step", st.best_step},
                {"evals_since_best", st.evals_since_best},
                {"train_seconds", st.train_seconds},
                {"samples", st.samples},
                {"metrics", st.metrics}};
  // All randomness derives from (seed, epoch, step): these three restore every RNG stream.
  h["rng"] = {{"seed", s.config.seed}, {"epoch", st.epoch}, {"step", st.step}};
  if (data != nullptr && data->text) h["vocabulary"] = data->tokenizer->vocabulary().tokens();
  if (data != nullptr && !data->text) h["channel_stats"] = {{"mean", data->stats.mean}, {"std", data->stats.std}};
  Checkpoint ck;
  ck.header_json = h.dump();
  ck.tensors.emplace_back("memory", s.memory->params().detach());
  if (optimizer)
    for (const std::string& name : s.memory->slot_names()) ck.tensors.emplace_back("slot/" + name, s.memory->slot(name));
  for (const auto& [name, t] : s.buffers) ck.tensors.emplace_back("buffer/" + name, *t);
  return ck;
}

bool has_optimizer_state(const Session& s, const Checkpoint& ck) {
  for (const std::string& name : optimizer_slots(s.config.optimizer))
    if (!ck.has("slot/" + name)) return false;
  return true;
}

bool all_finite(const Tensor& t) {
  if (t.dtype() != DType::f32) return true;
  const std::vector<float> v = t.to_vector();
  for (float x : v)
    if (!std::isfinite(x)) return false;
  return true;
}

void restore_weights(Session& s, const Checkpoint& ck, const std::string& path, bool slots) {
  if (!ck.has("memory")) fail("checkpoint ", path, " holds no \"memory\" tensor; the file is damaged. Use another checkpoint");
  const Tensor& m = ck.tensor("memory");
  if (m.dtype() != DType::f32 || m.dim() != 1)
    fail("checkpoint ", path, ": its memory is ", m.describe(), ", expected a flat f32 tensor; the file is damaged");
  if (m.numel() != s.memory->n_floats())
    fail("checkpoint ", path, " holds a memory of ", m.numel(), " floats but this model's plan has ", s.memory->n_floats(),
         ": it was written for a different model or memory config");
  s.memory->params().detach().copy_from(m);
  for (const auto& [name, t] : s.buffers) {
    if (!ck.has("buffer/" + name))
      fail("checkpoint ", path, " lacks the model buffer \"", name, "\"; it was written for a different model or is damaged");
    const Tensor& b = ck.tensor("buffer/" + name);
    if (b.shape() != t->shape() || b.dtype() != t->dtype()) fail("checkpoint ", path, ": buffer ", name, " has shape ", shape_str(b.shape()), ", expected ", shape_str(t->shape()));
    t->copy_from(b);
  }
  if (!slots) return;
  for (const std::string& name : optimizer_slots(s.config.optimizer)) {
    if (!ck.has("slot/" + name)) continue;  // the caller decides (has_optimizer_state)
    const Tensor& t = ck.tensor("slot/" + name);
    Tensor& slot = s.memory->slot(name);
    if (t.shape() != slot.shape() || t.dtype() != slot.dtype())
      fail("checkpoint ", path, ": optimizer state \"", name, "\" is ", t.describe(), ", expected ", slot.describe(),
           "; it was written for a different model or optimizer");
    slot.copy_from(t);
  }
}

std::string first_difference(const nlohmann::json& a, const nlohmann::json& b, const std::string& path) {
  if (a.is_object() && b.is_object()) {
    for (const auto& item : a.items()) {
      const std::string p = path.empty() ? item.key() : path + "." + item.key();
      if (!b.contains(item.key())) return p;
      const std::string d = first_difference(item.value(), b.at(item.key()), p);
      if (!d.empty()) return d;
    }
    for (const auto& item : b.items())
      if (!a.contains(item.key())) return path.empty() ? item.key() : path + "." + item.key();
    return "";
  }
  return a == b ? "" : (path.empty() ? "(top level)" : path);
}

void require_same_config(const nlohmann::json& here, const nlohmann::json& there, const std::string& path) {
  nlohmann::json a = here, b = there;
  // The length of a run and its reporting may change on resume; nothing that shapes the trajectory may.
  for (nlohmann::json* j : {&a, &b})
    for (const char* key : {"epochs", "max_steps", "early_stopping", "log_every", "cuda_graphs"})
      if (j->contains("train")) (*j)["train"].erase(key);
  // A run may continue on another device (checkpoints hold host bytes), and with another
  // learning rate or schedule: the way out of a divergence (docs/reliability.md).
  for (nlohmann::json* j : {&a, &b}) {
    j->erase("device"), j->erase("schedule");
    if (j->contains("optimizer") && (*j)["optimizer"].is_object()) (*j)["optimizer"].erase("lr");
  }
  // Keys added after a checkpoint was written take their defaults there.
  for (nlohmann::json* j : {&a, &b}) {
    if (!j->contains("precision")) (*j)["precision"] = "fp32";
    if (!j->contains("deterministic")) (*j)["deterministic"] = false;
  }
  const std::string diff = first_difference(a, b, "");
  if (diff.empty()) return;
  fail("checkpoint ", path, " comes from a run with a different config: `", diff, "` is ", at_path(there, diff).dump(),
       " there and ", at_path(here, diff).dump(),
       " here. Resume with the config that run used (its resolved_config.json), or start a new run with another --out");
}

std::int64_t count_correct(const Tensor& logits, const Tensor& labels) {
  const std::vector<float> l = logits.to_vector();
  const std::vector<std::int32_t> y = labels.to_host<std::int32_t>();
  const std::int64_t c = logits.size(1);
  std::int64_t correct = 0;
  for (std::size_t i = 0; i < y.size(); ++i) {
    const float* row = l.data() + std::int64_t(i) * c;
    std::int64_t best = 0;
    for (std::int64_t j = 1; j < c; ++j)
      if (row[j] > row[best]) best = j;
    correct += best == y[i];
  }
  return correct;
}

Evaluation evaluate(Session& s, const PreparedData& data, PreparedData::Part part, dist::Communicator* comm) {
  NoGradGuard no_grad;
  Evaluation e;
  if (data.size(part) == 0) return e;
  const bool shared = comm != nullptr && comm->size() > 1;
  auto loader = data.loader(part, s.config.train.eval_batch_size, 0, false, shared ? comm->rank() : 0,
                            shared ? comm->size() : 1);
  loader->start_epoch(0);
  data::Batch b;
  double loss_sum = 0;
  std::int64_t correct = 0;
  while (loader->next(b)) {
    if (b.size() == 0) continue;  // a share left empty by a short last batch
    nn::Context ctx = forward_context(s, false);
    const nn::Batch batch = to_model_batch(b, data.text, s.device);
    const Tensor logits = s.model->forward(batch, ctx);
    loss_sum += double(cross_entropy(logits, batch.labels).item()) * double(b.size());
    correct += count_correct(logits, b.labels);  // the loader's labels are still on the host
    e.n_samples += b.size();
  }
  if (shared) {
    double sums[3] = {loss_sum, double(correct), double(e.n_samples)};  // exact for counts below 2^53
    comm->allreduce_sum(sums, 3);
    loss_sum = sums[0], correct = std::int64_t(sums[1]), e.n_samples = std::int64_t(sums[2]);
  }
  e.accuracy = double(correct) / double(e.n_samples);
  e.loss = loss_sum / double(e.n_samples);
  return e;
}

}  // namespace roast
