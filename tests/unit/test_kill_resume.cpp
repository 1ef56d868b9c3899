// kill -9 at several points of a small run (inside a step; inside a checkpoint write,
// between the complete temporary file and its rename; at random times), then a restart
// (--resume when last.ckpt exists, else a fresh start): the final metrics, summary and
// last.ckpt must equal those of an uninterrupted run bit for bit (CPU, fixed threads).
#include <signal.h>

#include <random>
#include <thread>

#include "cli_support.h"
#include "roast/checkpoint.h"
#include "support/catch.h"

using namespace cli_support;

namespace {
// metrics.jsonl without the timing fields.
std::vector<nlohmann::json> metrics_of(const fs::path& run) {
  std::vector<nlohmann::json> rows;
  std::ifstream in(run / "metrics.jsonl");
  for (std::string line; std::getline(in, line);) {
    nlohmann::json m = nlohmann::json::parse(line);
    m.erase("train_seconds"), m.erase("samples_per_second");
    rows.push_back(m);
  }
  return rows;
}

struct Outcome {
  std::vector<nlohmann::json> metrics;
  double test_accuracy = -1, test_loss = -1;
  std::vector<float> memory;
};

Outcome outcome_of(const fs::path& run) {
  Outcome o;
  o.metrics = metrics_of(run);
  const nlohmann::json s = nlohmann::json::parse(std::ifstream(run / "summary.json"));
  o.test_accuracy = s["test_accuracy"], o.test_loss = s["test_loss"];
  o.memory = roast::load_checkpoint((run / "last.ckpt").string()).tensor("memory").to_vector();
  return o;
}

// Restarts until the run completes (at most 3 times); returns the restarts needed.
int finish(const Fixture& f, const std::string& name, const std::string& extra) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    const bool resume = fs::exists(f.dir / name / "last.ckpt");
    const Result r = run(f.train(name, extra + (resume ? " --resume" : "")));
    INFO(r.output);
    if (r.code == 0) return attempt + 1;
    REQUIRE(r.code == 0);
  }
  return -1;
}

void require_same(const Outcome& a, const Outcome& b) {
  REQUIRE(a.metrics.size() == b.metrics.size());
  for (std::size_t i = 0; i < a.metrics.size(); ++i) {
    INFO("metrics row " << i << ": " << a.metrics[i].dump() << " vs " << b.metrics[i].dump());
    CHECK(a.metrics[i] == b.metrics[i]);
  }
  CHECK(a.test_accuracy == b.test_accuracy);
  CHECK(a.test_loss == b.test_loss);
  CHECK(a.memory == b.memory);  // bitwise
}
}  // namespace

TEST_CASE("kill -9 during steps and checkpoint writes loses nothing: resumed runs match an uninterrupted one bitwise",
          "[kill][cli]") {
  Fixture f("kill");
  const std::string extra = "--set train.eval_every=4";
  REQUIRE(run(f.train("reference", extra)).code == 0);
  const Outcome reference = outcome_of(f.dir / "reference");
  REQUIRE(reference.metrics.size() >= 7);

  // Deterministic kill points: inside steps 1, 6, 17 and 29; inside the 2nd, 4th, 7th, 10th
  // and 13th atomic writes (resolved_config.json, metrics.jsonl, best.ckpt, last.ckpt, ...).
  const std::vector<std::string> points = {"step:1", "step:6", "step:17", "step:29", "write:2",
                                           "write:4", "write:7", "write:10", "write:13"};
  int killed = 0, matched = 0;
  for (std::size_t i = 0; i < points.size(); ++i) {
    const std::string name = "crash" + std::to_string(i);
    const Result r = run(f.train(name, extra), "ROAST_CRASH_AT=" + points[i]);
    INFO(points[i] << "\n" << r.output);
    REQUIRE(r.code == -SIGKILL);
    ++killed;
    finish(f, name, extra);
    require_same(reference, outcome_of(f.dir / name));
    ++matched;
    for (const auto& entry : fs::directory_iterator(f.dir / name))
      CHECK(entry.path().filename().string().find(".tmp.") == std::string::npos);
  }
  // Random times (a seeded delay); a run that finished first still counts as a trial.
  std::mt19937 rng(28);
  int timed_kills = 0;
  for (int t = 0; t < 3; ++t) {
    const std::string name = "timed" + std::to_string(t);
    const int delay_ms = 5 + int(rng() % 40);  // a whole run takes some tens of ms
    const std::string cmd = "( " + std::string(ROAST_TRAIN_EXE) + " " + f.train(name, extra) + " > /dev/null 2>&1 & pid=$!; sleep " +
                            std::to_string(delay_ms / 1000.0) + "; kill -9 $pid 2>/dev/null; wait $pid )";
    const int status = std::system(cmd.c_str());
    (void)status;
    const bool interrupted = !fs::exists(f.dir / name / "summary.json") || !read_file(f.dir / name / ".lock").empty();
    timed_kills += interrupted;
    if (interrupted) finish(f, name, extra);
    require_same(reference, outcome_of(f.dir / name));
    ++matched;
  }
  std::printf("kill -9 trials: %d at fixed points (all killed), 3 at random times (%d killed mid-run); "
              "%d of %zu runs matched the reference bitwise\n", killed, timed_kills, matched, points.size() + 3);
}
