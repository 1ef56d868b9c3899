// Cell loads, load statistics and gradient-scale sums: against a brute-force count over
// every virtual weight, and against the expected spread of a random tile placement.
#include <cmath>
#include <cstdint>
#include <vector>

#include "roast/memory.h"
#include "support/catch.h"

using namespace roast;

namespace {
Planner edge_model() {
  Planner p;
  p.embedding("embed", 300, 80, 0.1f);  // chunk 32, last chunk 16 wide
  p.matrix("a", 100, 150);              // edge tiles: 100 = 3*32 + 4, 150 = 2*64 + 22
  p.vector("a.bias", 150, 0.0f);
  p.matrix("b", 150, 64, 50);
  p.matrix("tiny", 10, 10);
  return p;
}

// Brute force: one count and one lambda^2 per virtual weight.
void brute_force(const MemoryPlan& plan, std::vector<std::uint32_t>& loads, std::vector<double>& scale) {
  loads.assign(std::size_t(plan.n_floats()), 0);
  scale.assign(std::size_t(plan.n_floats()), 0.0);
  for (const PlannedTensor& t : plan.tensors()) {
    const Mapping& m = t.mapping;
    for (std::int64_t r = 0; r < m.rows; ++r) {
      for (std::int64_t c = 0; c < m.cols; ++c) {
        loads[std::size_t(m.loc(r, c))] += 1;
        scale[std::size_t(m.loc(r, c))] += double(m.lambda) * m.lambda;
      }
    }
  }
}

MemoryPlan one_matrix(Scheme scheme, double compression, std::int32_t tile_rows, std::int32_t tile_cols) {
  Planner p;
  p.matrix("w", 2560, 2560);
  MemoryConfig c;
  c.scheme = scheme;
  c.compression = compression;
  c.tile_rows = tile_rows;
  c.tile_cols = tile_cols;
  c.seed = 5;
  return p.finalize(c);
}
}  // namespace

TEST_CASE("memory load: cell loads and gradient scale match a count over every weight", "[memory]") {
  for (Scheme scheme : {Scheme::dense, Scheme::roast, Scheme::roast_local, Scheme::hashednet}) {
    MemoryConfig c;
    c.scheme = scheme;
    if (scheme != Scheme::dense) c.compression = 3;
    c.seed = 9;
    const MemoryPlan plan = edge_model().finalize(c);
    std::vector<std::uint32_t> expected_loads;
    std::vector<double> expected_scale;
    brute_force(plan, expected_loads, expected_scale);
    INFO(scheme_name(scheme));
    CHECK(cell_loads(plan) == expected_loads);
    const std::vector<float> scale = gradient_scale(plan).to_vector();
    REQUIRE(scale.size() == expected_scale.size());
    double max_error = 0;
    std::size_t n_bad_zeros = 0;
    for (std::size_t j = 0; j < scale.size(); ++j) {
      max_error = std::max(max_error, std::abs(scale[j] - expected_scale[j]) / (1e-12 + expected_scale[j]));
      n_bad_zeros += (expected_scale[j] == 0.0) != (scale[j] == 0.0f) ? 1 : 0;
    }
    CHECK(max_error < 1e-6);
    CHECK(n_bad_zeros == 0);  // empty cells are exactly 0
    const std::int64_t exact_end = plan.n_exact_floats();
    CHECK(std::vector<float>(scale.begin(), scale.begin() + exact_end) == std::vector<float>(std::size_t(exact_end), 1.0f));
  }
}

TEST_CASE("memory load: statistics per region", "[memory]") {
  MemoryConfig c;
  c.scheme = Scheme::dense;
  const MemoryLoad dense = load_stats(edge_model().finalize(c));
  CHECK(dense.total.min_load == 1);
  CHECK(dense.total.max_load == 1);
  CHECK(dense.total.n_empty_cells == 0);
  CHECK(dense.total.mean_load == 1.0);

  c.scheme = Scheme::roast;
  c.compression = 4;
  const MemoryPlan plan = edge_model().finalize(c);
  const MemoryLoad load = load_stats(plan);
  REQUIRE(load.regions.size() == 2);
  CHECK(load.regions[0].region.name == "exact");
  CHECK(load.regions[0].stats.min_load == 1);
  CHECK(load.regions[0].stats.max_load == 1);
  const LoadStats& shared = load.regions[1].stats;
  CHECK(shared.n_cells == plan.n_floats() - plan.n_exact_floats());
  // Every virtual weight reads one cell: the mean load is n / m.
  CHECK(std::abs(load.total.mean_load - plan.compression()) < 1e-9 * plan.compression());
  CHECK(std::abs(shared.mean_load * double(shared.n_cells) - double(plan.n_virtual() - plan.n_exact_floats())) < 1e-3);
  CHECK(shared.min_load <= shared.max_load);
  CHECK(shared.empty_share() >= 0.0);
}

TEST_CASE("memory load: roast at 1x leaves 1/e of the cells empty", "[memory]") {
  // ROAST.md "Known weaknesses": with m = n a random tile placement leaves ~37% empty.
  const MemoryPlan plan = one_matrix(Scheme::roast, 1.0, 32, 64);
  const LoadStats s = load_stats(plan).total;
  INFO("empty share " << s.empty_share());
  CHECK(std::abs(s.empty_share() - std::exp(-1.0)) < 0.03);  // 3200 tiles: sd ~ 0.009
}

TEST_CASE("memory load: per-cell load follows the binomial spread of random tile starts", "[memory]") {
  // n_tiles tiles of T cells start uniformly in [0, R - T]: an interior cell is covered by
  // Binomial(n_tiles, T / (R - T + 1)) tiles. Small tiles make many independent blocks.
  const MemoryPlan plan = one_matrix(Scheme::roast, 10.0, 8, 8);
  const Region& region = plan.regions().back();
  const std::vector<std::uint32_t> loads = cell_loads(plan);
  const double n_tiles = 2560.0 * 2560.0 / 64.0, tile = 64.0;
  const double p = tile / (double(region.n_floats) - tile + 1.0);
  double sum = 0, sum_sq = 0, n = 0;
  for (std::int64_t j = region.base + 64; j < region.base + region.n_floats - 64; ++j) {  // interior
    sum += loads[std::size_t(j)];
    sum_sq += double(loads[std::size_t(j)]) * loads[std::size_t(j)];
    n += 1;
  }
  const double mean = sum / n, variance = sum_sq / n - mean * mean;
  const double expected_mean = n_tiles * p, expected_variance = n_tiles * p * (1 - p);
  INFO("mean " << mean << " vs " << expected_mean << ", variance " << variance << " vs " << expected_variance);
  CHECK(std::abs(mean - expected_mean) < 0.01 * expected_mean);
  CHECK(std::abs(variance - expected_variance) < 0.1 * expected_variance);

  // hashednet: every weight independently uniform: Binomial(n, 1 / R) per cell.
  const MemoryPlan hashed = one_matrix(Scheme::hashednet, 10.0, 32, 64);
  const LoadStats s = load_stats(hashed).total;
  const double lambda_poisson = 2560.0 * 2560.0 / double(hashed.n_floats());
  CHECK(std::abs(s.mean_load - lambda_poisson) < 1e-9 * lambda_poisson);
  CHECK(std::abs(s.std_load * s.std_load - lambda_poisson) < 0.03 * lambda_poisson);
  CHECK(std::abs(s.empty_share() - std::exp(-lambda_poisson)) < 2e-4);
}
