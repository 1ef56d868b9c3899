// Issue 28: every class of bad input found by the new-user sweep, one test each. Each
// either exits 2 with a message naming the file / key / record and the fix, or runs
// correctly. Tags: [reliability] (CLI-level ones also [cli]).
#include <sys/file.h>
#include <zlib.h>

#include <chrono>
#include <cmath>
#include <cstdio>

#include "cli_support.h"
#include "data/file_io.h"
#include "io/json_safe.h"
#include "roast/checkpoint.h"
#include "roast/data/idx.h"
#include "roast/data/text_formats.h"
#include "roast/error.h"
#include "roast/optim.h"
#include "roast/plan.h"
#include "support/catch.h"
#include "config/json_reader.h"

using namespace cli_support;

namespace {
bool mentions(const std::string& text, const std::string& needle) { return text.find(needle) != std::string::npos; }

void expect_exit2(const Result& r, const std::string& needle) {
  INFO(r.output);
  CHECK(r.code == 2);
  CHECK(mentions(r.output, needle));
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const roast::Error& e) {
    return e.what();
  }
  return "(no roast::Error)";
}

// A run to craft checkpoints from (trained once per process).
const Fixture& trained() {
  static Fixture f("rel_trained");
  static const bool done = [] {
    const Result r = run(f.train("run", "--set train.epochs=1"));
    REQUIRE(r.code == 0);
    return true;
  }();
  (void)done;
  return f;
}

// Copies `from` to `to` with its header edited by `edit` (and optionally its tensors).
void craft(const std::string& from, const std::string& to, const std::function<void(nlohmann::json&)>& edit,
           const std::function<void(roast::Checkpoint&)>& edit_tensors = {}) {
  roast::Checkpoint ck = roast::load_checkpoint(from);
  nlohmann::json h = nlohmann::json::parse(ck.header_json);
  edit(h);
  ck.header_json = h.dump();
  if (edit_tensors) edit_tensors(ck);
  roast::save_checkpoint(to, ck);
}

void write_text(const fs::path& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

// A tiny TSV text set and its config.
std::string text_config(const fs::path& dir) {
  fs::create_directories(dir / "text");
  std::string train, test;
  for (int i = 0; i < 60; ++i) train += std::string(i % 2 ? "pos\tgood fine great " : "neg\tbad awful poor ") + std::to_string(i) + "\n";
  for (int i = 0; i < 10; ++i) test += std::string(i % 2 ? "pos\tgood great\n" : "neg\tbad poor\n");
  write_text(dir / "text" / "train.tsv", train);
  write_text(dir / "text" / "test.tsv", test);
  const nlohmann::json config = {{"name", "text"},
                                 {"data", {{"dataset", "tsv"}, {"path", (dir / "text").string()}, {"seq_len", 16}, {"min_frequency", 1}}},
                                 {"model", {{"type", "bag"}, {"dim", 8}}},
                                 {"memory", {{"scheme", "dense"}}},
                                 {"train", {{"epochs", 1}, {"batch_size", 16}}}};
  write_text(dir / "text.json", config.dump(2));
  return (dir / "text.json").string();
}
}  // namespace

// ---- Crashes and hangs ---------------------------------------------------------------

TEST_CASE("reliability: data.seq_len beyond its range exits 2 in train and info", "[reliability][cli]") {
  Fixture f("rel_seq");
  const std::string config = text_config(f.dir);
  for (const char* v : {"4611686018427387904", "1099511627776", "65537"}) {
    expect_exit2(run("train --config " + config + " --out " + f.out("t") + " --quiet --set data.seq_len=" + v), "`data.seq_len`: must be in [1, 65536]");
    expect_exit2(run("info --config " + config + " --set data.seq_len=" + v), "`data.seq_len`");
  }
  const Result ok = run("train --config " + config + " --out " + f.out("ok") + " --quiet");
  INFO(ok.output);
  CHECK(ok.code == 0);
}

TEST_CASE("reliability: a value nested 100,000 deep is refused without recursion", "[reliability][cli]") {
  Fixture f("rel_deep");
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  write_text(f.dir / "deep.json", "{\"seed\": " + deep + ", \"model\": {}}");
  expect_exit2(run("train --config " + f.out("deep.json") + " --out " + f.out("d")), "nested deeper than 64 levels");
  const std::string arg = std::string(50000, '[') + std::string(50000, ']');
  expect_exit2(run(f.train("d", "--set seed=" + arg)), "nested deeper than 64 levels");
  CHECK(mentions(roast::json_brief(nlohmann::json::parse("[[[1]]]")), "[[[1]]]"));
}

TEST_CASE("reliability: threads has an upper bound", "[reliability][cli]") {
  Fixture f("rel_threads");
  for (const char* v : {"100000", "32768", "8192", "-1"}) expect_exit2(run(f.train("t", std::string("--set threads=") + v)), "`threads`: must be in [0, 1024]");
}

TEST_CASE("reliability: model.layers is bounded and planning is linear in the layer count", "[reliability][cli]") {
  Fixture f("rel_layers");
  const std::string config = text_config(f.dir);
  expect_exit2(run("info --config " + config + " --set model.type=transformer --set model.dim=8 --set model.heads=2 --set model.layers=1000000"),
               "`model.layers`: must be in [1, 256]");
  expect_exit2(run("info --config " + config + " --set model.hidden=[1,2,3] --set model.dim=100000"), "`model.dim`");
  roast::Planner planner;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 50000; ++i) planner.vector("t" + std::to_string(i), 4, 0.0f);
  CHECK(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < 5.0);
  CHECK(mentions(error_of([&] { planner.vector("t7", 4, 0.0f); }), "declared twice"));
}

TEST_CASE("reliability: a checkpoint with empty channel statistics is refused by predict and eval", "[reliability][cli]") {
  const Fixture& f = trained();
  craft(f.out("run/best.ckpt"), f.out("nostats.ckpt"), [](nlohmann::json& h) { h["channel_stats"] = {{"mean", nlohmann::json::array()}, {"std", nlohmann::json::array()}}; });
  expect_exit2(run("predict --checkpoint " + f.out("nostats.ckpt") + " --input " + f.out("data/t10k-images-idx3-ubyte")), "channel_stats.mean");
  expect_exit2(run("eval --checkpoint " + f.out("nostats.ckpt")), "channel_stats");
  craft(f.out("run/best.ckpt"), f.out("zerostd.ckpt"), [](nlohmann::json& h) { h["channel_stats"]["std"] = {0.0}; });
  expect_exit2(run("eval --checkpoint " + f.out("zerostd.ckpt")), "channel_stats.std");
}

TEST_CASE("reliability: a checkpoint with a huge batch_in_epoch is refused by --resume", "[reliability][cli]") {
  Fixture f("rel_batch");
  REQUIRE(run(f.train("run", "--set train.max_steps=5")).code == 0);
  craft(f.out("run/last.ckpt"), f.out("run/last.ckpt"), [](nlohmann::json& h) { h["state"]["batch_in_epoch"] = 1000000000000000LL; });
  expect_exit2(run(f.train("run", "--resume")), "batch_in_epoch");
}

// ---- Wrong results without a word --------------------------------------------------------

TEST_CASE("reliability: --resume refuses a last.ckpt without optimizer state", "[reliability][cli]") {
  Fixture f("rel_noopt");
  REQUIRE(run(f.train("run", "--set train.max_steps=12")).code == 0);
  fs::copy_file(f.out("run/best.ckpt"), f.out("run/last.ckpt"), fs::copy_options::overwrite_existing);
  expect_exit2(run(f.train("run", "--resume")), "holds no optimizer state");
}

TEST_CASE("reliability: train.epochs, tile, model and name are checked", "[reliability][cli]") {
  Fixture f("rel_keys");
  expect_exit2(run(f.train("a", "--set train.epochs=9223372036854775807")), "`train.epochs`: must be in [1, 1000000]");
  expect_exit2(run(f.train("a", "--set memory.tile=[4294967297,64]")), "`memory.tile`: must be two integers");
  expect_exit2(run(f.train("a", "--set model=null")), "`model`: must be an object");
  expect_exit2(run(f.train("a", "--set name=../../../../x")), "`name`: must be 1 to 128 letters");
  expect_exit2(run(f.train("a", "--set train.max_steps=18446744073709551615")), "`train.max_steps`: must be an integer");
  CHECK_FALSE(fs::exists(f.dir / "a" / "last.ckpt"));
}

TEST_CASE("reliability: a run folder is locked while a run writes it; stale locks and temporary files are cleaned", "[reliability][cli]") {
  Fixture f("rel_lock");
  fs::create_directories(f.dir / "run");
  {
    // This process plays the running original.
    const int fd = ::open(f.out("run/.lock").c_str(), O_RDWR | O_CREAT, 0644);
    REQUIRE(fd >= 0);
    REQUIRE(::flock(fd, LOCK_EX | LOCK_NB) == 0);
    const std::string pid = std::to_string(::getpid()) + "\n";
    REQUIRE(::write(fd, pid.data(), pid.size()) == ssize_t(pid.size()));
    expect_exit2(run(f.train("run")), "is in use: process " + std::to_string(::getpid()));
    expect_exit2(run(f.train("run", "--resume")), "is in use");
    ::close(fd);
  }
  // Left behind by a killed run: its pid (no such process now) and a half-written file.
  write_text(f.dir / "run" / ".lock", "4194000\n");
  write_text(f.dir / "run" / "last.ckpt.tmp.4194000", "half a checkpoint");
  const Result r = run("train --config " + f.config() + " --out " + f.out("run") + " --set train.epochs=1");
  INFO(r.output);
  CHECK(r.code == 0);
  CHECK(mentions(r.output, "taking over the lock of process 4194000"));
  CHECK(mentions(r.output, "removed last.ckpt.tmp.4194000"));
  CHECK_FALSE(fs::exists(f.dir / "run" / "last.ckpt.tmp.4194000"));
  CHECK(read_file(f.dir / "run" / ".lock").empty());  // released at the end
}

TEST_CASE("reliability: divergence saves nothing non-finite, names the last finite checkpoint, and --resume may lower lr",
          "[reliability][cli]") {
  Fixture f("rel_nan");
  REQUIRE(run(f.train("run", "--set train.max_steps=10 --set train.eval_every=5")).code == 0);
  const std::string before = read_file(f.dir / "run" / "last.ckpt");
  // --resume with another lr and schedule is allowed; this lr diverges.
  const Result r = run(f.train("run", "--resume --set train.eval_every=5 --set train.max_steps=30 --set optimizer.lr=1e30 --set schedule.name=cosine"));
  INFO(r.output);
  CHECK(r.code == 2);
  CHECK(mentions(r.output, "training diverged"));
  CHECK(mentions(r.output, "last finite checkpoint is " + f.out("run") + "/last.ckpt (step 10)"));
  CHECK(mentions(r.output, "--resume --set optimizer.lr="));
  CHECK(read_file(f.dir / "run" / "last.ckpt") == before);
  for (const char* name : {"last.ckpt", "best.ckpt"})
    for (float x : roast::load_checkpoint(f.out(std::string("run/") + name)).tensor("memory").to_vector()) REQUIRE(std::isfinite(x));
  // Following the advice works.
  const Result lower = run(f.train("run", "--resume --set train.eval_every=5 --set train.max_steps=20 --set optimizer.lr=0.005"));
  INFO(lower.output);
  CHECK(lower.code == 0);
  // A run that diverges before any checkpoint says so.
  const Result early = run(f.train("early", "--set optimizer.name=sgd --set optimizer.lr=1e30 --set train.eval_every=1"));
  expect_exit2(early, "No checkpoint was written before it");
}

TEST_CASE("reliability: eval and predict refuse a checkpoint with non-finite memory", "[reliability][cli]") {
  const Fixture& f = trained();
  craft(f.out("run/best.ckpt"), f.out("nan.ckpt"), [](nlohmann::json&) {},
        [](roast::Checkpoint& ck) {
          for (auto& [name, t] : ck.tensors)
            if (name == "memory") {
              std::vector<float> v = t.to_vector();
              v[3] = std::nanf("");
              t = roast::Tensor::from_vector(v, t.shape());
            }
        });
  expect_exit2(run("eval --checkpoint " + f.out("nan.ckpt")), "non-finite parameters");
  expect_exit2(run("predict --checkpoint " + f.out("nan.ckpt") + " --input " + f.out("data/t10k-images-idx3-ubyte")), "non-finite");
}

TEST_CASE("reliability: metrics.jsonl's lr is the rate of the step taken on the whole schedule", "[reliability][cli]") {
  Fixture f("rel_lr");
  REQUIRE(run(f.train("run", "--set schedule.name=cosine --set train.eval_every=5 --set train.epochs=2")).code == 0);
  std::ifstream in(f.dir / "run" / "metrics.jsonl");
  roast::ScheduleConfig cosine;
  cosine.name = "cosine";
  int rows = 0;
  for (std::string line; std::getline(in, line); ++rows) {
    const nlohmann::json m = nlohmann::json::parse(line);
    const std::int64_t step = m["step"];
    CHECK(m["lr"].get<double>() == Approx(roast::scheduled_lr(cosine, 0.01f, step - 1, 20)).epsilon(1e-5));
  }
  CHECK(rows >= 4);
}

// ---- Exit 1 where the input is at fault ------------------------------------------------

TEST_CASE("reliability: invalid UTF-8 in CSV, TSV, labels and classes.txt is refused up front", "[reliability][data]") {
  Fixture f("rel_utf8");
  write_text(f.dir / "a.tsv", "pos\tgood\nneg\tbad \xff\xfe text\n");
  CHECK(mentions(error_of([&] { roast::data::read_tsv_dataset(f.out("a.tsv")); }), "line 2 column 9: invalid UTF-8 (byte 0xff)"));
  write_text(f.dir / "b.tsv", "p\xc3\tgood\n");
  CHECK(mentions(error_of([&] { roast::data::read_tsv_dataset(f.out("b.tsv")); }), "invalid UTF-8"));
  write_text(f.dir / "c.csv", "1,\"caf\xe9\"\n");
  CHECK(mentions(error_of([&] { roast::data::read_csv_dataset(f.out("c.csv")); }), "iconv"));
  fs::create_directories(f.dir / "k");
  write_text(f.dir / "k" / "classes.txt", "World\nSp\xf0rts\n");
  write_text(f.dir / "k" / "train.csv", "1,a\n2,b\n");
  CHECK(mentions(error_of([&] { roast::data::read_csv_dataset(f.out("k/train.csv")); }), "classes.txt' line 2"));
  // End to end: exit 2 before training.
  const std::string config = text_config(f.dir);
  write_text(f.dir / "text" / "train.tsv", "pos\tgood\nneg\t\xc0\xaf\n");
  expect_exit2(run("train --config " + config + " --out " + f.out("t") + " --quiet"), "invalid UTF-8");
  CHECK_FALSE(fs::exists(f.dir / "t" / "last.ckpt"));
}

TEST_CASE("reliability: out-of-range numbers and invalid UTF-8 in configs and --set exit 2", "[reliability][cli]") {
  Fixture f("rel_json");
  write_text(f.dir / "huge.json", "{\"model\": {}, \"optimizer\": {\"lr\": 1e400}}");
  expect_exit2(run("train --config " + f.out("huge.json") + " --out " + f.out("a")), "Numbers must fit a double");
  expect_exit2(run(f.train("a", "--set optimizer.lr=1e400")), "Numbers must fit a double");
  expect_exit2(run(f.train("a", "--set optimizer.lr=1e39")), "`optimizer.lr`: must be a positive finite number");
  expect_exit2(run(f.train("a", "--set 'name=\xff\xfe'")), "not valid UTF-8");
  nlohmann::json config;
  CHECK(mentions(error_of([&] { roast::apply_override(config, "name=\xc3"); }), "UTF-8"));
  CHECK(mentions(error_of([&] { roast::apply_override(config, std::string(200, 'a') + std::string(100, '.') + "=1"); }), "more than 64 parts"));
}

TEST_CASE("reliability: a huge label is refused before the class list is allocated", "[reliability][data]") {
  Fixture f("rel_label");
  write_text(f.dir / "a.tsv", "0\tgood\n99999999999\tbad\n");
  CHECK(mentions(error_of([&] { roast::data::read_tsv_dataset(f.out("a.tsv")); }), "line 2: label 99999999999 is beyond"));
  write_text(f.dir / "b.csv", "1,a\n99999999999,b\n");
  CHECK(mentions(error_of([&] { roast::data::read_csv_dataset(f.out("b.csv")); }), "class index 99999999999"));
  write_text(f.dir / "c.jsonl", "{\"text\": \"a\", \"label\": 1e400}\n");
  CHECK(mentions(error_of([&] { roast::data::read_jsonl_dataset(f.out("c.jsonl")); }), "line 1: invalid JSON"));
}

TEST_CASE("reliability: a gzip IDX file is inflated only as far as its header declares", "[reliability][data]") {
  Fixture f("rel_bomb");
  // A 5-image header followed by 256 MiB of zeros (a few hundred KB compressed).
  const std::string path = f.out("bomb-images-idx3-ubyte.gz");
  gzFile gz = gzopen(path.c_str(), "wb9");
  REQUIRE(gz != nullptr);
  const unsigned char header[16] = {0, 0, 8, 3, 0, 0, 0, 5, 0, 0, 0, 28, 0, 0, 0, 28};
  gzwrite(gz, header, 16);
  const std::vector<char> zeros(1 << 20, 0);
  for (int i = 0; i < 256; ++i) gzwrite(gz, zeros.data(), unsigned(zeros.size()));
  gzclose(gz);
  const auto start = std::chrono::steady_clock::now();
  CHECK(mentions(error_of([&] { roast::data::read_idx_images(path); }), "data after the 5 images"));
  CHECK(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < 2.0);
  // Any gzip is bounded: past the limit it stops with a message.
  CHECK(mentions(error_of([&] { roast::data::detail::read_file_bytes(path, 1 << 20); }), "expands to more than 1048576 bytes"));
}

TEST_CASE("reliability: test images of another shape are found before training", "[reliability][cli]") {
  Fixture f("rel_shape");
  write_split(f.dir / "data", "t10k", 50, 2, 20);
  const Result r = run(f.train("run"));
  expect_exit2(r, "the test images are 1x20x20 but the training images are 1x28x28");
  CHECK_FALSE(fs::exists(f.dir / "run" / "last.ckpt"));
}

TEST_CASE("reliability: crafted checkpoint headers exit 2 with the field named", "[reliability][cli]") {
  const Fixture& f = trained();
  const std::vector<std::pair<std::function<void(nlohmann::json&)>, std::string>> cases = {
      {[](nlohmann::json& h) { h["state"]["step"] = "x"; }, "`state.step` must be an integer"},
      {[](nlohmann::json& h) { h["state"].erase("epoch"); }, "`state.epoch` is missing"},
      {[](nlohmann::json& h) { h["state"]["best_val_accuracy"] = "high"; }, "`state.best_val_accuracy`"},
      {[](nlohmann::json& h) { h["state"]["metrics"] = 3; }, "`state.metrics`"},
      {[](nlohmann::json& h) { h["state"] = nullptr; }, "`state` must be an object"},
      {[](nlohmann::json& h) { h["input"]["channels"] = -1; }, "`input.channels` must be in [1, 4]"},
      {[](nlohmann::json& h) { h["input"]["height"] = 1.5; }, "`input.height` must be an integer"},
      {[](nlohmann::json& h) { h["input"]["text"] = 1; }, "`input.text`"},
      {[](nlohmann::json& h) { h["input"] = "x"; }, "`input` must be an object"},
      {[](nlohmann::json& h) { h["input"]["n_classes"] = 99999999999LL; }, "`input.n_classes`"},
      {[](nlohmann::json& h) { h["class_names"] = {1, 2}; }, "`class_names` must hold strings"},
      {[](nlohmann::json& h) { h["class_names"] = {"a", "b"}; }, "`class_names` has 2 names"},
      {[](nlohmann::json& h) { h["channel_stats"] = 5; }, "`channel_stats`"},
      {[](nlohmann::json& h) { h["channel_stats"]["mean"] = {"a"}; }, "`channel_stats.mean`"},
      {[](nlohmann::json& h) { h["config"] = 7; }, "`config` must be an object"},
      {[](nlohmann::json& h) { h["config"]["memory"]["tile"] = {4294967297LL, 64}; }, "memory.tile"},
      {[](nlohmann::json& h) { h["config"]["model"] = nullptr; }, "`model`"},
      {[](nlohmann::json& h) { h["format"] = 3; }, "was not written by roast-train"},
      {[](nlohmann::json& h) { h["config"]["memory"]["mapping"] = "fold"; h.erase("fold_layout"); }, "tile layout 1"},
      {[](nlohmann::json& h) { h["config"]["memory"]["mapping"] = "fold"; h["fold_layout"] = 7; }, "tile layout 7"},
      {[](nlohmann::json& h) { h = nlohmann::json::array(); }, "was not written by roast-train"},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const std::string path = f.out("crafted" + std::to_string(i) + ".ckpt");
    craft(f.out("run/best.ckpt"), path, cases[i].first);
    INFO("case " << i);
    expect_exit2(run("eval --checkpoint " + path), cases[i].second);
  }
  // Tensors: a memory of the wrong dtype, a missing memory.
  craft(f.out("run/best.ckpt"), f.out("i32.ckpt"), [](nlohmann::json&) {}, [](roast::Checkpoint& ck) {
    for (auto& [name, t] : ck.tensors)
      if (name == "memory") t = roast::Tensor::zeros({t.numel()}, roast::DType::i32);
  });
  expect_exit2(run("eval --checkpoint " + f.out("i32.ckpt")), "expected a flat f32 tensor");
  craft(f.out("run/best.ckpt"), f.out("nomem.ckpt"), [](nlohmann::json&) {}, [](roast::Checkpoint& ck) { ck.tensors.clear(); });
  expect_exit2(run("eval --checkpoint " + f.out("nomem.ckpt")), "holds no \"memory\" tensor");
}
