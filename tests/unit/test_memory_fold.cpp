// RANDOMFOLD (memory.mapping = fold) and the extreme-compression rules of the planner:
// fold at 1x is the dense model through the same kernels, every tile of many plans enumerated
// against the load bounds docs/roast.md proves (floor or ceil of n / m when the unit divides the
// region), the pinned fold vectors of docs/roast.md, and plans at 1000x.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
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

namespace {
// Every tile of every folded tensor of `region`, enumerated: each adds 1 to each of its BR*BC
// cells (edge padding included, so this counts sequence cells; with no padded tile it equals
// cell_loads). Also checks that every tile lies wholly inside the region.
std::vector<i64> sequence_coverage(const MemoryPlan& plan, const Region& region) {
  std::vector<i64> cover(std::size_t(region.n_floats), 0);
  for (const PlannedTensor& t : plan.tensors()) {
    const Mapping& m = t.mapping;
    if (!m.folded() || m.region_base != region.base) continue;
    for (i64 tr = 0; tr < m.n_tile_rows(); ++tr)
      for (i64 tc = 0; tc < m.n_tile_cols(); ++tc) {
        const i64 start = m.tile_start(tr, tc) - region.base;
        REQUIRE(start >= 0);
        REQUIRE(start + m.tile_size() <= region.n_floats);
        for (i64 c = start; c < start + m.tile_size(); ++c) cover[std::size_t(c)] += 1;
      }
  }
  return cover;
}

// The bounds docs/roast.md proves for a region: per run of one unit size u (G = u, q = R / u,
// P = q u, s = R - P, F full pieces), a cell c gets F or F + 1 from the run if c mod u >= s,
// and F - ceil(F / (q + 1)) to F - floor(F / (q + 1)) + 1 otherwise (the + 1 only when the
// run ends in a partial piece). The identity (P = R) gives 1 on [0, L) and 0 after.
void check_fold_bounds(const MemoryPlan& plan, const Region& region) {
  const std::vector<i64> cover = sequence_coverage(plan, region);
  struct Run { i64 unit, piece, length; };
  std::vector<Run> runs;  // one per unit size
  i64 total = 0;
  for (const PlannedTensor& t : plan.tensors()) {
    const Mapping& m = t.mapping;
    if (!m.folded() || m.region_base != region.base) continue;
    const i64 cells = m.n_tile_rows() * m.n_tile_cols() * m.tile_size();
    total += cells;
    auto run = std::find_if(runs.begin(), runs.end(), [&](const Run& x) { return x.unit == m.fold_granule; });
    if (run == runs.end()) {
      runs.push_back({m.fold_granule, m.fold_piece, cells});
    } else {
      run->length += cells;
      CHECK(m.fold_piece == run->piece);
    }
  }
  REQUIRE(!runs.empty());
  const i64 R = region.n_floats;
  std::vector<i64> lo(std::size_t(R), 0), hi(std::size_t(R), 0);
  if (total <= R) {  // the identity
    for (const Run& run : runs) CHECK(run.piece == R);
    for (i64 c = 0; c < R; ++c) lo[std::size_t(c)] = hi[std::size_t(c)] = c < total ? 1 : 0;
  } else {
    for (const Run& run : runs) {
      const i64 q = R / run.unit, s = R - q * run.unit, F = run.length / run.piece;
      REQUIRE(run.piece == q * run.unit);
      const i64 partial = run.length % run.piece != 0 ? 1 : 0;
      for (i64 c = 0; c < R; ++c) {
        const bool short_cell = c % run.unit < s;
        lo[std::size_t(c)] += F - (short_cell ? (F + q) / (q + 1) : 0);
        hi[std::size_t(c)] += F + partial - (short_cell ? F / (q + 1) : 0);
      }
    }
  }
  i64 bad = 0, first_bad = -1;
  for (i64 c = 0; c < R; ++c)
    if (cover[std::size_t(c)] < lo[std::size_t(c)] || cover[std::size_t(c)] > hi[std::size_t(c)]) {
      if (bad++ == 0) first_bad = c;
    }
  INFO("region " << region.name << " of " << R << " cells, sequence " << total << " cells, " << runs.size()
                 << " run(s); first cell out of bounds: " << first_bad);
  CHECK(bad == 0);
  CHECK(std::accumulate(cover.begin(), cover.end(), i64(0)) == total);
  // One run whose unit divides R (or the identity): every cell carries floor or ceil of L / R.
  if (runs.size() == 1 && R % runs[0].unit == 0) {
    const auto [mn, mx] = std::minmax_element(cover.begin(), cover.end());
    CHECK(*mn == total / R);
    CHECK(*mx == (total + R - 1) / R);
  }
  // No cell is left unused once a run holds two whole pieces (consecutive pieces have
  // different holes). With less (compression below about 2) the last, partial piece may miss
  // the first piece's hole.
  const bool two_pieces = total > R && std::any_of(runs.begin(), runs.end(), [](const Run& r) { return r.length >= 2 * r.piece; });
  if (two_pieces || total == R) CHECK(*std::min_element(cover.begin(), cover.end()) >= 1);
}

MemoryPlan plan_of(const Planner& p, i64 floats, int tile_rows, int tile_cols, int chunk, Scheme scheme) {
  MemoryConfig c;
  c.scheme = scheme;
  c.floats = floats;
  c.tile_rows = tile_rows;
  c.tile_cols = tile_cols;
  c.embedding_chunk = chunk;
  c.placement = Placement::fold;
  c.tile_fit_auto = false;
  c.exact_threshold = 0;
  c.seed = 11;
  return p.finalize(c);
}
}  // namespace

TEST_CASE("fold: every tile's cells enumerated, per-cell counts within the proven bounds", "[memory][fold]") {
  // Matrices only (one run), with and without padded edge tiles; awkward tiles (3 x 5).
  Planner matrices;
  matrices.matrix("a", 256, 128);
  matrices.matrix("b", 100, 70);  // padded for every tile below
  matrices.matrix("c", 33, 65);
  // Matrices and embeddings (two or three runs: tiles, chunks of 32, a table of D = 20).
  Planner mixed = padded_free();
  mixed.embedding("narrow", 50, 20, 1.0f);
  struct Case { const Planner* p; int br, bc, chunk; };
  const Case cases[] = {{&matrices, 32, 64, 32}, {&matrices, 8, 8, 32}, {&matrices, 3, 5, 32},
                        {&mixed, 32, 64, 32},    {&mixed, 4, 8, 32},    {&mixed, 3, 5, 7}};
  for (const Case& k : cases) {
    i64 n = 0, n_exact = 0;
    for (const TensorSpec& s : k.p->specs()) {
      n += s.rows * s.cols;
      if (s.kind == TensorKind::vector) n_exact += s.rows * s.cols;
    }
    const i64 unit = i64(k.br) * k.bc;
    // Hashed regions (shared roast region sizes R): prime, just above / below multiples of the
    // tile, exact multiples, one tile plus one cell, and 1x.
    for (i64 R : {unit + 1, 2 * unit - 1, 2 * unit, 3 * unit + 7, i64(10007), 16 * unit, i64(40009), n - n_exact}) {
      for (Scheme scheme : {Scheme::roast, Scheme::roast_local}) {
        if (scheme == Scheme::roast_local && R < 8 * unit) continue;  // every tensor its own region
        if (R > n - n_exact) continue;
        INFO("tile " << k.br << "x" << k.bc << ", chunk " << k.chunk << ", R " << R << ", " << scheme_name(scheme));
        MemoryPlan plan;
        try {
          plan = plan_of(*k.p, n_exact + R, k.br, k.bc, k.chunk, scheme);
        } catch (const Error&) {
          CHECK(scheme == Scheme::roast_local);  // a per-tensor region below its tile: refused
          continue;
        }
        CHECK(plan.n_unused_floats() == 0);
        for (const Region& r : plan.regions())
          if (r.name != "exact") check_fold_bounds(plan, r);
      }
    }
  }
}

TEST_CASE("fold: with the unit dividing the region every cell carries floor or ceil of n / m weights",
          "[memory][fold]") {
  // No padded tile and one unit size, so load_stats (real weights) sees the sequence cells.
  Planner p;
  p.matrix("a", 256, 128);
  p.vector("a.bias", 128, 0.0f);
  p.matrix("b", 128, 192);
  p.matrix("c", 96, 64);
  const i64 n_hashed = 256 * 128 + 128 * 192 + 96 * 64;
  for (i64 blocks : {1, 2, 3, 5, 7, 13}) {
    const MemoryPlan plan = plan_of(p, 128 + blocks * 2048, 32, 64, 32, Scheme::roast);
    const LoadStats s = load_stats(plan).regions[1].stats;
    INFO(blocks << " tiles of memory");
    CHECK(s.min_load == n_hashed / (blocks * 2048));
    CHECK(s.max_load == (n_hashed + blocks * 2048 - 1) / (blocks * 2048));
  }
  // Not dividing: no cell unused, and the hash placement at the same size spreads the load more.
  for (double compression : {1.5, 3.0, 7.3, 20.0}) {
    MemoryConfig c = folded(compression);
    const MemoryPlan plan = padded_free().finalize(c);
    CHECK(plan.n_unused_floats() == 0);
    const LoadStats f = load_stats(plan).regions[1].stats;
    c.placement = Placement::hash;
    const LoadStats h = load_stats(padded_free().finalize(c)).regions[1].stats;
    INFO("compression " << compression << ": fold " << f.min_load << "-" << f.max_load << " std " << f.std_load
                        << ", hash " << h.min_load << "-" << h.max_load << " std " << h.std_load);
    // Runs shorter than two pieces can leave the first piece's hole empty (1.5x: 1,494 of
    // 46,550 cells, against 24% for the hash).
    if (compression >= 3) CHECK(f.min_load >= 1);
    CHECK(f.n_empty_cells * 5 < h.n_empty_cells);
    CHECK(f.std_load < h.std_load);
    CHECK(f.max_load - f.min_load < h.max_load - h.min_load);
  }
}

TEST_CASE("fold: at 1x the map is the identity for roast-local too", "[memory][fold]") {
  const MemoryPlan plan = padded_free().finalize(folded(1, Scheme::roast_local));
  CHECK(plan.n_unused_floats() == 0);
  for (const char* name : {"a", "b", "c"}) {
    const Mapping& m = plan.mapping(name);
    CHECK(m.tile_start(0, 0) == m.region_base);
    CHECK(m.tile_start(m.n_tile_rows() - 1, m.n_tile_cols() - 1) == m.region_base + m.region_size - m.tile_size());
  }
  const std::vector<std::uint32_t> loads = cell_loads(plan);
  CHECK(*std::min_element(loads.begin(), loads.end()) == 1);
  CHECK(*std::max_element(loads.begin(), loads.end()) == 1);
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
  CHECK(m.tile_start(2, 1) == 8052);
  // The region has s = 10000 - 8192 = 1808 cells more than a piece: piece p leaves
  // [hole G, hole G + s) free, hole = (p - 1) mod 5; slots at and after the hole move up by s.
  CHECK(m.fold_cell(8192) == 3856);       // piece 1: shift 1, hole 0
  CHECK(m.fold_cell(2 * 8192) == 0);      // piece 2: shift 0, hole 1
  CHECK(m.fold_cell(3 * 8192) == 2048);   // piece 3: shift 1, hole 2
  CHECK(m.fold_cell(5 * 8192) == 0);      // piece 5: shift 0, hole 4 = q: nothing moves
  CHECK(m.loc(255, 127) == 10099);        // the region's last cell
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

TEST_CASE("fold: tile_fit auto gives the shared region at least 16 tiles below 1x; strict keeps the tile",
          "[memory][fold]") {
  Planner p;
  p.matrix("conv", 288, 64);
  p.matrix("fc", 3136, 256);
  MemoryConfig c;
  c.placement = Placement::fold;
  c.compression = 100;  // about 8,200 hashed cells: 4 tiles of 32 x 64
  const MemoryPlan fold = p.finalize(c);
  const std::int64_t region = fold.n_floats() - fold.n_exact_floats();
  const std::int64_t tile = std::int64_t(fold.tile_rows()) * fold.tile_cols();
  CHECK(region >= 16 * tile);
  CHECK(region < 32 * tile);  // halved no further than needed
  // The hash keeps the configured tile (it fits), and so does the fold under tile_fit strict.
  MemoryConfig hash = c;
  hash.placement = Placement::hash;
  CHECK(p.finalize(hash).tile_rows() * p.finalize(hash).tile_cols() == 32 * 64);
  MemoryConfig strict = c;
  strict.tile_fit_auto = false;
  CHECK(p.finalize(strict).tile_rows() * p.finalize(strict).tile_cols() == 32 * 64);
  // At 1x the fold is the identity whatever the tile: it is left as configured.
  c.compression = 1;
  CHECK(p.finalize(c).tile_rows() * p.finalize(c).tile_cols() == 32 * 64);
}
