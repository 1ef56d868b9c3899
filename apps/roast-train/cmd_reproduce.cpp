// `roast-train reproduce SUITE`: an experiment suite (configs/suites/SUITE.json, suite.h)
// with its sweeps, tables and plots; or, for a folder configs/SUITE/, every config in turn
// and one table (the older form, kept for the per-dataset folders).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "roast/checkpoint.h"
#include "roast/error.h"
#include "roast/trainer.h"
#include "suite.h"

namespace roast {
namespace cli {
namespace fs = std::filesystem;
namespace {

struct ReproduceOptions {
  std::string import_from;
  std::string suite, configs_dir = "configs", out_dir = "runs/reproduce", suites_dir = "configs/suites", device;
  std::vector<std::string> overrides;
  bool resume = false, list = false;
  bool out_given = false;
  double budget_minutes = 0;
  std::size_t max_seeds = 0, jobs = 1;
  bool dry_run = false;
};

std::vector<std::string> suite_configs(const ReproduceOptions& o) {
  const fs::path dir = fs::path(o.configs_dir) / o.suite;
  if (!fs::is_directory(dir)) {
    std::string suites;
    if (fs::is_directory(o.configs_dir))
      for (const auto& e : fs::directory_iterator(o.configs_dir))
        if (e.is_directory()) suites += (suites.empty() ? "" : ", ") + e.path().filename().string();
    fail("reproduce: no suite \"", o.suite, "\" in ", o.configs_dir, "/; suites: ", suites.empty() ? "(none)" : suites);
  }
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (e.path().extension() == ".json" && name.find("base") == std::string::npos) files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

void run_suite(const ReproduceOptions& o) {
  const std::vector<std::string> configs = suite_configs(o);
  nlohmann::json rows = nlohmann::json::array();
  std::string table = "| config | test accuracy | val accuracy | compression | memory floats | samples/s | train s |\n"
                      "|---|---|---|---|---|---|---|\n";
  int failures = 0;
  for (const std::string& config : configs) {
    const std::string stem = fs::path(config).stem().string();
    TrainOptions t;
    t.config_path = config;
    t.overrides = o.overrides;
    t.out_dir = o.out_dir + "/" + o.suite + "/" + stem;
    t.resume = o.resume && fs::exists(t.out_dir + "/last.ckpt");
    std::fprintf(stderr, "== %s\n", config.c_str());
    try {
      const TrainSummary s = train(t);
      char line[512];
      std::snprintf(line, sizeof line, "| %s | %.2f%% | %.2f%% | %.1fx | %lld | %.0f | %.0f |\n", stem.c_str(),
                    100.0 * s.test_accuracy, 100.0 * s.val_accuracy, s.compression, (long long)s.memory_floats,
                    s.samples_per_second, s.train_seconds);
      table += line;
      rows.push_back({{"config", config}, {"run_dir", s.run_dir}, {"test_accuracy", s.test_accuracy},
                      {"val_accuracy", s.val_accuracy}, {"compression", s.compression},
                      {"memory_floats", s.memory_floats}, {"samples_per_second", s.samples_per_second},
                      {"train_seconds", s.train_seconds}});
    } catch (const Error& e) {  // one bad run (e.g. absent data) does not stop the suite
      ++failures;
      std::fprintf(stderr, "error: %s\n", e.what());
      table += "| " + stem + " | not run: " + std::string(e.what()).substr(0, 120) + " | | | | | |\n";
      rows.push_back({{"config", config}, {"error", e.what()}});
    }
  }
  fs::create_directories(o.out_dir + "/" + o.suite);
  write_file_atomic(o.out_dir + "/" + o.suite + "/results.md", table);
  write_file_atomic(o.out_dir + "/" + o.suite + "/results.json", rows.dump(2) + "\n");
  std::printf("%s\nresults: %s/%s/results.md\n", table.c_str(), o.out_dir.c_str(), o.suite.c_str());
  if (failures > 0) fail("reproduce: ", failures, " of ", configs.size(), " runs did not run (see above)");
}
}  // namespace

void add_reproduce_command(CLI::App& app) {
  auto o = std::make_shared<ReproduceOptions>();
  CLI::App* cmd = app.add_subcommand("reproduce", "Run every config of a suite (configs/SUITE/) and tabulate the results");
  cmd->add_option("suite", o->suite, "A suite of configs/suites/ (see --list), a suite file, or a folder of configs/");
  cmd->add_flag("--list", o->list, "List the suites with their points and estimated CPU and GPU time");
  cmd->add_option("--suites", o->suites_dir, "Folder of suite files (default configs/suites)");
  cmd->add_option("--configs", o->configs_dir, "Folder holding the config folders (folder form)");
  cmd->add_option("--out", o->out_dir, "Where the runs and results go (suite files: default runs/reproduce/SUITE)");
  cmd->add_option("--device", o->device, "cpu or cuda: the device of every point")->check(CLI::IsMember({"cpu", "cuda"}));
  cmd->add_option("--set", o->overrides, "Override a key in every run, e.g. --set train.epochs=1");
  cmd->add_option("--budget-minutes", o->budget_minutes, "Suite files: start no new point after this many minutes");
  cmd->add_option("--max-seeds", o->max_seeds, "Suite files: run only the first N seeds (a later call can add the rest)");
  cmd->add_option("--jobs", o->jobs,
                  "Suite files: train N points at once, each in its own process with its output in RUN_DIR/train.log "
                  "(the cores are split among them; small models share one GPU)")
      ->check(CLI::Range(1, 64));
  cmd->add_option("--import", o->import_from,
                  "Suite files: a results.json of an earlier sitting (e.g. docs/results/SUITE/results.json); its finished "
                  "points with an unchanged config are kept, not run again");
  cmd->add_flag("--dry-run", o->dry_run, "Suite files: plan and list the points (dense-smaller widths included), run nothing");
  cmd->add_flag("--resume", o->resume, "Continue runs that have a last.ckpt (suite files always skip finished points and resume stopped ones)");
  cmd->callback([o, cmd] {
    if (o->list) return list_suites(o->suites_dir);
    if (o->suite.empty()) fail("reproduce: name a suite (roast-train reproduce --list shows them)");
    std::string file = o->suite;
    if (fs::path(file).extension() != ".json") file = o->suites_dir + "/" + o->suite + ".json";
    if (fs::is_regular_file(file)) {
      RunnerOptions r;
      r.suites_dir = o->suites_dir;
      r.out_dir = cmd->count("--out") ? o->out_dir : "";
      r.device = o->device;
      r.overrides = o->overrides;
      r.budget_minutes = o->budget_minutes;
      r.max_seeds = o->max_seeds;
      r.jobs = o->jobs;
      r.dry_run = o->dry_run;
      r.import_from = o->import_from;
      const int code = run_experiment_suite(load_suite(file), r);
      if (code != 0) throw CLI::RuntimeError(code);
      return;
    }
    if (o->jobs > 1) fail("reproduce --jobs: only suite files (configs/suites/) run points at once; ", o->suite,
                          " is a folder of configs. Drop --jobs");
    if (!o->device.empty()) o->overrides.push_back("device=" + o->device);
    run_suite(*o);
  });
}

}  // namespace cli
}  // namespace roast
