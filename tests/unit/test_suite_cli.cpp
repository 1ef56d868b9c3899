// `roast-train reproduce` with suite files: a tiny suite runs, writes results.json,
// results.md and the SVG plots, skips finished points on a second call; bad suite files exit
// 2 naming the suite, the key and the fix, and never touch finished points.
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "support/catch.h"
#include "unit/cli_support.h"

namespace fs = std::filesystem;
using cli_support::Fixture;
using cli_support::run;

namespace {
std::string write_suite(const Fixture& f, const std::string& name, nlohmann::json suite) {
  suite["base"] = f.config();
  const std::string path = f.out(name + ".json");
  std::ofstream(path) << suite.dump(2);
  return path;
}

nlohmann::json good_suite() {
  return {{"description", "test"},
          {"set", {{"train.epochs", 1}}},
          {"series", {"dense", "roast", "roast-fold", "dense-smaller",
                      {{"name", "roast+gs"}, {"like", "roast"}, {"set", {{"optimizer.grad_scaling", true}}}}}},
          {"compressions", {1, 4}},
          {"seeds", {1}},
          {"dense_smaller", {{"widths", {"model.hidden.0"}}}},
          {"minutes_per_point", {{"cpu", 0.01}}},
          {"check", {{"max_drop", 0.5}}}};
}
}  // namespace

TEST_CASE("reproduce: a suite file runs, plots, and skips finished points", "[cli][suite]") {
  Fixture f("suite_run");
  const std::string suite = write_suite(f, "tiny-suite", good_suite());
  const std::string out = f.out("results");
  const auto first = run("reproduce " + suite + " --out " + out);
  INFO(first.output);
  REQUIRE(first.code == 0);
  std::ifstream in(out + "/results.json");
  const nlohmann::json results = nlohmann::json::parse(in);
  REQUIRE(results["points"].size() == 8);  // dense 1x, roast, fold, roast+gs at 1x 4x, dense-smaller 4x
  for (const auto& p : results["points"]) CHECK(p["status"] == "done");
  for (const auto& p : results["points"])
    if (p["series"] == "dense-smaller") CHECK(p["memory_floats"].get<double>() <= p["virtual_params"].get<double>());
  CHECK(fs::exists(out + "/results.md"));
  CHECK(cli_support::read_file(out + "/accuracy_vs_memory.svg").find("<svg") == 0);
  CHECK(fs::exists(out + "/training_curves.svg"));
  CHECK(first.output.find("check: every series") != std::string::npos);

  const auto second = run("reproduce " + suite + " --out " + out);
  INFO(second.output);
  CHECK(second.code == 0);
  CHECK(second.output.find("0 points run now, 8 already finished") != std::string::npos);

  // A later sitting without the run folders (a fresh clone) continues from the committed
  // results.json: every finished point is imported with its accuracy and training curve.
  const std::string fresh = f.out("fresh");
  const auto imported = run("reproduce " + suite + " --out " + fresh + " --import " + out + "/results.json");
  INFO(imported.output);
  CHECK(imported.code == 0);
  CHECK(imported.output.find("0 points run now, 0 already finished, 8 imported") != std::string::npos);
  std::ifstream in2(fresh + "/results.json");
  const nlohmann::json again = nlohmann::json::parse(in2);
  REQUIRE(again["points"].size() == results["points"].size());
  for (std::size_t i = 0; i < again["points"].size(); ++i) {
    CHECK(again["points"][i]["test_accuracy"] == results["points"][i]["test_accuracy"]);
    CHECK(again["points"][i]["curve"] == results["points"][i]["curve"]);
  }
  CHECK(!results["points"][0]["curve"].empty());
  // A changed config is run again, not imported.
  const auto changed = run("reproduce " + suite + " --out " + f.out("changed") + " --import " + out +
                           "/results.json --set optimizer.lr=0.02");
  INFO(changed.output);
  CHECK(changed.output.find("config changed since") != std::string::npos);
  CHECK(changed.output.find("8 points run now, 0 already finished, 0 imported") != std::string::npos);
  // An import of another suite's results is bad input.
  std::ofstream(f.out("other.json")) << R"({"suite": "other", "points": []})";
  const auto wrong = run("reproduce " + suite + " --out " + fresh + " --import " + f.out("other.json"));
  CHECK(wrong.code == 2);
  CHECK(wrong.output.find("holds suite \"other\"") != std::string::npos);

  // Bad input: exit 2, a message naming the suite, the key and the fix; the runs stay.
  const auto bad = [&](const std::string& name, nlohmann::json s, const std::vector<std::string>& fragments) {
    const auto r = run("reproduce " + write_suite(f, name, s) + " --out " + out);
    INFO(r.output);
    CHECK(r.code == 2);
    CHECK(r.output.find("suite " + name) != std::string::npos);
    for (const std::string& fragment : fragments) CHECK(r.output.find(fragment) != std::string::npos);
    CHECK(fs::exists(out + "/roast/4x/s1/summary.json"));
  };
  nlohmann::json s = good_suite();
  s["sizes"] = {1, 2};
  bad("unknown-axis", s, {"`sizes`", "unknown axis", "Fix: use one of"});
  s = good_suite();
  s["compressions"] = {1, 0.5};
  bad("low-compression", s, {"`compressions[1]`", "below 1", "Fix:"});
  s = good_suite();
  s["series"] = {"roast", "roast-global"};
  bad("unknown-series", s, {"`series[1]`", "roast-global", "roast-fold"});
  s = good_suite();
  s["dense_smaller"]["min"] = 100000;
  bad("too-wide", s, {"`dense_smaller`", "Fix:"});
  s = good_suite();
  s["dense_smaller"]["widths"] = {"model.hidden.0", "data.validation_fraction"};
  bad("not-integer", s, {"`dense_smaller.widths`", "data.validation_fraction"});
}

TEST_CASE("reproduce --jobs trains points in child processes with the results of one process", "[cli][suite]") {
  Fixture f("suite_jobs");
  nlohmann::json s = good_suite();
  s["series"] = {"dense", "roast", "roast-fold", {{"name", "broken"}, {"like", "roast"}, {"set", {{"train.batch_size", 0}}}}};
  s.erase("check");
  const std::string suite = write_suite(f, "jobs-suite", s);
  // One thread per process either way, so that both runs compute the same numbers.
  const auto one = run("reproduce " + suite + " --out " + f.out("one"), "OMP_NUM_THREADS=1");
  INFO(one.output);
  REQUIRE(one.code == 0);
  const auto three = run("reproduce " + suite + " --jobs 3 --out " + f.out("three"), "OMP_NUM_THREADS=1");
  INFO(three.output);
  REQUIRE(three.code == 0);
  CHECK(three.output.find("5 points run now") != std::string::npos);
  const nlohmann::json a = nlohmann::json::parse(cli_support::read_file(f.out("one") + "/results.json"));
  const nlohmann::json b = nlohmann::json::parse(cli_support::read_file(f.out("three") + "/results.json"));
  REQUIRE(a["points"].size() == 7);
  REQUIRE(b["points"].size() == 7);
  for (std::size_t i = 0; i < a["points"].size(); ++i) {
    const nlohmann::json &pa = a["points"][i], &pb = b["points"][i];
    INFO(pa["id"]);
    CHECK(pa["status"] == pb["status"]);
    if (pa["series"] == "broken") {  // a failed point is reported with its error in both forms
      CHECK(pa["status"] == "error");
      CHECK(pb["error"].get<std::string>().find("batch_size") != std::string::npos);
      CHECK(pb["error"].get<std::string>().find("train.log") != std::string::npos);
      continue;
    }
    CHECK(pb["status"] == "done");
    CHECK(pa["test_accuracy"] == pb["test_accuracy"]);
    CHECK(pa["curve"] == pb["curve"]);
    CHECK(fs::exists(pb["run_dir"].get<std::string>() + "/train.log"));
  }
  // --jobs applies to suite files only, and N must be at least 1.
  CHECK(run("reproduce " + suite + " --jobs 0 --out " + f.out("zero")).code == 2);
}

TEST_CASE("reproduce --list shows the shipped suites with their estimates", "[cli][suite]") {
  const auto r = run(std::string("reproduce --list --suites ") + ROAST_SOURCE_DIR + "/configs/suites");
  INFO(r.output);
  CHECK(r.code == 0);
  CHECK(r.output.find("ci-cpu") != std::string::npos);
  CHECK(r.output.find("invalid") == std::string::npos);
}
