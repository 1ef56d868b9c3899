// Experiment suites for `roast-train reproduce`: a suite file (configs/suites/NAME.json)
// declares a base config and its axes (series x compressions or a swept key, x seeds); the
// runner expands them into points, runs each point as one training run in its own folder,
// skips finished points, resumes stopped ones, and writes results.json, results.md and SVG
// plots after every point. docs/reproducing.md describes the file format.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace roast {
namespace cli {

// One line of a plot: a built-in kind (dense, roast, roast-fold, roast-local, hashednet,
// dense-smaller) plus optional extra keys ("like" + "set" in the file).
struct SeriesSpec {
  std::string name, kind;
  nlohmann::json set = nlohmann::json::object();  // "a.b" -> value
};

struct Suite {
  std::string name, file, description, base;  // base: path of the base config
  nlohmann::json set = nlohmann::json::object();
  std::vector<SeriesSpec> series;
  std::vector<double> compressions;         // the x axis of memory-accuracy suites, or
  std::string sweep_key;                    // a swept key (e.g. memory.init_scale) with
  std::vector<nlohmann::json> sweep_values;  // its values
  std::vector<std::int64_t> seeds;
  std::vector<std::string> widths;          // dense-smaller: integer keys scaled together
  std::map<std::string, std::int64_t> multiple_of;
  std::int64_t min_width = 1;
  std::vector<double> dense_smaller_compressions;  // default: every compression > 1
  double minutes_cpu = 0, minutes_cuda = 0;        // per point
  std::optional<double> check_max_drop;            // CI: more memory never worse by more than this
  std::optional<std::string> curves_at;            // x label of the training-curve plot
};

// Reads and validates a suite file; bad input throws roast::Error naming the suite, the key
// and the fix (exit 2).
Suite load_suite(const std::string& path);

struct RunnerOptions {
  std::string suites_dir = "configs/suites", out_dir, device;
  std::vector<std::string> overrides;
  double budget_minutes = 0;  // 0: no limit; else start no new point after this long
  std::size_t max_seeds = 0;  // 0: every seed of the suite; else only the first max_seeds
  std::size_t jobs = 1;       // points trained at once; above 1 each in a child process (train.log)
  bool dry_run = false;       // plan and print the points (dense-smaller widths included), run nothing
  // results.json of an earlier sitting (e.g. the committed docs/results/SUITE/results.json):
  // its finished points whose config is unchanged count as done and are not run again.
  std::string import_from;
};

// Runs (or resumes) every point and writes the results; returns the exit code (0, or 3 when
// the suite's check fails).
int run_experiment_suite(const Suite& suite, const RunnerOptions& options);

// `reproduce --list`: every suite file with its points and estimated time.
void list_suites(const std::string& suites_dir);

}  // namespace cli
}  // namespace roast
