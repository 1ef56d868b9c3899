#include "config/run_config.h"

#include "config/json_reader.h"
#include "io/json_safe.h"
#include "memory/scheme_types.h"
#include "optim/optim_types.h"
#include "roast/config_types.h"
#include "roast/limits.h"

namespace roast {
namespace {
float fraction(JsonReader& r, const std::string& key, float fallback) {
  const float v = r.get<float>(key, fallback);
  if (v < 0.0f || v >= 1.0f) r.bad(key, "must be in [0, 1), got " + nlohmann::json(v).dump(), "\"" + key + "\": 0.1");
  return v;
}

std::int64_t non_negative(JsonReader& r, const std::string& key, std::int64_t fallback) {
  const std::int64_t v = r.get<std::int64_t>(key, fallback);
  if (v < 0) r.bad(key, "must be >= 0, got " + std::to_string(v), "\"" + key + "\": " + std::to_string(fallback));
  return v;
}

DataConfig parse_data(JsonReader r) {
  DataConfig d;
  d.dataset = read_registered(r, "dataset", d.dataset, dataset_registry()).name;
  d.path = r.get<std::string>("path", d.path);
  d.validation_fraction = fraction(r, "validation_fraction", d.validation_fraction);
  d.test_fraction = fraction(r, "test_fraction", d.test_fraction);
  d.split_seed = std::uint64_t(non_negative(r, "split_seed", std::int64_t(d.split_seed)));
  d.tokenizer = one_of(r, "tokenizer", d.tokenizer, {"word", "wordpiece"});
  d.vocab_file = r.get<std::string>("vocab_file", d.vocab_file);
  if (d.tokenizer == "wordpiece" && d.vocab_file.empty())
    r.bad("vocab_file", "is required with tokenizer \"wordpiece\" (a BERT vocab.txt)", "\"vocab_file\": \"bert/vocab.txt\"");
  d.vocab_size = int_in_range(r, "vocab_size", d.vocab_size, 1, limits::kMaxVocab);
  if (d.vocab_size < 3) r.bad("vocab_size", "must be at least 3 (the special tokens)", "\"vocab_size\": 30000");
  d.min_frequency = positive_int(r, "min_frequency", d.min_frequency);
  d.seq_len = int_in_range(r, "seq_len", d.seq_len, 1, limits::kMaxSeqLen);
  if (d.seq_len < 2) r.bad("seq_len", "must be at least 2 ([CLS] and one token)", "\"seq_len\": 256");
  d.normalize = r.get<bool>("normalize", d.normalize);
  d.augment = r.get<bool>("augment", d.augment);
  d.limit_train = non_negative(r, "limit_train", d.limit_train);
  r.finish();
  return d;
}

MemoryConfig parse_memory(JsonReader r) {
  MemoryConfig m;
  const SchemeType& scheme = read_registered(r, "scheme", "roast", scheme_registry());
  m.scheme = scheme.scheme;
  const int n_budgets = int(r.has("compression")) + int(r.has("floats")) + int(r.has("bytes"));
  if (n_budgets > 1)
    r.bad("compression", "give one of memory.compression, memory.floats and memory.bytes, not several",
          "\"compression\": 10");
  if (r.has("floats")) {
    m.floats = positive_int(r, "floats", 1);
  } else if (r.has("bytes")) {
    const std::string text = r.get<std::string>("bytes", "");
    m.bytes = text;
    parse_bytes(text);  // validates now, naming the text
  } else {
    const float c = r.get<float>("compression", float(scheme.default_compression));
    if (c < 1.0f) r.bad("compression", "must be >= 1 (n / m), got " + nlohmann::json(c).dump(), "\"compression\": 10");
    m.compression = c;
  }
  const std::vector<std::int64_t> tile = r.get<std::vector<std::int64_t>>("tile", {m.tile_rows, m.tile_cols});
  if (tile.size() != 2 || tile[0] <= 0 || tile[1] <= 0 || tile[0] > limits::kMaxTileSide || tile[1] > limits::kMaxTileSide)
    r.bad("tile", "must be two integers [rows, cols] in [1, " + std::to_string(limits::kMaxTileSide) + "], got " +
                      nlohmann::json(tile).dump(), "\"tile\": [32, 64]");
  m.tile_rows = std::int32_t(tile[0]);
  m.tile_cols = std::int32_t(tile[1]);
  m.embedding_chunk = std::int32_t(int_in_range(r, "embedding_chunk", m.embedding_chunk, 1, limits::kMaxTileSide));
  m.sign_mode = parse_sign_mode(one_of(r, "sign", sign_mode_name(scheme.default_sign), {"none", "tile", "element"}));
  m.init_scale = positive(r, "init_scale", m.init_scale);
  m.exact_threshold = non_negative(r, "exact_threshold", m.exact_threshold);
  m.seed = std::uint64_t(non_negative(r, "seed", std::int64_t(m.seed)));
  m.placement = one_of(r, "mapping", "hash", {"hash", "fold"}) == "fold" ? Placement::fold : Placement::hash;
  const std::string small = one_of(r, "small_tensors", "auto", {"auto", "exact", "hashed"});
  m.small_tensors = small == "exact" ? SmallTensors::exact : small == "hashed" ? SmallTensors::hashed : SmallTensors::auto_;
  const std::string over = one_of(r, "compression_of", "auto", {"auto", "all", "hashed"});
  m.compression_of = over == "all" ? CompressionOf::all : over == "hashed" ? CompressionOf::hashed : CompressionOf::auto_;
  m.tile_fit_auto = one_of(r, "tile_fit", "auto", {"auto", "strict"}) == "auto";
  r.finish();
  if (m.scheme == Scheme::hashednet && m.placement == Placement::fold)
    r.bad("mapping", "scheme hashednet hashes single weights and has no tiles to fold; fold applies to roast and "
          "roast-local", "\"mapping\": \"hash\"");
  return m;
}

OptimizerConfig parse_optimizer(JsonReader r) {
  OptimizerConfig o;
  o.name = read_registered(r, "name", o.name, optimizer_registry()).name;
  o.lr = positive(r, "lr", o.lr);
  o.momentum = r.get<float>("momentum", o.momentum);
  o.nesterov = r.get<bool>("nesterov", o.nesterov);
  o.weight_decay = r.get<float>("weight_decay", o.weight_decay);
  o.beta1 = r.get<float>("beta1", o.beta1);
  o.beta2 = r.get<float>("beta2", o.beta2);
  o.eps = r.get<float>("eps", o.eps);
  o.grad_clip_norm = r.get<float>("grad_clip_norm", o.grad_clip_norm);
  o.grad_scaling = r.get<bool>("grad_scaling", o.grad_scaling);
  r.finish();
  try {
    validate(o);
  } catch (const Error& e) {
    fail(r.source(), ": ", e.what());
  }
  return o;
}

ScheduleConfig parse_schedule(JsonReader r) {
  ScheduleConfig s;
  s.name = read_registered(r, "name", s.name, schedule_registry()).name;
  s.warmup_steps = non_negative(r, "warmup_steps", s.warmup_steps);
  s.step_size = positive_int(r, "step_size", s.step_size);
  s.gamma = r.get<float>("gamma", s.gamma);
  s.min_lr_ratio = r.get<float>("min_lr_ratio", s.min_lr_ratio);
  r.finish();
  try {
    validate(s);
  } catch (const Error& e) {
    fail(r.source(), ": ", e.what());
  }
  return s;
}

TrainConfig parse_train(JsonReader r) {
  TrainConfig t;
  t.epochs = int_in_range(r, "epochs", t.epochs, 1, limits::kMaxEpochs);
  t.batch_size = int_in_range(r, "batch_size", t.batch_size, 1, limits::kMaxBatch);
  t.eval_batch_size = int_in_range(r, "eval_batch_size", t.eval_batch_size, 1, limits::kMaxBatch);
  t.eval_every = int_in_range(r, "eval_every", t.eval_every, 0, limits::kMaxSteps);
  t.early_stopping = non_negative(r, "early_stopping", t.early_stopping);
  t.label_smoothing = fraction(r, "label_smoothing", t.label_smoothing);
  t.log_every = int_in_range(r, "log_every", t.log_every, 1, limits::kMaxSteps);
  t.max_steps = int_in_range(r, "max_steps", t.max_steps, 0, limits::kMaxSteps);
  t.cuda_graphs_explicit = r.has("cuda_graphs");
  t.cuda_graphs = r.get<bool>("cuda_graphs", t.cuda_graphs);
  r.finish();
  return t;
}
}  // namespace

RunConfig parse_run_config(const nlohmann::json& config, const std::string& source, nlohmann::json* resolved) {
  JsonReader root(config, "", source, resolved);
  RunConfig c;
  c.name = root.get<std::string>("name", c.name);
  // The name becomes a folder under runs/: one plain path component.
  const bool plain = !c.name.empty() && c.name.size() <= std::size_t(limits::kMaxNameBytes) && c.name[0] != '.' &&
                     c.name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
                         std::string::npos;
  if (!plain)
    root.bad("name", "must be 1 to " + std::to_string(limits::kMaxNameBytes) +
                         " letters, digits, '.', '_' or '-', not starting with '.' (it names the run folder runs/<name>), got " +
                         json_brief(c.name),
             "\"name\": \"fashion-mnist-roast-10x\"");
  c.seed = std::uint64_t(non_negative(root, "seed", std::int64_t(c.seed)));
  c.device = root.get<std::string>("device", c.device);
  try {
    parse_device(c.device);  // syntax only; whether this machine has it is checked when a run starts
  } catch (const std::exception&) {  // roast::Error, or std::out_of_range for a huge N
    root.bad("device", "must be \"cpu\", \"cuda\" or \"cuda:N\", got \"" + c.device + "\"", "\"device\": \"cpu\"");
  }
  c.precision = one_of(root, "precision", c.precision, {"fp32", "tf32", "bf16"});
  c.deterministic = root.get<bool>("deterministic", c.deterministic);
  c.threads = int_in_range(root, "threads", c.threads, 0, limits::kMaxThreads);
  c.data = parse_data(root.object("data"));
  if (!root.has("model")) root.bad("model", "is required: the model to train", R"("model": {"type": "mlp", "hidden": [256]})");
  if (!config.at("model").is_object())
    root.bad("model", "must be an object naming the model, got " + json_brief(config.at("model")),
             R"("model": {"type": "mlp", "hidden": [256]})");
  c.model = config.at("model");
  root.accept("model");
  c.memory = parse_memory(root.object("memory"));
  c.optimizer = parse_optimizer(root.object("optimizer"));
  c.schedule = parse_schedule(root.object("schedule"));
  c.train = parse_train(root.object("train"));
  root.finish();
  return c;
}

}  // namespace roast
