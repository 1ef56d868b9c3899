// Every impossible or invalid memory request fails with roast::Error naming the key, by
// how much it is off and what to change; the suggested fix works.
#include <cstdint>
#include <regex>
#include <string>
#include <vector>

#include "roast/memory.h"
#include "support/catch.h"

using namespace roast;

namespace {
// The message of the roast::Error that f throws ("" when it throws none).
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// Checks that f throws roast::Error and the message holds every fragment.
template <typename F>
void expect_error(F&& f, const std::vector<std::string>& fragments) {
  const std::string message = error_of(f);
  INFO("message: " << message);
  REQUIRE_FALSE(message.empty());
  for (const std::string& fragment : fragments) {
    INFO("missing: " << fragment);
    CHECK(message.find(fragment) != std::string::npos);
  }
}

double suggested_compression(const std::string& message) {
  std::smatch match;
  REQUIRE(std::regex_search(message, match, std::regex("compression to at most ([0-9.e+]+)")));
  return std::stod(match[1]);
}

// The strict rules: small tensors exact, compression over all parameters, tiles as given
// (the "auto" defaults adapt such plans instead; test_memory_fold.cpp tests them).
MemoryConfig strict() {
  MemoryConfig c;
  c.small_tensors = SmallTensors::exact;
  c.compression_of = CompressionOf::all;
  c.tile_fit_auto = false;
  return c;
}

MemoryConfig compressed(double compression) {
  MemoryConfig c = strict();
  c.compression = compression;
  return c;
}

// 10^6 hashed weights and 188 exact cells (the example of the docs).
Planner mlp() {
  Planner p;
  p.matrix("fc.weight", 1000, 1000);
  p.vector("fc.bias", 100, 0.0f);
  p.vector("norm.gain", 88, 1.0f);
  return p;
}
}  // namespace

TEST_CASE("memory errors: a shared region smaller than one tile", "[memory]") {
  const std::string message = error_of([] { mlp().finalize(compressed(1000)); });
  INFO(message);
  for (const char* fragment : {"memory.compression = 1000", "leaves 813 floats for the shared region",
                               "188 exact cells", "one 32x64 tile", "needs 2048", "smaller memory.tile"}) {
    CHECK(message.find(fragment) != std::string::npos);
  }
  const double fix = suggested_compression(message);  // n / (188 + 2048) = 447.3, rounded down
  CHECK(fix == 447.0);
  CHECK(mlp().finalize(compressed(fix)).n_floats() >= 188 + 2048);
  CHECK_THROWS_AS(mlp().finalize(compressed(460)), Error);

  MemoryConfig by_floats = strict();
  by_floats.floats = 1500;
  expect_error([&] { mlp().finalize(by_floats); }, {"memory.floats = 1500", "raise memory.floats to at least 2236"});
  MemoryConfig by_bytes = strict();
  by_bytes.bytes = "4KB";
  expect_error([&] { mlp().finalize(by_bytes); }, {"memory.bytes = \"4KB\"", "at least 8944 bytes"});
  MemoryConfig big_tile = compressed(10);
  big_tile.tile_rows = 4096;
  big_tile.tile_cols = 4096;
  expect_error([&] { mlp().finalize(big_tile); }, {"4096x4096 tile", "needs 16777216", "no budget fits"});
}

TEST_CASE("memory errors: a budget below the exact cells", "[memory]") {
  Planner p;
  p.matrix("fc.weight", 1000, 1000);
  for (int i = 0; i < 10; ++i) p.vector("bias" + std::to_string(i), 1000, 0.0f);
  const std::string message = error_of([&] { p.finalize(compressed(1000)); });
  INFO(message);
  for (const char* fragment : {"m = 1010 floats", "need 10000", "8990 floats short"}) {
    CHECK(message.find(fragment) != std::string::npos);
  }
  const double fix = suggested_compression(message);  // 1010000 / (10000 + 2048) = 83.83
  CHECK(fix == 83.8);
  CHECK_NOTHROW(p.finalize(compressed(fix)));
  CHECK(message.find("exact_threshold") == std::string::npos);  // no small tensors: not the knob to turn

  Planner small;
  small.matrix("fc.weight", 1000, 1000);
  for (int i = 0; i < 5; ++i) small.matrix("small" + std::to_string(i), 50, 40);
  expect_error([&] { small.finalize(compressed(1000)); },
               {"need 10000", "of which 10000 for 5 tensors under memory.exact_threshold = 4096",
                "lower memory.exact_threshold"});
}

TEST_CASE("memory errors: per-tensor regions smaller than their unit", "[memory]") {
  Planner p;
  p.matrix("big", 1000, 1000);
  p.matrix("small", 100, 100);
  MemoryConfig local = compressed(50);
  local.scheme = Scheme::roast_local;
  const std::string message = error_of([&] { p.finalize(local); });
  INFO(message);
  for (const char* fragment : {"\"small\" (100 x 100)", "region of 200 floats", "roast-local", "32x64 tile"}) {
    CHECK(message.find(fragment) != std::string::npos);
  }
  local.compression = suggested_compression(message);  // 1010000 / 206848 = 4.88
  CHECK(*local.compression == 4.88);
  CHECK_NOTHROW(p.finalize(local));

  Planner q;
  q.matrix("big", 10000, 1000);
  q.matrix("small", 64, 64);
  MemoryConfig hashednet = compressed(10000);
  hashednet.scheme = Scheme::hashednet;
  expect_error([&] { q.finalize(hashednet); }, {"\"small\" (64 x 64)", "region of 0 floats", "one cell", "at most"});
}

TEST_CASE("memory errors: invalid config values", "[memory]") {
  expect_error([] { mlp().finalize(compressed(0.5)); }, {"memory.compression = 0.5", "below 1", "dense"});
  MemoryConfig c;
  expect_error([&] { mlp().finalize(c); }, {"needs a size", "memory.compression"});
  c.compression = 4;
  c.floats = 1000;
  expect_error([&] { mlp().finalize(c); }, {"only one of"});
  c = compressed(4);
  c.tile_rows = 0;
  expect_error([&] { mlp().finalize(c); }, {"memory.tile", "[0, 64]", "Example: [32, 64]"});
  c = compressed(4);
  c.tile_cols = -3;
  expect_error([&] { mlp().finalize(c); }, {"memory.tile", "[32, -3]"});
  c = compressed(4);
  c.embedding_chunk = 0;
  expect_error([&] { mlp().finalize(c); }, {"memory.embedding_chunk", "got 0"});
  c = compressed(4);
  c.init_scale = 0;
  expect_error([&] { mlp().finalize(c); }, {"memory.init_scale", "> 0"});
  c = compressed(4);
  c.exact_threshold = -1;
  expect_error([&] { mlp().finalize(c); }, {"memory.exact_threshold", "got -1"});
  c = compressed(4);
  c.scheme = Scheme::hashednet;
  c.sign_mode = SignMode::tile;
  expect_error([&] { mlp().finalize(c); }, {"memory.sign = tile", "hashednet", "element"});
  c = compressed(4);
  c.scheme = Scheme::exact;
  expect_error([&] { mlp().finalize(c); }, {"memory.scheme", "not a memory scheme"});
  c = MemoryConfig{};
  c.scheme = Scheme::dense;
  c.floats = 1000;
  expect_error([&] { mlp().finalize(c); }, {"memory.floats = 1000", "dense stores all 1000188"});
  c.floats.reset();
  c.compression = 2;
  expect_error([&] { mlp().finalize(c); }, {"memory.compression = 2", "dense"});
  c = MemoryConfig{};
  c.floats = 2000000;
  expect_error([&] { mlp().finalize(c); }, {"2000000 floats", "n = 1000188", "at most 1000188"});
  c.floats = 0;
  expect_error([&] { mlp().finalize(c); }, {"memory.floats = 0", "[1, 2^40]"});
  c = MemoryConfig{};
  c.bytes = "2B";
  expect_error([&] { mlp().finalize(c); }, {"memory.bytes = \"2B\"", "between 1 and 2^40 floats"});
}

TEST_CASE("memory errors: unknown names and unreadable byte strings", "[memory]") {
  expect_error([] { parse_scheme("roasted"); }, {"\"roasted\"", "dense, roast, roast-local, hashednet"});
  expect_error([] { parse_sign_mode("both"); }, {"\"both\"", "none, tile, element"});
  for (const char* text : {"", "MB", "4XB", "-4MB", "1.2.3KB", "4 M B", "abc", "4mb"}) {
    expect_error([&] { parse_bytes(text); }, {"memory.bytes", std::string("\"") + text + "\"", "Examples"});
  }
}

TEST_CASE("memory errors: invalid declarations", "[memory]") {
  Planner p;
  p.matrix("w", 10, 10);
  expect_error([&] { p.matrix("w", 5, 5); }, {"\"w\" is declared twice"});
  expect_error([&] { p.matrix("", 5, 5); }, {"needs a name"});
  expect_error([&] { p.matrix("zero", 0, 5); }, {"\"zero\"", "0 x 5", "[1, 2^31]"});
  expect_error([&] { p.matrix("huge", 5, (std::int64_t(1) << 31) + 1); }, {"\"huge\"", "[1, 2^31]"});
  TensorSpec no_init{"no_init", TensorKind::matrix, 4, 4, 0, {}, {}};
  expect_error([&] { p.declare(no_init); }, {"\"no_init\" needs an init"});
  expect_error([] { Planner().finalize(compressed(2)); }, {"no tensors declared"});
  const MemoryPlan plan = mlp().finalize(compressed(4));
  expect_error([&] { plan.tensor("fc.wieght"); }, {"no tensor named \"fc.wieght\"", "fc.weight, fc.bias, norm.gain"});
}

TEST_CASE("memory errors: reading hashed or foreign tensors", "[memory]") {
  const Memory memory(mlp().finalize(compressed(4)));
  expect_error([&] { read_exact(memory, memory.plan().mapping("fc.weight")); }, {"read_exact", "roast", "ROAST-MM"});
  expect_error([&] { read_exact(memory, memory.plan().mapping("fc.bias"), {7, 7}); },
               {"read_exact", "[7, 7]", "has 100"});
  Mapping foreign = memory.plan().mapping("fc.bias");
  foreign.region_base = memory.n_floats();
  expect_error([&] { materialize(memory, foreign); }, {"materialize", "does not fit this memory"});
}
