// RANDOMFOLD (memory.mapping = fold) and the extreme-compression rules of the planner:
// fold at 1x is the dense model through the same kernels, every folded cell carries floor or
// ceil of n / P weights, the pinned fold vectors of docs/roast.md, and plans at 1000x.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "kernels/backend.h"
#include "roast/error.h"
#include "roast/memory.h"
#include "roast/plan.h"
#include "support/catch.h"

using namespace roast;
namespace kc = roast::kernels::cpu;
using i64 = std::int64_t;

namespace {
// Matrices whose sides are multiples of the 32 x 64 tile and an embedding of D = 64: no padding.
Planner padded_free() {
  Planner p;
  p.matrix("a", 256, 128);
  p.vector("a.bias", 128, 0.0f);
  p.matrix("b", 128, 192);
  p.embedding("emb", 100, 64, 1.0f);
  p.matrix("c", 96, 64);
  return p;
}

MemoryConfig folded(double compression, Scheme scheme = Scheme::roast) {
  MemoryConfig c;
  c.scheme = scheme;
  c.compression = compression;
  c.placement = Placement::fold;
  c.seed = 7;
  return c;
}

std::vector<float> random_floats(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}
}  // namespace

TEST_CASE("fold: at 1x the map is the identity and computes the dense model through the kernels", "[memory][fold]") {
  const MemoryPlan plan = padded_free().finalize(folded(1));
  REQUIRE(plan.n_floats() == plan.n_virtual());
  CHECK(plan.n_unused_floats() == 0);
  const std::vector<std::uint32_t> loads = cell_loads(plan);
  CHECK(*std::min_element(loads.begin(), loads.end()) == 1);
  CHECK(*std::max_element(loads.begin(), loads.end()) == 1);
  // Identity: the tiles lie in order from the start of the shared region.
  const Mapping& a = plan.mapping("a");
  CHECK(a.folded());
  CHECK(a.tile_start(0, 0) == a.region_base);
  CHECK(a.tile_start(0, 1) == a.region_base + 2048);
  CHECK(a.tile_start(7, 1) == a.region_base + 15 * 2048);
  CHECK(plan.mapping("b").tile_start(0, 0) == a.region_base + 256 * 128);

  // Any dense weights W: the memory M[loc] = W / (lambda * sign) makes the fold model compute
  // X * W exactly (the same kernels as every roast model).
  std::vector<float> memory(std::size_t(plan.n_floats()), 0.0f);
  const i64 M = 5;
  for (const char* name : {"a", "b", "c"}) {
    const Mapping& map = plan.mapping(name);
    const std::vector<float> W = random_floats(std::size_t(map.rows * map.cols), 11);
    for (i64 k = 0; k < map.rows; ++k)
      for (i64 n = 0; n < map.cols; ++n)
        memory[std::size_t(map.loc(k, n))] = W[std::size_t(k * map.cols + n)] / (map.lambda * map.sign(k, n));
    const std::vector<float> X = random_floats(std::size_t(M * map.rows), 12);
    std::vector<float> Y(std::size_t(M * map.cols), -99.0f);
    kc::roast_mm_forward(map, {}, nullptr, memory.data(), X.data(), M, Y.data());
    double max_err = 0, max_ref = 0;
    for (i64 m = 0; m < M; ++m)
      for (i64 n = 0; n < map.cols; ++n) {
        double ref = 0;
        for (i64 k = 0; k < map.rows; ++k) ref += double(X[std::size_t(m * map.rows + k)]) * W[std::size_t(k * map.cols + n)];
        max_err = std::max(max_err, std::fabs(ref - Y[std::size_t(m * map.cols + n)]));
        max_ref = std::max(max_ref, std::fabs(ref));
      }
    INFO(name << ": max error " << max_err << " of max " << max_ref);
    CHECK(max_err <= 1e-5 * std::max(1.0, max_ref));
  }
}

TEST_CASE("fold: every folded cell carries floor or ceil of n / P weights", "[memory][fold]") {
  for (double compression : {1.5, 3.0, 7.3, 20.0, 60.0}) {
    for (Scheme scheme : {Scheme::roast, Scheme::roast_local}) {
      const MemoryPlan plan = padded_free().finalize(folded(compression, scheme));
      const MemoryLoad load = load_stats(plan);
      for (const RegionLoad& r : load.regions) {
        if (r.region.name == "exact") continue;
        INFO("compression " << compression << ", scheme " << scheme_name(scheme) << ", region " << r.region.name);
        if (r.region.name.find("fold tail") != std::string::npos) {
          CHECK(r.stats.max_load == 0);
          continue;
        }
        CHECK(r.stats.max_load - r.stats.min_load <= 1);
        CHECK(r.stats.min_load == i64(std::floor(r.stats.mean_load)));
        CHECK(r.stats.min_load >= 1);
      }
      CHECK(plan.n_unused_floats() < 2048 * (scheme == Scheme::roast ? 1 : 4));
    }
  }
  // The hash placement at the same size leaves cells empty and spreads the load.
  MemoryConfig hashed = folded(3.0);
  hashed.placement = Placement::hash;
  const LoadStats h = load_stats(padded_free().finalize(hashed)).regions[1].stats;
  CHECK(h.max_load - h.min_load > 1);
}

TEST_CASE("fold: pinned tile starts (docs/roast.md, Mapping F)", "[memory][fold]") {
  Mapping m;
  m.scheme = Scheme::roast;
  m.sign_mode = SignMode::tile;
  m.seed = 42;
  m.rows = 256;
  m.cols = 128;
  m.region_base = 100;
  m.region_size = 10000;
  m.tile_rows = 32;
  m.tile_cols = 64;
  m.fold_offset = 2048;
  m.fold_piece = 8192;
  m.fold_granule = 2048;
  CHECK(m.tile_start(0, 0) == 2148);
  CHECK(m.tile_start(0, 1) == 4196);
  CHECK(m.tile_start(1, 0) == 6244);
  CHECK(m.tile_start(2, 1) == 6244);
  CHECK(m.fold_cell(8192) == 2048);
  CHECK(m.fold_cell(2 * 8192) == 0);
  CHECK(m.fold_cell(3 * 8192) == 2048);
  CHECK(m.loc(255, 127) == 8291);
  CHECK(m.loc(100, 70) == 362);
}

TEST_CASE("fold: refused for hashednet", "[memory][fold]") {
  CHECK_THROWS_AS(padded_free().finalize(folded(10, Scheme::hashednet)), Error);
}

TEST_CASE("extreme compression: small tensors hashed, compression over hashed tensors, tiles halved", "[memory]") {
  // 10^6 hashed weights, 188 always-exact cells, five small matrices.
  Planner p;
  p.matrix("fc.weight", 1000, 1000);
  p.vector("fc.bias", 100, 0.0f);
  p.vector("norm.gain", 88, 1.0f);
  for (int i = 0; i < 5; ++i) p.matrix("small" + std::to_string(i), 50, 40);
  MemoryConfig c;
  c.compression = 1000;
  const MemoryPlan plan = p.finalize(c);
  CHECK(plan.n_small_hashed() == 5);
  CHECK(plan.n_exact_floats() == 188);
  CHECK_FALSE(plan.compression_over_hashed());
  CHECK(plan.n_floats() == 1011);
  CHECK(plan.tile_rows() * plan.tile_cols() * 16 <= 1011 - 188);
  CHECK(plan.compression_hashed() == Approx(1010000.0 / (1011 - 188)));
  // The same at 10x is unchanged by the rules (it fits as configured).
  c.compression = 10;
  const MemoryPlan ten = p.finalize(c);
  CHECK(ten.n_small_hashed() == 0);
  CHECK(ten.tile_rows() == 32);
  CHECK(ten.tile_cols() == 64);

  // Always-exact cells above half of n / c: the compression counts the hashed tensors only.
  Planner q;
  q.matrix("fc.weight", 1000, 1000);
  for (int i = 0; i < 10; ++i) q.vector("bias" + std::to_string(i), 1000, 0.0f);
  c.compression = 1000;
  const MemoryPlan paper = q.finalize(c);
  CHECK(paper.compression_over_hashed());
  CHECK(paper.n_floats() == 10000 + 1000);
  CHECK(paper.compression_hashed() == Approx(1000.0));
  c.compression_of = CompressionOf::all;
  CHECK_THROWS_AS(q.finalize(c), Error);

  // Per-tensor regions: one unit each first, then the rest in proportion.
  Planner r;
  r.matrix("big", 10000, 1000);
  r.matrix("small", 64, 64);
  MemoryConfig h;
  h.scheme = Scheme::hashednet;
  h.compression = 10000;
  const MemoryPlan hp = r.finalize(h);
  CHECK(hp.mapping("small").region_size >= 1);
  CHECK(hp.mapping("big").region_size + hp.mapping("small").region_size == hp.n_floats() - hp.n_exact_floats());
}
