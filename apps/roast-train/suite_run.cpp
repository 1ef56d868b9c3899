// Running a suite (suite.h): points, the dense-smaller narrowing, resume, results and plots.
#include <algorithm>
#include <functional>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "child_process.h"
#include "config/json_reader.h"
#include "data/file_io.h"
#include "roast/checkpoint.h"
#include "roast/error.h"
#include "roast/trainer.h"
#include "suite.h"
#include "svg_plot.h"
#include "train/info.h"

namespace roast {
namespace cli {
namespace fs = std::filesystem;
namespace {

struct Point {
  std::string series, kind, x_label, id, run_dir, config_file;
  double x_value = 0;
  std::int64_t seed = 0;
  nlohmann::json config;
  nlohmann::json narrowed;  // dense-smaller: the widths used
};

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string x_label_of(double compression) { return fmt("%g", compression) + "x"; }

// Sets a key path ("model.stages.1.channels": numbers index arrays) to value.
void set_path(nlohmann::json& root, const std::string& key, const nlohmann::json& value) {
  nlohmann::json* node = &root;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = key.find('.', start);
    const std::string part = key.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    nlohmann::json* next = nullptr;
    if (node->is_array()) {
      char* end = nullptr;
      const long index = std::strtol(part.c_str(), &end, 10);
      if (part.empty() || *end != '\0' || index < 0 || std::size_t(index) >= node->size())
        fail("key ", key, ": \"", part, "\" is not an index of an array of ", node->size());
      next = &(*node)[std::size_t(index)];
    } else {
      if (node->is_null()) *node = nlohmann::json::object();
      if (!node->is_object()) fail("key ", key, ": \"", part, "\" is below a value that is not an object");
      next = &(*node)[part];
    }
    if (dot == std::string::npos) {
      *next = value;
      return;
    }
    node = next;
    start = dot + 1;
  }
}

const nlohmann::json* get_path(const nlohmann::json& root, const std::string& key) {
  const nlohmann::json* node = &root;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = key.find('.', start);
    const std::string part = key.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (node->is_array()) {
      char* end = nullptr;
      const long index = std::strtol(part.c_str(), &end, 10);
      if (part.empty() || *end != '\0' || index < 0 || std::size_t(index) >= node->size()) return nullptr;
      node = &(*node)[std::size_t(index)];
    } else if (node->is_object() && node->contains(part)) {
      node = &(*node)[part];
    } else {
      return nullptr;
    }
    if (dot == std::string::npos) return node;
    start = dot + 1;
  }
}

void set_compression(nlohmann::json& cfg, double c) {
  nlohmann::json& memory = cfg["memory"];
  memory.erase("floats");
  memory.erase("bytes");
  memory["compression"] = c;
}

// The series' settings on top of the base: scheme, mapping.
void apply_kind(nlohmann::json& cfg, const std::string& kind) {
  nlohmann::json& memory = cfg["memory"];
  if (kind == "dense" || kind == "dense-smaller") {
    memory["scheme"] = "dense";
    memory.erase("mapping");
    set_compression(cfg, 1);
  } else if (kind == "roast" || kind == "roast-fold") {
    memory["scheme"] = "roast";
    memory["mapping"] = kind == "roast-fold" ? "fold" : "hash";
  } else {
    memory["scheme"] = kind;  // roast-local, hashednet
    memory["mapping"] = "hash";
  }
}

struct SuitePlanner {
  const Suite& suite;
  const RunnerOptions& opt;
  std::string work;  // OUT/configs
  std::map<std::string, std::int64_t> probes;

  // Writes cfg to a file and returns describe_config's figures (memory floats, n).
  nlohmann::json describe(const nlohmann::json& cfg, const std::string& file) {
    write_file_atomic(file, cfg.dump(2) + "\n");
    return describe_config(file, {});
  }

  nlohmann::json base_config(const SeriesSpec& series, std::int64_t seed) {
    nlohmann::json cfg = read_config_file(suite.base);
    cfg.erase("extends");
    for (auto it = suite.set.begin(); it != suite.set.end(); ++it) set_path(cfg, it.key(), it.value());
    apply_kind(cfg, series.kind);
    for (auto it = series.set.begin(); it != series.set.end(); ++it) set_path(cfg, it.key(), it.value());
    cfg["seed"] = seed;
    set_path(cfg, "memory.seed", seed);
    if (!opt.device.empty()) cfg["device"] = opt.device;
    for (const std::string& o : opt.overrides) apply_override(cfg, o);
    return cfg;
  }

  // dense-smaller: scale every width key by one factor until the dense model has at most
  // `target` parameters (largest such factor, by bisection).
  nlohmann::json narrow(nlohmann::json cfg, std::int64_t target, double compression, nlohmann::json* widths_used) {
    std::vector<double> base;
    for (const std::string& key : suite.widths) {
      const nlohmann::json* v = get_path(cfg, key);
      if (v == nullptr || !v->is_number_integer())
        fail("suite ", suite.name, " (", suite.file, "): `dense_smaller.widths`: key ", key,
             " is not an integer of the base config. Fix: list integer keys of ", suite.base,
             " (arrays by index, e.g. model.stages.0.channels)");
      base.push_back(v->get<double>());
    }
    const auto widths_at = [&](double s) {
      nlohmann::json w = nlohmann::json::object();
      for (std::size_t i = 0; i < base.size(); ++i) {
        const auto mit = suite.multiple_of.find(suite.widths[i]);
        const std::int64_t mult = mit == suite.multiple_of.end() ? 1 : mit->second;
        const std::int64_t floor_v = std::max<std::int64_t>(suite.min_width, mult);
        std::int64_t v = std::int64_t(std::llround(base[i] * s / double(mult))) * mult;
        w[suite.widths[i]] = std::max(v, (floor_v + mult - 1) / mult * mult);
      }
      return w;
    };
    const auto params_at = [&](const nlohmann::json& w) {
      const std::string key = w.dump();
      auto it = probes.find(key);
      if (it != probes.end()) return it->second;
      nlohmann::json c = cfg;
      for (auto wi = w.begin(); wi != w.end(); ++wi) set_path(c, wi.key(), wi.value());
      const std::int64_t n = describe(c, work + "/.probe.json")["virtual_params"].get<std::int64_t>();
      probes[key] = n;
      return n;
    };
    const nlohmann::json smallest = widths_at(0);
    if (params_at(smallest) > target)
      fail("suite ", suite.name, " (", suite.file, "): `dense_smaller`: at compression ", compression,
           " the memory holds ", target, " floats but the narrowest dense model (", smallest.dump(), ") has ",
           params_at(smallest), " parameters. Fix: add a width key that shrinks it further (e.g. data.vocab_size), "
           "lower dense_smaller.min, or leave ", compression, " out of dense_smaller.compressions");
    double lo = 0, hi = 1;
    for (int i = 0; i < 24; ++i) {
      const double mid = 0.5 * (lo + hi);
      (params_at(widths_at(mid)) <= target ? lo : hi) = mid;
    }
    *widths_used = widths_at(lo);
    for (auto wi = widths_used->begin(); wi != widths_used->end(); ++wi) set_path(cfg, wi.key(), wi.value());
    return cfg;
  }

  std::vector<Point> points() {
    std::vector<Point> out;
    std::vector<std::pair<std::string, double>> xs;  // label, value
    if (!suite.compressions.empty()) {
      for (double c : suite.compressions) xs.push_back({x_label_of(c), c});
    } else {
      const std::string tail = suite.sweep_key.substr(suite.sweep_key.find_last_of('.') + 1);
      for (const nlohmann::json& v : suite.sweep_values)
        xs.push_back({tail + "=" + (v.is_string() ? v.get<std::string>() : v.dump()), v.is_number() ? v.get<double>() : 0});
    }
    for (std::int64_t seed : suite.seeds) {
      for (std::size_t xi = 0; xi < xs.size(); ++xi) {
        for (const SeriesSpec& series : suite.series) {
          const bool compressions = !suite.compressions.empty();
          if (compressions && series.kind == "dense" && xs[xi].second != suite.compressions.front()) continue;
          if (series.kind == "dense-smaller" &&
              std::find(suite.dense_smaller_compressions.begin(), suite.dense_smaller_compressions.end(),
                        xs[xi].second) == suite.dense_smaller_compressions.end())
            continue;
          Point p;
          p.series = series.name;
          p.kind = series.kind;
          p.seed = seed;
          p.x_label = compressions && series.kind == "dense" ? "1x" : xs[xi].first;
          p.x_value = compressions && series.kind == "dense" ? 1 : xs[xi].second;
          p.config = base_config(series, seed);
          if (!compressions) set_path(p.config, suite.sweep_key, suite.sweep_values[xi]);
          else if (series.kind != "dense" && series.kind != "dense-smaller") set_compression(p.config, xs[xi].second);
          if (series.kind == "dense-smaller") {
            try {
              nlohmann::json roast_cfg = p.config;
              apply_kind(roast_cfg, "roast");
              set_compression(roast_cfg, xs[xi].second);
              const std::int64_t target =
                  describe(roast_cfg, work + "/.probe.json")["memory_floats"].get<std::int64_t>();
              p.config = narrow(p.config, target, xs[xi].second, &p.narrowed);
            } catch (const Error& e) {
              if (std::string(e.what()).rfind("suite ", 0) == 0) throw;
              fail("suite ", suite.name, " (", suite.file, "): `dense_smaller`: at compression ", xs[xi].second,
                   " a narrowed config is invalid: ", e.what(), ". Fix: adjust dense_smaller.min, multiple_of or widths");
            }
          }
          p.id = p.series + "/" + p.x_label + "/s" + std::to_string(seed);
          std::string run_name = suite.name + "-" + p.series + "-" + p.x_label + "-s" + std::to_string(seed);
          for (char& c : run_name)  // a run name allows letters, digits, '.', '_' and '-'
            if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') c = '-';
          p.config["name"] = run_name.substr(0, 128);
          p.run_dir = opt.out_dir + "/" + p.id;
          p.config_file = work + "/" + p.series + "_" + p.x_label + "_s" + std::to_string(seed) + ".json";
          out.push_back(std::move(p));
        }
      }
    }
    return out;
  }
};

struct Aggregate {
  std::string series, x_label;
  double x_value = 0;
  std::vector<double> acc;
  double memory_floats = 0;
  double mean() const {
    double s = 0;
    for (double a : acc) s += a;
    return acc.empty() ? 0 : s / double(acc.size());
  }
  double std() const {  // sample standard deviation (n - 1); 0 for one seed
    if (acc.size() < 2) return 0;
    const double m = mean();
    double s = 0;
    for (double a : acc) s += (a - m) * (a - m);
    return std::sqrt(s / double(acc.size() - 1));
  }
};

std::string pct(double v) { return fmt("%.2f", 100.0 * v); }

// Fingerprint of a point's resolved config: an imported point counts as done only if its
// config is the one this suite would run now.
std::string config_hash(const nlohmann::json& config) {
  const std::string text = config.dump();
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", (unsigned long long)data::detail::fnv1a(text.data(), text.size()));
  return buf;
}

// Validation accuracy per evaluation, [[epoch, accuracy], ...], from a run's metrics.jsonl;
// kept in the point's record so that results.json alone redraws the training curves.
nlohmann::json read_curve(const std::string& run_dir) {
  nlohmann::json curve = nlohmann::json::array();
  std::ifstream in(run_dir + "/metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    try {
      const nlohmann::json m = nlohmann::json::parse(line);
      curve.push_back({m.at("epoch").get<double>(), m.at("val_accuracy").get<double>()});
    } catch (const nlohmann::json::exception&) {
    }
  }
  return curve;
}

// The finished points of an earlier results.json, by id; bad input names the file and the fix.
std::map<std::string, nlohmann::json> imported_points(const std::string& file, const Suite& suite) {
  std::map<std::string, nlohmann::json> out;
  if (file.empty()) return out;
  std::ifstream in(file);
  if (!in) fail("reproduce --import: cannot read ", file, "; pass the results.json of an earlier sitting of suite ", suite.name);
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    fail("reproduce --import: ", file, " is not JSON (", e.what(), "); pass a results.json written by reproduce");
  }
  if (!doc.is_object() || !doc.contains("points") || !doc["points"].is_array())
    fail("reproduce --import: ", file, " has no \"points\" array; pass a results.json written by reproduce");
  if (doc.value("suite", "") != suite.name)
    fail("reproduce --import: ", file, " holds suite \"", doc.value("suite", ""), "\", not \"", suite.name,
         "\"; pass that suite's results.json");
  for (const nlohmann::json& r : doc["points"])
    if (r.is_object() && r.value("status", "") == "done" && r.contains("id") && r.contains("test_accuracy") &&
        r.contains("memory_floats"))
      out[r["id"].get<std::string>()] = r;
  return out;
}

// Writes results.json, results.md and the SVG plots from the points' records.
void write_results(const Suite& suite, const RunnerOptions& opt, const std::vector<Point>& points,
                   const std::vector<nlohmann::json>& records, const std::string& command) {
  std::vector<Aggregate> aggs;
  for (std::size_t i = 0; i < points.size(); ++i) {
    const nlohmann::json& r = records[i];
    if (r.value("status", "") != "done") continue;
    auto it = std::find_if(aggs.begin(), aggs.end(), [&](const Aggregate& a) {
      return a.series == points[i].series && a.x_label == points[i].x_label;
    });
    if (it == aggs.end()) {
      aggs.push_back({points[i].series, points[i].x_label, points[i].x_value, {}, 0});
      it = aggs.end() - 1;
    }
    it->memory_floats = (it->memory_floats * double(it->acc.size()) + r["memory_floats"].get<double>()) / double(it->acc.size() + 1);
    it->acc.push_back(r["test_accuracy"].get<double>());
  }
  // results.json
  nlohmann::json aggregated = nlohmann::json::array();
  for (const Aggregate& a : aggs)
    aggregated.push_back({{"series", a.series}, {"x", a.x_label}, {"x_value", a.x_value}, {"n_seeds", a.acc.size()},
                          {"test_accuracy_mean", a.mean()}, {"test_accuracy_std", a.std()},
                          {"memory_floats", a.memory_floats}});
  const nlohmann::json doc = {{"suite", suite.name}, {"suite_file", suite.file}, {"base", suite.base},
                              {"command", command},  {"points", records},      {"aggregated", aggregated}};
  write_file_atomic(opt.out_dir + "/results.json", doc.dump(2) + "\n");

  // results.md: one row per series, one column per x.
  std::vector<std::string> x_labels;
  for (const Point& p : points)
    if (std::find(x_labels.begin(), x_labels.end(), p.x_label) == x_labels.end()) x_labels.push_back(p.x_label);
  if (!suite.compressions.empty())
    std::stable_sort(x_labels.begin(), x_labels.end(), [](const std::string& a, const std::string& b) {
      return std::atof(a.c_str()) < std::atof(b.c_str());
    });
  std::ostringstream md;
  md << "# Suite " << suite.name << "\n\n" << suite.description << "\n\nCommand: `" << command << "`. Test accuracy (%), "
     << "mean +- sample std over seeds (number of seeds); base config `" << suite.base << "`.\n\n";
  // One row per series, one column per x label; `cell` writes an aggregate's entry.
  const auto table = [&](const std::function<std::string(const Aggregate&)>& cell) {
    md << "| series |";
    for (const std::string& x : x_labels) md << " " << x << " |";
    md << "\n|---|";
    for (std::size_t i = 0; i < x_labels.size(); ++i) md << "---|";
    md << "\n";
    for (const SeriesSpec& s : suite.series) {
      md << "| " << s.name << " |";
      for (const std::string& x : x_labels) {
        auto it = std::find_if(aggs.begin(), aggs.end(), [&](const Aggregate& a) { return a.series == s.name && a.x_label == x; });
        md << " " << (it == aggs.end() ? std::string() : cell(*it)) << " |";
      }
      md << "\n";
    }
  };
  table([&](const Aggregate& a) {
    return pct(a.mean()) + " +- " + pct(a.std()) + " (" + std::to_string(a.acc.size()) + ")";
  });
  md << "\nMemory floats (mean over seeds) per series and column:\n\n";
  table([&](const Aggregate& a) { return fmt("%.0f", a.memory_floats); });
  std::size_t n_done = 0, n_failed = 0;
  for (const nlohmann::json& r : records) {
    n_done += r.value("status", "") == "done";
    n_failed += r.value("status", "") == "error";
  }
  md << "\nPoints: " << n_done << " of " << points.size() << " done";
  if (n_failed) md << ", " << n_failed << " failed (see results.json)";
  md << ".\n";
  bool any_narrowed = false;
  for (std::size_t i = 0; i < points.size(); ++i)
    if (!points[i].narrowed.is_null() && points[i].seed == suite.seeds.front()) {
      if (!any_narrowed) md << "\ndense-smaller widths: ";
      md << (any_narrowed ? "; " : "") << points[i].x_label << " " << points[i].narrowed.dump();
      any_narrowed = true;
    }
  if (any_narrowed) md << "\n";
  write_file_atomic(opt.out_dir + "/results.md", md.str());

  // Accuracy plot.
  PlotSpec spec;
  std::vector<PlotSeries> lines;
  const bool by_memory = !suite.compressions.empty();
  bool log_x = by_memory;
  if (!by_memory) {
    double lo = 1e300, hi = 0;
    for (const Aggregate& a : aggs) lo = std::min(lo, a.x_value), hi = std::max(hi, a.x_value);
    log_x = lo > 0 && hi / lo >= 10;
  }
  for (const SeriesSpec& s : suite.series) {
    PlotSeries line{s.name, {}, by_memory && s.kind == "dense"};
    std::vector<const Aggregate*> mine;
    for (const Aggregate& a : aggs)
      if (a.series == s.name) mine.push_back(&a);
    std::sort(mine.begin(), mine.end(), [&](const Aggregate* a, const Aggregate* b) {
      return (by_memory ? a->memory_floats : a->x_value) < (by_memory ? b->memory_floats : b->x_value);
    });
    for (const Aggregate* a : mine) line.points.push_back({by_memory ? a->memory_floats : a->x_value, 100 * a->mean(), 100 * a->std()});
    lines.push_back(line);
  }
  spec.title = suite.name + ": test accuracy (mean +- std over " + std::to_string(suite.seeds.size()) + " seeds)";
  spec.x_label = by_memory ? "memory floats (parameters stored)" : suite.sweep_key;
  spec.y_label = "test accuracy (%)";
  spec.log_x = log_x;
  const std::string plot_name = by_memory ? "accuracy_vs_memory.svg" : "accuracy_vs_sweep.svg";
  write_file_atomic(opt.out_dir + "/" + plot_name, svg_line_chart(spec, lines));

  // Training curves: validation accuracy per evaluation, first seed, at one x.
  std::string at = suite.curves_at ? *suite.curves_at : (x_labels.empty() ? "" : x_labels[x_labels.size() / 2]);
  std::vector<PlotSeries> curves;
  for (const SeriesSpec& s : suite.series) {
    PlotSeries c{s.name, {}, false};
    for (std::size_t i = 0; i < points.size(); ++i) {
      const Point& p = points[i];
      if (p.series != s.name || p.seed != suite.seeds.front() || (p.x_label != at && !(p.kind == "dense" && by_memory))) continue;
      for (const nlohmann::json& e : records[i].value("curve", nlohmann::json::array()))
        c.points.push_back({e[0].get<double>(), 100 * e[1].get<double>(), 0});
    }
    if (s.kind == "dense" && by_memory) c.name += " (1x)";
    curves.push_back(c);
  }
  PlotSpec cs;
  cs.title = suite.name + ": validation accuracy during training at " + at + " (seed " + std::to_string(suite.seeds.front()) + ")";
  cs.x_label = "epoch";
  cs.y_label = "validation accuracy (%)";
  write_file_atomic(opt.out_dir + "/training_curves.svg", svg_line_chart(cs, curves));
}

// CI: with more memory a series is never worse by more than max_drop.
int check_shape(const Suite& suite, const RunnerOptions& opt) {
  std::ifstream in(opt.out_dir + "/results.json");
  const nlohmann::json doc = nlohmann::json::parse(in);
  int failures = 0;
  for (const SeriesSpec& s : suite.series) {
    std::vector<std::pair<double, double>> pts;  // memory, accuracy
    for (const nlohmann::json& a : doc["aggregated"])
      if (a["series"] == s.name) pts.push_back({a["memory_floats"].get<double>(), a["test_accuracy_mean"].get<double>()});
    for (const auto& big : pts)
      for (const auto& small : pts)
        if (big.first > small.first && big.second < small.second - *suite.check_max_drop) {
          std::fprintf(stderr, "check: series %s: %.0f floats give %.2f%%, worse than %.2f%% with %.0f floats by more than %.1f points\n",
                       s.name.c_str(), big.first, 100 * big.second, 100 * small.second, small.first, 100 * *suite.check_max_drop);
          ++failures;
        }
  }
  if (failures == 0)
    std::fprintf(stderr, "check: every series is at most %.1f points worse with more memory: passed\n", 100 * *suite.check_max_drop);
  return failures == 0 ? 0 : 3;
}
}  // namespace

int run_experiment_suite(const Suite& suite_in, const RunnerOptions& options) {
  RunnerOptions opt = options;
  Suite suite = suite_in;
  if (opt.max_seeds > 0 && suite.seeds.size() > opt.max_seeds) suite.seeds.resize(opt.max_seeds);
  if (opt.out_dir.empty()) opt.out_dir = "runs/reproduce/" + suite.name;
  fs::create_directories(opt.out_dir + "/configs");
  std::string command = "roast-train reproduce " + suite.name;
  if (!opt.device.empty()) command += " --device " + opt.device;
  for (const std::string& o : opt.overrides) command += " --set " + o;
  SuitePlanner planner{suite, opt, opt.out_dir + "/configs", {}};
  const std::vector<Point> points = planner.points();  // bad input fails here, before any run
  fs::remove(opt.out_dir + "/configs/.probe.json");
  if (opt.dry_run) {
    for (const Point& p : points)
      std::printf("%-40s %s%s\n", p.id.c_str(), fs::exists(p.run_dir + "/summary.json") ? "done" : "to run",
                  p.narrowed.is_null() ? "" : (" widths " + p.narrowed.dump()).c_str());
    std::printf("%zu points\n", points.size());
    return 0;
  }
  std::vector<nlohmann::json> records(points.size());
  for (std::size_t i = 0; i < points.size(); ++i)
    records[i] = {{"id", points[i].id}, {"series", points[i].series}, {"x", points[i].x_label},
                  {"x_value", points[i].x_value}, {"seed", points[i].seed}, {"run_dir", points[i].run_dir},
                  {"status", "pending"}};
  const std::map<std::string, nlohmann::json> earlier = imported_points(opt.import_from, suite);
  const auto started = std::chrono::steady_clock::now();
  std::size_t n_skipped = 0, n_run = 0, n_imported = 0;
  // A point's record from its run folder (summary.json, metrics.jsonl), then the results.
  const auto collect = [&](std::size_t i) {
    const Point& p = points[i];
    const std::string summary = p.run_dir + "/summary.json";
    if (fs::exists(summary)) {
      std::ifstream in(summary);
      const nlohmann::json s = nlohmann::json::parse(in);
      records[i]["status"] = "done";
      for (const char* key : {"test_accuracy", "val_accuracy", "memory_floats", "virtual_params", "compression",
                              "train_seconds", "samples_per_second", "steps"})
        if (s.contains(key)) records[i][key] = s[key];
      if (!p.narrowed.is_null()) records[i]["widths"] = p.narrowed;
      records[i]["curve"] = read_curve(p.run_dir);
    }
    write_results(suite, opt, points, records, command);
  };
  std::vector<std::size_t> to_run;
  for (std::size_t i = 0; i < points.size(); ++i) {
    const Point& p = points[i];
    records[i]["config_hash"] = config_hash(p.config);
    if (fs::exists(p.run_dir + "/summary.json")) {
      ++n_skipped;
      collect(i);
      continue;
    }
    const auto from = earlier.find(p.id);
    if (from != earlier.end()) {
      // Records written before config hashes were kept carry none and are taken by id.
      if (from->second.value("config_hash", records[i]["config_hash"].get<std::string>()) == records[i]["config_hash"]) {
        records[i] = from->second;
        records[i]["run_dir"] = p.run_dir;
        records[i]["config_hash"] = config_hash(p.config);
        ++n_imported;
        write_results(suite, opt, points, records, command);
        continue;
      }
      std::fprintf(stderr, "reproduce: %s: its config changed since %s was written; running it again\n", p.id.c_str(),
                   opt.import_from.c_str());
    }
    to_run.push_back(i);
  }
  const auto budget_left = [&] {
    const double minutes = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count() / 60;
    return opt.budget_minutes <= 0 || minutes < opt.budget_minutes;
  };
  const auto failed = [&](std::size_t i, const std::string& why) {
    std::fprintf(stderr, "error: %s: %s\n", points[i].id.c_str(), why.c_str());
    records[i]["status"] = "error";
    records[i]["error"] = why;
  };
  // Every point trains in this process (--jobs 1) or in a child process of its own, with
  // its output in RUN_DIR/train.log and the threads split among the children.
  std::map<std::string, std::string> child_env;
  if (std::getenv("OMP_NUM_THREADS") == nullptr && opt.jobs > 1)
    child_env["OMP_NUM_THREADS"] = std::to_string(std::max(1u, std::thread::hardware_concurrency() / unsigned(opt.jobs)));
  std::map<pid_t, std::size_t> running;
  std::size_t next = 0;
  while (true) {
    while (next < to_run.size() && running.size() < opt.jobs && budget_left()) {
      const std::size_t i = to_run[next++];
      const Point& p = points[i];
      write_file_atomic(p.config_file, p.config.dump(2) + "\n");
      const bool resume = fs::exists(p.run_dir + "/last.ckpt");
      std::fprintf(stderr, "== [%zu/%zu] %s%s\n", i + 1, points.size(), p.id.c_str(), resume ? " (resuming)" : "");
      if (opt.jobs > 1) {
        fs::create_directories(p.run_dir);
        std::vector<std::string> args{"train", "--config", p.config_file, "--out", p.run_dir, "--quiet"};
        if (resume) args.push_back("--resume");
        running[start_self(args, p.run_dir + "/train.log", child_env)] = i;
        continue;
      }
      TrainOptions t;
      t.config_path = p.config_file;
      t.out_dir = p.run_dir;
      t.resume = resume;
      try {
        train(t);
        ++n_run;
      } catch (const Error& e) {  // one failed point (e.g. absent data) does not stop the suite
        failed(i, e.what());
      }
      collect(i);
    }
    if (running.empty()) break;  // everything ran, or the budget is spent
    const ChildExit done = wait_any_child();
    const auto it = running.find(done.pid);
    if (it == running.end()) continue;
    const std::size_t i = it->second;
    running.erase(it);
    const std::string log = points[i].run_dir + "/train.log";
    if (done.code == 0) ++n_run;
    else failed(i, "exit " + std::to_string(done.code) + ": " + last_error_line(log) + " (log " + log + ")");
    collect(i);
    if (records[i]["status"] == "done")
      std::fprintf(stderr, "   %s: test accuracy %.2f%% (%zu running)\n", points[i].id.c_str(),
                   100 * records[i]["test_accuracy"].get<double>(), running.size());
  }
  std::size_t n_pending = 0;
  for (const nlohmann::json& r : records) n_pending += r["status"] == "pending";
  std::fprintf(stderr, "suite %s: %zu points run now, %zu already finished, %zu imported, %zu pending; results in %s/results.md\n",
               suite.name.c_str(), n_run, n_skipped, n_imported, n_pending, opt.out_dir.c_str());
  std::ifstream md(opt.out_dir + "/results.md");
  std::printf("%s", std::string(std::istreambuf_iterator<char>(md), {}).c_str());
  if (suite.check_max_drop && n_pending == 0) return check_shape(suite, opt);
  return 0;
}

void list_suites(const std::string& suites_dir) {
  if (!fs::is_directory(suites_dir)) fail("reproduce --list: no folder ", suites_dir, "; pass --suites DIR");
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(suites_dir))
    if (e.path().extension() == ".json") files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  std::printf("%-22s %7s %10s %10s  %s\n", "suite", "points", "CPU (h)", "GPU (min)", "description");
  for (const std::string& f : files) {
    try {
      const Suite s = load_suite(f);
      std::size_t n_x = s.compressions.empty() ? s.sweep_values.size() : s.compressions.size(), n = 0;
      for (const SeriesSpec& series : s.series)
        n += series.kind == "dense" && !s.compressions.empty() ? 1
             : series.kind == "dense-smaller"                  ? s.dense_smaller_compressions.size()
                                                                : n_x;
      n *= s.seeds.size();
      std::printf("%-22s %7zu %10s %10s  %s\n", s.name.c_str(), n,
                  s.minutes_cpu > 0 ? fmt("%.1f", double(n) * s.minutes_cpu / 60).c_str() : "-",
                  s.minutes_cuda > 0 ? fmt("%.0f", double(n) * s.minutes_cuda).c_str() : "-", s.description.substr(0, 70).c_str());
    } catch (const Error& e) {
      std::printf("%-22s invalid: %s\n", fs::path(f).stem().string().c_str(), e.what());
    }
  }
  std::printf("Run one with: roast-train reproduce SUITE [--device cuda] (finished points are skipped, stopped ones resumed)\n");
}

}  // namespace cli
}  // namespace roast
