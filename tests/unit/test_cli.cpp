// roast-train end to end on a tiny generated IDX dataset: training, resume, eval, predict,
// info, and every kind of bad input (exit code 2, a message that names the problem, no
// partial files).
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "cli_support.h"
#include "roast/checkpoint.h"
#include "support/catch.h"

namespace fs = std::filesystem;

namespace {
using cli_support::Result;
using cli_support::run;
// The shared tiny IDX set and config (cli_support.h), in a folder of this test's own.
struct Fixture : cli_support::Fixture {
  Fixture() : cli_support::Fixture("cli") {}
};

std::vector<float> memory_of(const std::string& ckpt) { return roast::load_checkpoint(ckpt).tensor("memory").to_vector(); }
}  // namespace

TEST_CASE("cli: train, eval, predict and info on a tiny dataset", "[cli]") {
  Fixture f;
  const Result r = run("train --config " + f.config() + " --out " + f.out("run") + " --quiet");
  INFO(r.output);
  REQUIRE(r.code == 0);
  for (const char* file : {"resolved_config.json", "metrics.jsonl", "summary.json", "best.ckpt", "last.ckpt"})
    CHECK(fs::exists(f.dir / "run" / file));
  for (const auto& entry : fs::directory_iterator(f.dir / "run")) CHECK(entry.path().string().find(".tmp") == std::string::npos);
  const nlohmann::json summary = nlohmann::json::parse(std::ifstream(f.dir / "run" / "summary.json"));
  for (const char* key : {"test_accuracy", "val_accuracy", "virtual_params", "memory_floats", "compression", "train_seconds", "samples_per_second"})
    CHECK(summary.contains(key));
  CHECK(summary["test_accuracy"].get<double>() > 0.9);
  CHECK(summary["compression"].get<double>() == Approx(10.0).epsilon(0.01));
  const nlohmann::json resolved = nlohmann::json::parse(std::ifstream(f.dir / "run" / "resolved_config.json"));
  CHECK(resolved["optimizer"]["beta2"].get<double>() == Approx(0.999));  // defaults filled in
  CHECK(resolved["model"]["activation"] == "relu");

  const Result e = run("eval --checkpoint " + f.out("run/best.ckpt"));
  INFO(e.output);
  CHECK(e.code == 0);
  CHECK(e.output.find("test accuracy") != std::string::npos);
  const Result p = run("predict --checkpoint " + f.out("run/best.ckpt") + " --input " + f.out("data/t10k-images-idx3-ubyte"));
  CHECK(p.code == 0);
  CHECK(p.output.find("image 99") != std::string::npos);
  const Result bad = run("predict --checkpoint " + f.out("run/best.ckpt") + " --input " + f.config());
  CHECK(bad.code == 2);
  CHECK(bad.output.find("magic number") != std::string::npos);
  const Result i = run("info --json --config " + f.config());
  REQUIRE(i.code == 0);
  CHECK(nlohmann::json::parse(i.output)["virtual_params"].get<std::int64_t>() == 784 * 32 + 32 + 32 * 10 + 10);
}

TEST_CASE("cli: --resume reaches exactly the state of an uninterrupted run", "[cli]") {
  Fixture f;
  REQUIRE(run("train --config " + f.config() + " --out " + f.out("whole") + " --quiet").code == 0);
  // 13 steps: mid-epoch (10 batches per epoch), then resumed to the end.
  REQUIRE(run("train --config " + f.config() + " --out " + f.out("split") + " --quiet --set train.max_steps=13").code == 0);
  const Result resumed = run("train --config " + f.config() + " --out " + f.out("split") + " --quiet --resume");
  INFO(resumed.output);
  REQUIRE(resumed.code == 0);
  CHECK(memory_of(f.out("whole/last.ckpt")) == memory_of(f.out("split/last.ckpt")));
  const auto acc = [&](const std::string& run_dir) {
    return nlohmann::json::parse(std::ifstream(f.dir / run_dir / "summary.json"))["test_accuracy"].get<double>();
  };
  CHECK(acc("whole") == acc("split"));
}

TEST_CASE("cli: a diverging run stops with a message and keeps its last good checkpoint", "[cli]") {
  Fixture f;
  const Result r = run("train --config " + f.config() + " --out " + f.out("nan") +
                       " --quiet --set optimizer.name=sgd --set optimizer.lr=1e30 --set train.eval_every=1");
  INFO(r.output);
  CHECK(r.code == 2);
  CHECK(r.output.find("training diverged") != std::string::npos);
  // Nothing non-finite is saved: a checkpoint that exists holds finite memory only.
  for (const char* name : {"last.ckpt", "best.ckpt"}) {
    if (!fs::exists(f.dir / "nan" / name)) continue;
    for (float x : memory_of(f.out(std::string("nan/") + name))) REQUIRE(std::isfinite(x));
  }
  for (const auto& entry : fs::directory_iterator(f.dir / "nan")) CHECK(entry.path().string().find(".tmp") == std::string::npos);
}

TEST_CASE("cli: bad input exits with 2 and says what to fix", "[cli]") {
  Fixture f;
  auto expect = [&](const std::string& args, const std::string& needle) {
    const Result r = run(args);
    INFO(args << "\n" << r.output);
    CHECK(r.code == 2);
    CHECK(r.output.find(needle) != std::string::npos);
  };
  expect("train --config " + f.config() + " --set optimizer.lrr=0.1 --out " + f.out("a"), "`optimizer.lrr`: unknown key (did you mean `lr`?)");
  expect("train --config " + f.config() + " --set train.epochs=\\\"3\\\" --out " + f.out("a"), "`train.epochs`: must be an integer");
  expect("train --config " + f.config() + " --set model.type=mpl --out " + f.out("a"), "did you mean \"mlp\"");
  expect("train --config " + f.config() + " --set data.path=/nonexistent/x --out " + f.out("a"), "/nonexistent/x");
  expect("train --config " + f.config() + " --set memory.compression=100000 --set memory.tile_fit=strict --set memory.compression_of=all --out " + f.out("a"), "memory.compression");
  expect("train --config " + f.config() + " --set memory.compression=0.5 --out " + f.out("a"), "memory.compression");
  expect("train --config " + f.config() + " --out /proc/roast_cannot_write", "/proc/roast_cannot_write");
  expect("train --config " + f.config() + " --bogus-flag", "bogus-flag");
  expect("train", "--config is required");
  CHECK_FALSE(fs::exists(f.dir / "a" / "last.ckpt"));

  REQUIRE(run("train --config " + f.config() + " --out " + f.out("run") + " --quiet --set train.epochs=1").code == 0);
  expect("train --config " + f.config() + " --out " + f.out("run"), "already holds a run");
  expect("train --config " + f.config() + " --out " + f.out("run") + " --resume --set model.dropout=0.2",
         "`model.dropout` is 0.1");
  std::ifstream in(f.dir / "run" / "best.ckpt", std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), {});
  std::ofstream(f.dir / "truncated.ckpt", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  expect("eval --checkpoint " + f.out("truncated.ckpt"), "truncated");
  std::string corrupt = bytes;
  corrupt[bytes.size() - 20] ^= 0x5a;
  std::ofstream(f.dir / "corrupt.ckpt", std::ios::binary) << corrupt;
  expect("eval --checkpoint " + f.out("corrupt.ckpt"), "corrupted");
  std::ofstream(f.dir / "config.ckpt") << "{}";
  expect("eval --checkpoint " + f.out("config.ckpt"), "not a roast checkpoint");
  CHECK(run("train --help").code == 0);
}
