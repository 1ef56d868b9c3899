// Validation of a training checkpoint's header (see session.h). Kept apart from the
// session so that the checkpoint fuzz target builds without the engine.
#include <cmath>
#include <string>

#include "io/json_safe.h"
#include "roast/limits.h"
#include "train/session.h"

namespace roast {
namespace {
[[noreturn]] void damaged(const std::string& path, const std::string& key, const std::string& problem) {
  fail("checkpoint ", path, ": header field `", key, "` ", problem,
       "; the file is damaged or was edited. Use another checkpoint (a run folder's best.ckpt or last.ckpt) or retrain");
}

void require_int(const nlohmann::json& obj, const std::string& prefix, const char* key, std::int64_t lo, std::int64_t hi,
                 const std::string& path) {
  const std::string name = prefix + key;
  if (!obj.contains(key)) damaged(path, name, "is missing");
  const nlohmann::json& v = obj.at(key);
  if (!v.is_number_integer() || (v.is_number_unsigned() && v.get<std::uint64_t>() > std::uint64_t(INT64_MAX)))
    damaged(path, name, "must be an integer, got " + json_brief(v));
  const std::int64_t x = v.get<std::int64_t>();
  if (x < lo || x > hi)
    damaged(path, name, "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + std::to_string(x));
}

void require_number(const nlohmann::json& obj, const std::string& prefix, const char* key, const std::string& path) {
  if (!obj.contains(key) || !obj.at(key).is_number()) damaged(path, prefix + key, "must be a number");
}

void require_strings(const nlohmann::json& v, const std::string& key, std::int64_t max_size, const std::string& path) {
  if (!v.is_array()) damaged(path, key, "must be a list of strings, got " + json_brief(v));
  if (std::int64_t(v.size()) > max_size) damaged(path, key, "has more than " + std::to_string(max_size) + " entries");
  for (const nlohmann::json& e : v)
    if (!e.is_string()) damaged(path, key, "must hold strings only, got " + json_brief(e));
}

// A model folded by another tile layout would read its weights from other cells.
void require_fold_layout(const nlohmann::json& h, const std::string& path) {
  const nlohmann::json& config = h["config"];
  const auto memory = config.find("memory");
  if (memory == config.end() || !memory->is_object()) return;
  const auto mapping = memory->find("mapping");
  if (mapping == memory->end() || *mapping != "fold") return;
  const auto layout = h.find("fold_layout");
  if (layout != h.end() && *layout == kFoldLayout) return;
  fail("checkpoint ", path, ": its model uses memory.mapping = \"fold\" with tile layout ",
       layout == h.end() ? std::string("1 (no `fold_layout` in the header)") : json_brief(*layout),
       ", but this roast places folded tiles by layout ", kFoldLayout,
       " (docs/roast.md), so the weights would be read from other cells. Retrain, or use the roast release that "
       "wrote the checkpoint");
}

// Every field the loaders read, with its type and range: nothing later can meet a surprise.
void validate_header(const nlohmann::json& h, const std::string& path) {
  for (const char* key : {"config", "input", "class_names", "state"})
    if (!h.contains(key)) fail("checkpoint ", path, ": its header lacks \"", key, "\"; the file is damaged");
  if (!h["config"].is_object()) damaged(path, "config", "must be an object");
  require_fold_layout(h, path);
  const nlohmann::json& in = h["input"];
  if (!in.is_object()) damaged(path, "input", "must be an object");
  if (!in.contains("text") || !in["text"].is_boolean()) damaged(path, "input.text", "must be true or false");
  const bool text = in["text"].get<bool>();
  require_int(in, "input.", "channels", text ? 0 : 1, text ? 0 : 4, path);
  require_int(in, "input.", "height", text ? 0 : 1, text ? 0 : limits::kMaxWidth, path);
  require_int(in, "input.", "width", text ? 0 : 1, text ? 0 : limits::kMaxWidth, path);
  require_int(in, "input.", "vocab_size", text ? 3 : 0, text ? limits::kMaxVocab : 0, path);
  require_int(in, "input.", "max_length", text ? 2 : 0, text ? limits::kMaxSeqLen : 0, path);
  require_int(in, "input.", "n_classes", 1, limits::kMaxClasses, path);
  require_strings(h["class_names"], "class_names", limits::kMaxClasses, path);
  if (!h["class_names"].empty() && std::int64_t(h["class_names"].size()) != in["n_classes"].get<std::int64_t>())
    damaged(path, "class_names", "has " + std::to_string(h["class_names"].size()) + " names but input.n_classes is " +
                                     std::to_string(in["n_classes"].get<std::int64_t>()));
  const nlohmann::json& st = h["state"];
  if (!st.is_object()) damaged(path, "state", "must be an object");
  for (const char* key : {"step", "epoch", "batch_in_epoch", "evals_since_best", "samples"})
    require_int(st, "state.", key, 0, INT64_MAX / 4, path);
  require_int(st, "state.", "best_step", -1, INT64_MAX / 4, path);
  require_number(st, "state.", "best_val_accuracy", path);
  require_number(st, "state.", "train_seconds", path);
  if (!st.contains("metrics") || !st["metrics"].is_array()) damaged(path, "state.metrics", "must be a list");
  if (text) {
    if (!h.contains("vocabulary")) damaged(path, "vocabulary", "is missing (a text model needs its vocabulary)");
    require_strings(h["vocabulary"], "vocabulary", limits::kMaxVocab, path);
    if (std::int64_t(h["vocabulary"].size()) != in["vocab_size"].get<std::int64_t>())
      damaged(path, "vocabulary", "has " + std::to_string(h["vocabulary"].size()) + " tokens but input.vocab_size is " +
                                      std::to_string(in["vocab_size"].get<std::int64_t>()));
  } else {
    if (!h.contains("channel_stats") || !h["channel_stats"].is_object())
      damaged(path, "channel_stats", "is missing (an image model needs its channel statistics)");
    const std::size_t channels = std::size_t(in["channels"].get<std::int64_t>());
    for (const char* key : {"mean", "std"}) {
      const nlohmann::json& v = h["channel_stats"].contains(key) ? h["channel_stats"][key] : nlohmann::json();
      if (!v.is_array() || v.size() != channels)
        damaged(path, std::string("channel_stats.") + key, "must be a list of " + std::to_string(channels) + " numbers");
      for (const nlohmann::json& x : v) {
        if (!x.is_number() || !std::isfinite(x.get<double>()) || (key[0] == 's' && !(x.get<double>() > 0)))
          damaged(path, std::string("channel_stats.") + key,
                  std::string("must hold finite numbers") + (key[0] == 's' ? " > 0" : "") + ", got " + json_brief(x));
      }
    }
  }
}
}  // namespace

nlohmann::json checkpoint_header(const Checkpoint& ck, const std::string& path) {
  nlohmann::json h;
  try {
    h = parse_json_bounded(ck.header_json, "checkpoint " + path + ": its header");
  } catch (const nlohmann::json::exception&) {
    fail("checkpoint ", path, ": its header is not valid JSON; the file is damaged. Use another checkpoint");
  }
  if (!h.is_object() || !h.contains("format") || h["format"] != kCheckpointFormat)
    fail("checkpoint ", path, " was not written by roast-train (its header has no \"format\": \"", kCheckpointFormat,
         "\"). Pass a last.ckpt or best.ckpt from a run directory");
  validate_header(h, path);
  return h;
}


TrainState restore_state(const nlohmann::json& h) {
  const nlohmann::json& j = h.at("state");
  TrainState st;
  st.step = j.at("step"), st.epoch = j.at("epoch"), st.batch_in_epoch = j.at("batch_in_epoch");
  st.best_val_accuracy = j.at("best_val_accuracy"), st.best_step = j.at("best_step");
  st.evals_since_best = j.at("evals_since_best"), st.train_seconds = j.at("train_seconds");
  st.samples = j.at("samples"), st.metrics = j.at("metrics");
  return st;
}

}  // namespace roast
