// Data-parallel training under mpirun (docs/distributed.md): N ranks train what one process
// trains (same losses, same final checkpoint, to rounding), and every failure ends the whole
// job with exit 2 (or the killed rank's signal) instead of a hang. The [mpi] cases skip when
// this build has no MPI or mpirun is not on PATH.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "support/catch.h"
#include "roast/checkpoint.h"
#include "roast/config.h"
#include "roast/distributed.h"
#include "roast/tensor.h"
#include "unit/cli_support.h"

using cli_support::Fixture;
using cli_support::Result;
namespace fs = std::filesystem;

namespace {

bool skip_without_mpi() {
  if (ROAST_WITH_MPI && std::system("command -v mpirun > /dev/null 2>&1") == 0) return false;
  WARN("skipped: " << (ROAST_WITH_MPI ? "mpirun is not on PATH" : "this build has no MPI (ROAST_WITH_MPI = 0)"));
  return true;
}

// mpirun as CI runs it: as root, more ranks than cores, no pinning; `timeout` turns a hang
// into exit 124. `apps` is what follows the options: "-np 2 EXE args" or an MPMD list.
Result mpirun(const std::string& apps) {
  static int counter = 0;
  const std::string log =
      (fs::temp_directory_path() / ("roast_mpi_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + ".log")).string();
  const std::string command = "timeout 120 mpirun --allow-run-as-root --oversubscribe --bind-to none " + apps + " > " + log + " 2>&1";
  const int status = std::system(command.c_str());
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  fs::remove(log);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, text.str()};
}

std::string exe() { return ROAST_TRAIN_EXE; }

// Per-step training losses: with eval_every = 1, each metrics line's train_loss is one step's.
std::vector<double> losses(const fs::path& run) {
  std::vector<double> out;
  std::ifstream in(run / "metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) out.push_back(nlohmann::json::parse(line)["train_loss"].get<double>());
  return out;
}

// |a - b| <= rel * (|b| + max |b|): relative to the tensor's scale. Elements 1000x smaller
// than the largest (parameters near a zero crossing) carry the rounding of the large ones,
// so an element-wise relative test would ask more than float sums can give (they reach about
// 6e-5 element-wise after 30 steps here, below 1e-6 of the scale). Prints the first
// mismatches and the worst ratio.
void check_close(const std::vector<float>& a, const std::vector<float>& b, double rel, const std::string& what) {
  REQUIRE(a.size() == b.size());
  double largest = 0;
  for (float v : b) largest = std::max(largest, double(std::fabs(v)));
  const double floor = largest;
  double worst = 0;
  int shown = 0;
  std::ostringstream first;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double d = std::fabs(double(a[i]) - double(b[i]));
    const double ratio = d / (std::fabs(double(b[i])) + floor + 1e-30);
    worst = std::max(worst, ratio);
    if (ratio > rel && shown++ < 5) first << "  [" << i << "] " << a[i] << " vs " << b[i] << "\n";
  }
  INFO(what << ": worst relative difference " << worst << "\n" << first.str());
  CHECK(worst <= rel);
}

void check_same_checkpoint(const fs::path& a, const fs::path& b) {
  const roast::Checkpoint x = roast::load_checkpoint(a.string()), y = roast::load_checkpoint(b.string());
  REQUIRE(x.tensors.size() == y.tensors.size());
  for (const auto& [name, t] : y.tensors) {
    REQUIRE(x.has(name));
    if (t.dtype() == roast::DType::f32) check_close(x.tensor(name).to_vector(), t.to_vector(), 1e-5, name);
  }
}

void check_same_losses(const fs::path& a, const fs::path& b, std::size_t n_steps) {
  const std::vector<double> x = losses(a), y = losses(b);
  REQUIRE(x.size() == n_steps);
  REQUIRE(y.size() == n_steps);
  for (std::size_t i = 0; i < n_steps; ++i) {
    INFO("step " << i + 1 << ": " << x[i] << " vs " << y[i]);
    CHECK(std::fabs(x[i] - y[i]) <= 1e-5 * std::fabs(y[i]));
  }
}

// The equivalence config: no dropout (its masks are drawn per rank), a rate that keeps the
// loss well away from zero for 30 steps, a batch of 28 (the epoch's last batch has 12
// samples, so shares differ in size), one evaluation per step.
const std::string kSame =
    " --quiet --set model.dropout=0 --set optimizer.lr=0.002 --set train.batch_size=28 --set train.eval_every=1"
    " --set train.max_steps=30";

}  // namespace

TEST_CASE("mpi: share_of cuts a batch into contiguous shares that differ by at most one", "[mpi]") {
  for (int size : {1, 2, 3, 7})
    for (std::int64_t n : {0, 1, 5, 28, 64}) {
      std::int64_t next = 0;
      for (int r = 0; r < size; ++r) {
        const roast::dist::Share s = roast::dist::share_of(n, r, size);
        CHECK(s.first == next);
        CHECK(s.size() >= n / size);
        CHECK(s.size() <= n / size + 1);
        next = s.last;
      }
      CHECK(next == n);
    }
}

TEST_CASE("mpi: 2 and 3 ranks train as one process does (losses over 30 steps, final checkpoint)", "[mpi]") {
  if (skip_without_mpi()) return;
  Fixture f("mpi_same");
  const Result one = cli_support::run(f.train("one", kSame));
  INFO(one.output);
  REQUIRE(one.code == 0);
  for (int n : {2, 3}) {
    const std::string name = "ranks" + std::to_string(n);
    const Result many = mpirun("-np " + std::to_string(n) + " " + exe() + " " + f.train(name, kSame));
    INFO(many.output);
    REQUIRE(many.code == 0);
    check_same_losses(f.dir / "one", f.dir / name, 30);
    check_same_checkpoint(f.dir / "one/last.ckpt", f.dir / name / "last.ckpt");
    const nlohmann::json summary = nlohmann::json::parse(std::ifstream(f.dir / name / "summary.json"));
    CHECK(summary["world_size"] == n);
    CHECK(summary["steps"] == 30);
    CHECK(summary["comm_bytes_per_step"].get<std::int64_t>() >= 4 * summary["memory_floats"].get<std::int64_t>());
    CHECK(summary["comm_seconds"].get<double>() > 0);
    const nlohmann::json alone = nlohmann::json::parse(std::ifstream(f.dir / "one/summary.json"));
    CHECK(alone["world_size"] == 1);
    CHECK(alone["comm_bytes_per_step"] == 0);
    CHECK(std::fabs(summary["test_loss"].get<double>() - alone["test_loss"].get<double>()) <=
          1e-5 * alone["test_loss"].get<double>());
  }
  CHECK(fs::exists(f.dir / "ranks2/resolved_config.json"));
}

TEST_CASE("mpi: --resume continues at another number of ranks", "[mpi]") {
  if (skip_without_mpi()) return;
  Fixture f("mpi_resume");
  REQUIRE(cli_support::run(f.train("whole", kSame)).code == 0);
  // 13 steps on one process (mid-epoch), the rest on 2 ranks; and the other way round.
  REQUIRE(cli_support::run(f.train("up", kSame + " --set train.max_steps=13")).code == 0);
  const Result up = mpirun("-np 2 " + exe() + " " + f.train("up", kSame + " --resume"));
  INFO(up.output);
  REQUIRE(up.code == 0);
  check_same_checkpoint(f.dir / "whole/last.ckpt", f.dir / "up/last.ckpt");
  REQUIRE(mpirun("-np 2 " + exe() + " " + f.train("down", kSame + " --set train.max_steps=17")).code == 0);
  const Result down = cli_support::run(f.train("down", kSame + " --resume"));
  INFO(down.output);
  REQUIRE(down.code == 0);
  check_same_checkpoint(f.dir / "whole/last.ckpt", f.dir / "down/last.ckpt");
  check_same_losses(f.dir / "whole", f.dir / "down", 30);
}

TEST_CASE("mpi: bad input ends every rank with exit 2 and one message, never a hang", "[mpi]") {
  if (skip_without_mpi()) return;
  Fixture f("mpi_bad");
  const std::string train = exe() + " " + f.train("run", " --set train.max_steps=5");
  SECTION("ranks given different configs") {
    const Result r = mpirun("-np 1 " + train + " : -np 1 " + train + " --set optimizer.lr=0.02");
    CHECK(r.code == 2);
    CHECK(r.output.find("rank 1 of 2: its resolved config") != std::string::npos);
    CHECK(r.output.find("`optimizer.lr` is 0.01 on rank 0 and 0.02 here") != std::string::npos);
  }
  SECTION("more ranks than samples per batch") {
    const Result r = mpirun("-np 3 " + train + " --set train.batch_size=2");
    CHECK(r.code == 2);
    CHECK(r.output.find("`train.batch_size` 2 is the global batch, shared by the 3 ranks") != std::string::npos);
  }
  SECTION("bad data on one rank") {
    // The same relative data path, resolved in two working folders: rank 1's file is cut short.
    for (const char* where : {"a", "b"}) fs::create_directories(f.dir / where / "data");
    for (const auto& entry : fs::directory_iterator(f.dir / "data")) {
      fs::copy_file(entry.path(), f.dir / "a/data" / entry.path().filename());
      fs::copy_file(entry.path(), f.dir / "b/data" / entry.path().filename());
    }
    fs::resize_file(f.dir / "b/data/train-images-idx3-ubyte", 1000);
    const std::string relative = exe() + " " + f.train("run", " --set data.path=data");
    const Result r = mpirun("-np 1 --wdir " + (f.dir / "a").string() + " " + relative + " : -np 1 --wdir " +
                            (f.dir / "b").string() + " " + relative);
    CHECK(r.code == 2);
    CHECK(r.output.find("rank 1 of 2: IDX file") != std::string::npos);
    CHECK(r.output.find("truncated") != std::string::npos);
  }
  SECTION("a GPU run this build or machine cannot serve") {
    // Without the CUDA backend the device is refused; with it but without a GPU, the missing
    // device is named; with GPUs, two ranks need two GPUs and NCCL (one of them is missing
    // on a one-GPU machine or one without NCCL).
    const Result r = mpirun("-np 2 " + train + " --set device=cuda");
    CHECK(r.code == 2);
    const char* expected = !ROAST_WITH_CUDA ? "needs the CUDA backend" : !roast::cuda_available() ? "CUDA device" : "cuda";
    INFO(r.output);
    CHECK(r.output.find(expected) != std::string::npos);
  }
  SECTION("--comm nccl on the CPU") {
    const Result r = mpirun("-np 2 " + train + " --comm nccl");
    CHECK(r.code == 2);
    CHECK(r.output.find("--comm nccl reduces GPU memory") != std::string::npos);
  }
  SECTION("a run folder that already holds a run (rank 0's check)") {
    REQUIRE(cli_support::run(f.train("run", " --set train.max_steps=2")).code == 0);
    const Result r = mpirun("-np 2 " + train);
    CHECK(r.code == 2);
    CHECK(r.output.find("already holds a run") != std::string::npos);
  }
}

TEST_CASE("mpi: a rank killed mid-step ends the whole job", "[mpi]") {
  if (skip_without_mpi()) return;
  Fixture f("mpi_kill");
  const std::string train = exe() + " " + f.train("run", " --set train.max_steps=30");
  const Result r = mpirun("-np 1 " + train + " : -np 1 -x ROAST_CRASH_AT=step:5 " + train);
  INFO(r.output);
  CHECK(r.code != 0);
  CHECK(r.code != 124);  // not the timeout: mpirun ended the job itself
  CHECK(r.output.find("signal 9") != std::string::npos);
}

TEST_CASE("mpi: bench allreduce sums correctly and reports bytes and time", "[mpi]") {
  if (skip_without_mpi()) return;
  const Result r = mpirun("-np 2 " + exe() + " bench allreduce --floats 100003 --repeats 3");
  INFO(r.output);
  CHECK(r.code == 0);
  CHECK(r.output.find("100003 floats (0.400 MB) on 2 rank(s)") != std::string::npos);
  CHECK(r.output.find("every element equals n(n+1)/2 on every rank") != std::string::npos);
  const Result alone = cli_support::run("bench allreduce --floats 10 --repeats 1");
  CHECK(alone.code == 0);
  CHECK(alone.output.find("single process") != std::string::npos);
}
