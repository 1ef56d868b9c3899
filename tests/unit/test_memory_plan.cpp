// The memory plan: layouts of the four schemes, regions, lambda, determinism.
#include <cmath>
#include <cstdint>
#include <vector>

#include "roast/memory.h"
#include "support/catch.h"

using namespace roast;

namespace {
// A small model with every kind of tensor: matrices with edge tiles, an embedding, a
// matrix under the exact threshold, biases and a norm gain.
Planner small_model() {
  Planner p;
  p.embedding("embed", 500, 80, 0.02f);  // D = 80: chunks of 32, 32, 16
  p.matrix("fc1.weight", 80, 200);       // edge tiles in both dimensions
  p.vector("fc1.bias", 200, 0.0f);
  p.vector("norm.gain", 200, 1.0f);
  p.matrix("fc2.weight", 200, 150, 300);
  p.matrix("tiny.weight", 20, 30);  // 600 elements < exact_threshold
  p.vector("fc2.bias", 150, 0.0f);
  return p;
}

MemoryConfig config_for(Scheme scheme, double compression) {
  MemoryConfig c;
  c.scheme = scheme;
  if (scheme != Scheme::dense) c.compression = compression;
  c.seed = 17;
  return c;
}

bool same_mapping(const Mapping& a, const Mapping& b) {
  return a.scheme == b.scheme && a.sign_mode == b.sign_mode && a.kind == b.kind && a.seed == b.seed &&
         a.layer == b.layer && a.rows == b.rows && a.cols == b.cols && a.region_base == b.region_base &&
         a.region_size == b.region_size && a.tile_rows == b.tile_rows && a.tile_cols == b.tile_cols &&
         a.lambda == b.lambda;
}
}  // namespace

TEST_CASE("memory plan: exact cells come first, small tensors and vectors are exact", "[memory]") {
  const MemoryPlan plan = small_model().finalize(config_for(Scheme::roast, 4));
  const std::int64_t n_exact = 200 + 200 + 20 * 30 + 150;
  CHECK(plan.n_exact_floats() == n_exact);
  CHECK(plan.n_virtual() == 500 * 80 + 80 * 200 + n_exact + 200 * 150);
  CHECK(plan.n_floats() == (plan.n_virtual() + 3) / 4);  // ceil(n / compression)
  CHECK(plan.compression() <= 4.0);
  std::int64_t cursor = 0;
  for (const PlannedTensor& t : plan.tensors()) {
    if (!t.exact()) continue;
    CHECK(t.mapping.region_base == cursor);  // declaration order
    CHECK(t.mapping.lambda == 1.0f);
    CHECK(t.mapping.sign_mode == SignMode::none);
    cursor += t.n_virtual();
  }
  CHECK(cursor == n_exact);
  CHECK(plan.tensor("tiny.weight").exact());
  CHECK(plan.tensor("fc1.bias").exact());
  CHECK_FALSE(plan.tensor("fc1.weight").exact());
  CHECK(plan.tensor("embed").mapping.tile_rows == 1);
  CHECK(plan.tensor("embed").mapping.tile_cols == 32);
  CHECK(plan.tensor("fc1.weight").mapping.tile_rows == 32);
  CHECK(plan.tensor("fc1.weight").mapping.tile_cols == 64);
  for (std::size_t i = 0; i < plan.tensors().size(); ++i) CHECK(plan.tensors()[i].mapping.layer == i);
}

TEST_CASE("memory plan: roast shares one region, roast-local and hashednet get disjoint ones", "[memory]") {
  SECTION("roast") {
    const MemoryPlan plan = small_model().finalize(config_for(Scheme::roast, 4));
    REQUIRE(plan.regions().size() == 2);
    CHECK(plan.regions()[1].name == "shared");
    for (const PlannedTensor& t : plan.tensors()) {
      if (t.exact()) continue;
      CHECK(t.mapping.scheme == Scheme::roast);
      CHECK(t.mapping.region_base == plan.n_exact_floats());
      CHECK(t.mapping.region_size == plan.n_floats() - plan.n_exact_floats());
    }
  }
  for (Scheme scheme : {Scheme::roast_local, Scheme::hashednet}) {
    const MemoryPlan plan = small_model().finalize(config_for(scheme, 4));
    std::int64_t cursor = plan.n_exact_floats(), n_hashed = 0;
    for (const PlannedTensor& t : plan.tensors()) n_hashed += t.exact() ? 0 : t.n_virtual();
    const double hashed_floats = double(plan.n_floats() - plan.n_exact_floats());
    for (const PlannedTensor& t : plan.tensors()) {
      if (t.exact()) continue;
      CHECK(t.mapping.scheme == scheme);
      CHECK(t.mapping.region_base == cursor);  // disjoint and back to back
      const double share = double(t.n_virtual()) * hashed_floats / double(n_hashed);
      CHECK(std::abs(double(t.mapping.region_size) - share) < 1.0);  // proportional to its size
      cursor += t.mapping.region_size;
    }
    CHECK(cursor == plan.n_floats());
    CHECK(plan.tensor("fc1.weight").mapping.sign_mode == (scheme == Scheme::hashednet ? SignMode::element
                                                                                          : SignMode::tile));
  }
}

TEST_CASE("memory plan: regions cover the memory once and every location stays inside its region", "[memory]") {
  for (Scheme scheme : {Scheme::dense, Scheme::roast, Scheme::roast_local, Scheme::hashednet}) {
    const MemoryPlan plan = small_model().finalize(config_for(scheme, 3));
    std::int64_t cursor = 0;
    for (const Region& region : plan.regions()) {
      CHECK(region.base == cursor);
      cursor += region.n_floats;
    }
    CHECK(cursor == plan.n_floats());
    for (const PlannedTensor& t : plan.tensors()) {
      const Mapping& m = t.mapping;
      const std::int64_t end = m.region_base + m.region_size;
      bool inside = true, contiguous = true;
      for (std::int64_t r = 0; r < m.rows; ++r) {
        for (std::int64_t c = 0; c < m.cols; ++c) {
          const std::int64_t cell = m.loc(r, c);
          inside = inside && cell >= m.region_base && cell < end;
          if (m.tiled()) {
            const std::int64_t start = m.tile_start(r / m.tile_rows, c / m.tile_cols);
            inside = inside && start + m.tile_size() <= end;  // no tile wraps or spills over
            contiguous = contiguous && cell == start + (r % m.tile_rows) * m.tile_cols + c % m.tile_cols;
          }
        }
      }
      INFO(scheme_name(scheme) << " tensor " << t.spec.name);
      CHECK(inside);
      CHECK(contiguous);
    }
  }
}

TEST_CASE("memory plan: dense is the identity, a bijection onto m = n cells", "[memory]") {
  const MemoryPlan plan = small_model().finalize(config_for(Scheme::dense, 1));
  CHECK(plan.n_floats() == plan.n_virtual());
  CHECK(plan.compression() == 1.0);
  std::vector<int> reads(std::size_t(plan.n_floats()), 0);
  std::int64_t n_not_row_major = 0;
  for (const PlannedTensor& t : plan.tensors()) {
    CHECK(t.mapping.lambda == 1.0f);
    CHECK((t.mapping.scheme == Scheme::dense || t.mapping.scheme == Scheme::exact));
    for (std::int64_t r = 0; r < t.mapping.rows; ++r) {
      for (std::int64_t c = 0; c < t.mapping.cols; ++c) {
        n_not_row_major += t.mapping.loc(r, c) == t.mapping.region_base + r * t.mapping.cols + c ? 0 : 1;
        reads[std::size_t(t.mapping.loc(r, c))] += 1;
      }
    }
  }
  CHECK(n_not_row_major == 0);
  std::int64_t n_once = 0;
  for (int n : reads) n_once += n == 1 ? 1 : 0;
  CHECK(n_once == plan.n_floats());
  // compression = 1 is accepted too and plans the same memory.
  MemoryConfig c = config_for(Scheme::dense, 1);
  c.compression = 1.0;
  CHECK(small_model().finalize(c).n_floats() == plan.n_floats());
}

TEST_CASE("memory plan: lambda = target_std / (init_scale / sqrt(3))", "[memory]") {
  Planner p;
  p.matrix("w", 784, 300);
  p.matrix("w_fan", 300, 100, 1200);
  p.embedding("e", 1000, 64, 0.02f);
  MemoryConfig c;
  c.compression = 8;
  c.init_scale = 0.05f;
  c.exact_threshold = 0;
  const MemoryPlan plan = p.finalize(c);
  const auto expect_lambda = [&](const char* name, double target_std) {
    const PlannedTensor& t = plan.tensor(name);
    INFO(name);
    CHECK(std::abs(t.target_std - target_std) <= 1e-6 * target_std);
    CHECK(std::abs(t.mapping.lambda - target_std / (0.05 / std::sqrt(3.0))) <= 1e-5 * t.mapping.lambda);
  };
  expect_lambda("w", 1.0 / std::sqrt(3.0 * 784));  // = 1 / (a sqrt(fan_in)) = 0.714
  CHECK(std::abs(plan.tensor("w").mapping.lambda - 1.0 / (0.05 * 28.0)) < 1e-5);
  expect_lambda("w_fan", 1.0 / std::sqrt(3.0 * 1200));
  expect_lambda("e", 0.02);
}

TEST_CASE("memory plan: same seed same map, another seed another map", "[memory]") {
  for (Scheme scheme : {Scheme::roast, Scheme::roast_local, Scheme::hashednet}) {
    MemoryConfig c = config_for(scheme, 5);
    const MemoryPlan a = small_model().finalize(c), b = small_model().finalize(c);
    c.seed = 18;
    const MemoryPlan other = small_model().finalize(c);
    REQUIRE(a.tensors().size() == b.tensors().size());
    for (std::size_t i = 0; i < a.tensors().size(); ++i) {
      CHECK(same_mapping(a.tensors()[i].mapping, b.tensors()[i].mapping));
    }
    const Mapping& m1 = a.mapping("fc2.weight");
    const Mapping& m2 = other.mapping("fc2.weight");
    int n_same = 0, n_total = 0;
    for (std::int64_t r = 0; r < m1.rows; r += 7) {
      for (std::int64_t c = 0; c < m1.cols; c += 5) {
        n_same += m1.loc(r, c) == m2.loc(r, c) ? 1 : 0;
        ++n_total;
      }
    }
    INFO(scheme_name(scheme) << ": " << n_same << " of " << n_total << " locations equal across seeds");
    CHECK(n_same * 20 < n_total);
  }
}

TEST_CASE("memory plan: budgets by floats and bytes, and a region of exactly one tile", "[memory]") {
  MemoryConfig c;
  c.floats = 20000;
  CHECK(small_model().finalize(c).n_floats() == 20000);
  c.floats.reset();
  c.bytes = "80KB";
  CHECK(small_model().finalize(c).n_floats() == 20000);
  c.bytes = "64KiB";
  CHECK(small_model().finalize(c).n_floats() == 16384);
  // The smallest roast memory: exact cells plus one tile; every tile starts at the region base.
  Planner p;
  p.matrix("w", 100, 100);
  p.vector("b", 100, 0.0f);
  MemoryConfig one_tile;
  one_tile.floats = 100 + 32 * 64;
  const MemoryPlan plan = p.finalize(one_tile);
  const Mapping& w = plan.mapping("w");
  CHECK(w.region_size == w.tile_size());
  for (std::int64_t tr = 0; tr < w.n_tile_rows(); ++tr) {
    for (std::int64_t tc = 0; tc < w.n_tile_cols(); ++tc) CHECK(w.tile_start(tr, tc) == 100);
  }
}

TEST_CASE("memory plan: names, parsers and bytes strings", "[memory]") {
  CHECK(parse_scheme("roast-local") == Scheme::roast_local);
  CHECK(parse_scheme("roast_local") == Scheme::roast_local);
  for (Scheme s : {Scheme::dense, Scheme::roast, Scheme::roast_local, Scheme::hashednet}) {
    CHECK(parse_scheme(scheme_name(s)) == s);
  }
  for (SignMode s : {SignMode::none, SignMode::tile, SignMode::element}) CHECK(parse_sign_mode(sign_mode_name(s)) == s);
  CHECK(parse_bytes("4MB") == 4000000);
  CHECK(parse_bytes("512KiB") == 524288);
  CHECK(parse_bytes(" 2 MiB ") == 2097152);
  CHECK(parse_bytes("1.5GB") == 1500000000);
  CHECK(parse_bytes("4096") == 4096);
  CHECK(parse_bytes("10B") == 10);
  CHECK(parse_bytes("1TiB") == (std::int64_t(1) << 40));
}
