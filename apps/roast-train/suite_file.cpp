// Reading and validating suite files (suite.h). Every problem names the suite file, the key
// and the fix; nothing here touches a run folder, so bad input never loses finished points.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "roast/error.h"
#include "suite.h"

namespace roast {
namespace cli {
namespace fs = std::filesystem;
namespace {

const std::set<std::string> kKinds = {"dense", "roast", "roast-fold", "roast-local", "hashednet", "dense-smaller"};
const std::set<std::string> kTopKeys = {"name",   "description", "base",          "set",   "series",
                                        "compressions", "sweep",  "seeds",         "dense_smaller",
                                        "minutes_per_point", "check", "curves_at"};

std::string list_of(const std::set<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

struct Where {
  std::string suite, file;
  [[noreturn]] void bad(const std::string& key, const std::string& problem, const std::string& fix) const {
    fail("suite ", suite, " (", file, "): `", key, "`: ", problem, ". Fix: ", fix);
  }
};

double number(const Where& w, const nlohmann::json& v, const std::string& key, const std::string& fix) {
  if (!v.is_number()) w.bad(key, "must be a number, got " + v.dump(), fix);
  return v.get<double>();
}
}  // namespace

Suite load_suite(const std::string& path) {
  Suite s;
  s.file = path;
  s.name = fs::path(path).stem().string();
  Where w{s.name, path};
  std::ifstream in(path);
  if (!in) fail("reproduce: cannot read suite file ", path);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    fail("suite ", s.name, " (", path, "): not valid JSON: ", e.what());
  }
  if (!j.is_object()) w.bad("(top level)", "must be a JSON object", "see docs/reproducing.md, \"Suite files\"");
  for (auto it = j.begin(); it != j.end(); ++it)
    if (!kTopKeys.count(it.key()))
      w.bad(it.key(), "unknown axis or key", "use one of " + list_of(kTopKeys));
  if (j.contains("name")) {
    if (!j["name"].is_string()) w.bad("name", "must be a string", "\"name\": \"" + s.name + "\"");
    s.name = j["name"].get<std::string>();
    w.suite = s.name;
  }
  s.description = j.value("description", std::string());
  if (!j.contains("base") || !j["base"].is_string())
    w.bad("base", "missing or not a string", "\"base\": \"../fashion-mnist/base.json\" (relative to the suite file)");
  const std::string base = j["base"].get<std::string>();
  s.base = base.empty() || base[0] == '/' ? base : (fs::path(path).parent_path() / base).lexically_normal().string();
  if (!fs::exists(s.base)) w.bad("base", "no config at " + s.base, "give a config path relative to the suite file");
  if (j.contains("set")) {
    if (!j["set"].is_object()) w.bad("set", "must be an object of key paths", "\"set\": {\"train.epochs\": 2}");
    s.set = j["set"];
  }
  // series
  if (!j.contains("series") || !j["series"].is_array() || j["series"].empty())
    w.bad("series", "missing or empty", "\"series\": [\"dense\", \"roast\", \"roast-fold\"] (kinds: " + list_of(kKinds) + ")");
  std::set<std::string> names;
  for (std::size_t i = 0; i < j["series"].size(); ++i) {
    const nlohmann::json& e = j["series"][i];
    const std::string key = "series[" + std::to_string(i) + "]";
    SeriesSpec spec;
    if (e.is_string()) {
      spec.name = spec.kind = e.get<std::string>();
    } else if (e.is_object()) {
      for (auto it = e.begin(); it != e.end(); ++it)
        if (it.key() != "name" && it.key() != "like" && it.key() != "set")
          w.bad(key + "." + it.key(), "unknown key", "a series object has \"name\", \"like\" and \"set\"");
      if (!e.contains("name") || !e["name"].is_string() || !e.contains("like") || !e["like"].is_string())
        w.bad(key, "needs \"name\" and \"like\" strings",
              "{\"name\": \"roast-gs\", \"like\": \"roast\", \"set\": {\"optimizer.grad_scaling\": true}}");
      spec.name = e["name"].get<std::string>();
      spec.kind = e["like"].get<std::string>();
      if (e.contains("set")) {
        if (!e["set"].is_object()) w.bad(key + ".set", "must be an object", "\"set\": {\"optimizer.grad_scaling\": true}");
        spec.set = e["set"];
      }
    } else {
      w.bad(key, "must be a kind name or an object", "\"roast\"");
    }
    if (!kKinds.count(spec.kind)) w.bad(key, "unknown series \"" + spec.kind + "\"", "use one of " + list_of(kKinds));
    if (spec.name.empty() || spec.name.find('/') != std::string::npos || spec.name.find("..") != std::string::npos)
      w.bad(key, "the name must be non-empty without '/' or \"..\"", "\"name\": \"roast-gs\"");
    if (!names.insert(spec.name).second) w.bad(key, "series \"" + spec.name + "\" appears twice", "give each series its own name");
    s.series.push_back(spec);
  }
  // the x axis: compressions or a sweep
  if (j.contains("compressions") == j.contains("sweep"))
    w.bad("compressions", "give exactly one x axis: \"compressions\" or \"sweep\"",
          "\"compressions\": [1, 10, 100], or \"sweep\": {\"key\": \"memory.init_scale\", \"values\": [0.005, 0.05, 0.5]}");
  if (j.contains("compressions")) {
    if (!j["compressions"].is_array() || j["compressions"].empty())
      w.bad("compressions", "must be a non-empty array", "\"compressions\": [1, 10, 100]");
    for (std::size_t i = 0; i < j["compressions"].size(); ++i) {
      const std::string key = "compressions[" + std::to_string(i) + "]";
      const double c = number(w, j["compressions"][i], key, "\"compressions\": [1, 10, 100]");
      if (!(c >= 1) || !std::isfinite(c))
        w.bad(key, "compression " + j["compressions"][i].dump() + " is below 1 (it is n / m)", "use values >= 1");
      if (std::find(s.compressions.begin(), s.compressions.end(), c) != s.compressions.end())
        w.bad(key, "compression " + j["compressions"][i].dump() + " appears twice", "list each compression once");
      s.compressions.push_back(c);
    }
    std::sort(s.compressions.begin(), s.compressions.end());
  } else {
    const nlohmann::json& sw = j["sweep"];
    if (!sw.is_object() || !sw.contains("key") || !sw["key"].is_string() || !sw.contains("values") ||
        !sw["values"].is_array() || sw["values"].empty())
      w.bad("sweep", "must be {\"key\": KEY, \"values\": [...]}", "\"sweep\": {\"key\": \"memory.init_scale\", \"values\": [0.005, 0.05]}");
    for (auto it = sw.begin(); it != sw.end(); ++it)
      if (it.key() != "key" && it.key() != "values") w.bad("sweep." + it.key(), "unknown key", "\"key\" and \"values\" only");
    s.sweep_key = sw["key"].get<std::string>();
    for (const nlohmann::json& v : sw["values"]) s.sweep_values.push_back(v);
  }
  // seeds
  if (!j.contains("seeds") || !j["seeds"].is_array() || j["seeds"].empty())
    w.bad("seeds", "missing or empty", "\"seeds\": [1, 2, 3]");
  for (std::size_t i = 0; i < j["seeds"].size(); ++i) {
    const nlohmann::json& v = j["seeds"][i];
    if (!v.is_number_integer() || v.get<std::int64_t>() < 0)
      w.bad("seeds[" + std::to_string(i) + "]", "must be a non-negative integer, got " + v.dump(), "\"seeds\": [1, 2, 3]");
    if (std::count(s.seeds.begin(), s.seeds.end(), v.get<std::int64_t>()))
      w.bad("seeds[" + std::to_string(i) + "]", "seed " + v.dump() + " appears twice", "list each seed once");
    s.seeds.push_back(v.get<std::int64_t>());
  }
  // dense-smaller
  const bool has_smaller = std::any_of(s.series.begin(), s.series.end(), [](const SeriesSpec& x) { return x.kind == "dense-smaller"; });
  if (j.contains("dense_smaller")) {
    const nlohmann::json& d = j["dense_smaller"];
    if (!d.is_object()) w.bad("dense_smaller", "must be an object", "\"dense_smaller\": {\"widths\": [\"model.hidden\"]}");
    for (auto it = d.begin(); it != d.end(); ++it)
      if (it.key() != "widths" && it.key() != "multiple_of" && it.key() != "min" && it.key() != "compressions")
        w.bad("dense_smaller." + it.key(), "unknown key", "use widths, multiple_of, min, compressions");
    if (!d.contains("widths") || !d["widths"].is_array() || d["widths"].empty())
      w.bad("dense_smaller.widths", "missing or empty", "\"widths\": [\"model.dim\", \"model.ffn_dim\", \"data.vocab_size\"]");
    for (const nlohmann::json& k : d["widths"]) {
      if (!k.is_string()) w.bad("dense_smaller.widths", "entries must be key paths", "\"model.hidden\"");
      s.widths.push_back(k.get<std::string>());
    }
    if (d.contains("multiple_of")) {
      if (!d["multiple_of"].is_object()) w.bad("dense_smaller.multiple_of", "must be an object", "{\"model.dim\": 4}");
      for (auto it = d["multiple_of"].begin(); it != d["multiple_of"].end(); ++it) {
        if (!it.value().is_number_integer() || it.value().get<std::int64_t>() < 1)
          w.bad("dense_smaller.multiple_of." + it.key(), "must be a positive integer", "{\"model.dim\": 4}");
        s.multiple_of[it.key()] = it.value().get<std::int64_t>();
      }
    }
    if (d.contains("min")) {
      if (!d["min"].is_number_integer() || d["min"].get<std::int64_t>() < 1)
        w.bad("dense_smaller.min", "must be a positive integer", "\"min\": 4");
      s.min_width = d["min"].get<std::int64_t>();
    }
    if (d.contains("compressions")) {
      if (!d["compressions"].is_array()) w.bad("dense_smaller.compressions", "must be an array", "[10, 30, 100]");
      for (const nlohmann::json& v : d["compressions"]) {
        const double c = number(w, v, "dense_smaller.compressions", "[10, 30, 100]");
        if (std::find(s.compressions.begin(), s.compressions.end(), c) == s.compressions.end() || c <= 1)
          w.bad("dense_smaller.compressions", "value " + v.dump() + " is not a compression > 1 of the suite",
                "list values from \"compressions\" that are above 1");
        s.dense_smaller_compressions.push_back(c);
      }
    } else {
      for (double c : s.compressions)
        if (c > 1) s.dense_smaller_compressions.push_back(c);
    }
  }
  if (has_smaller && s.widths.empty())
    w.bad("dense_smaller", "series dense-smaller needs the keys to narrow",
          "\"dense_smaller\": {\"widths\": [\"model.stages.0.channels\", \"model.hidden\"]}");
  if (has_smaller && s.compressions.empty())
    w.bad("series", "dense-smaller needs a \"compressions\" axis (it matches each memory size)", "drop dense-smaller from a sweep suite");
  if (j.contains("minutes_per_point")) {
    const nlohmann::json& m = j["minutes_per_point"];
    if (!m.is_object()) w.bad("minutes_per_point", "must be an object", "{\"cpu\": 2, \"cuda\": 0.5}");
    for (auto it = m.begin(); it != m.end(); ++it) {
      if (it.key() != "cpu" && it.key() != "cuda") w.bad("minutes_per_point." + it.key(), "unknown device", "cpu or cuda");
      const double v = number(w, it.value(), "minutes_per_point." + it.key(), "{\"cpu\": 2, \"cuda\": 0.5}");
      (it.key() == "cpu" ? s.minutes_cpu : s.minutes_cuda) = v;
    }
  }
  if (j.contains("check")) {
    const nlohmann::json& c = j["check"];
    if (!c.is_object() || !c.contains("max_drop") || c.size() != 1)
      w.bad("check", "must be {\"max_drop\": FRACTION}", "\"check\": {\"max_drop\": 0.05}");
    s.check_max_drop = number(w, c["max_drop"], "check.max_drop", "\"check\": {\"max_drop\": 0.05}");
  }
  if (j.contains("curves_at")) {
    if (!j["curves_at"].is_string()) w.bad("curves_at", "must be an x label string", "\"curves_at\": \"10x\"");
    s.curves_at = j["curves_at"].get<std::string>();
  }
  return s;
}

}  // namespace cli
}  // namespace roast
