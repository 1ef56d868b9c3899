// ROAST-MM kernels against a plain reference: W materialised with loops from the
// mapping's loc / sign / lambda, then triple loops in double. Every scheme, every sign
// mode, edge tiles, tiny K or N, 1 and 2 OpenMP threads, and the determinism of dM.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/backend.h"
#include "roast/error.h"
#include "roast/plan.h"
#include "support/catch.h"
#include "support/threads.h"
#include "support/close.h"
#include "support/mapping_fixture.h"

using namespace roast;
namespace kc = roast::kernels::cpu;
using i64 = std::int64_t;

namespace {

using test::make_mapping;
using test::random_vector;

// Reference W[k, n] = lambda * sign(k, n) * memory[loc(k, n)], from the mapping's own functions.
std::vector<double> reference_w(const Mapping& map, const std::vector<float>& memory) {
  std::vector<double> w(static_cast<std::size_t>(map.rows * map.cols));
  for (i64 k = 0; k < map.rows; ++k)
    for (i64 n = 0; n < map.cols; ++n)
      w[std::size_t(k * map.cols + n)] = double(map.lambda) * map.sign(k, n) * memory[std::size_t(map.loc(k, n))];
  return w;
}

using test_support::check_close;

struct Shape3 {
  i64 M, K, N;
  int bk, bn;
};

// One (shape, scheme, sign) case: forward, dX, dM (and the materialise / dense-accumulate
// fallbacks) against the reference.
void check_case(const Shape3& s, Scheme scheme, SignMode sign, std::uint64_t seed) {
  const Mapping map = make_mapping(scheme, sign, s.K, s.N, s.bk, s.bn, seed);
  const i64 n_cells = map.region_base + map.region_size + 7;  // 7 cells past the region must stay untouched
  const std::vector<float> memory = random_vector(n_cells, seed + 1);
  const std::vector<float> X = random_vector(s.M * s.K, seed + 2), dY = random_vector(s.M * s.N, seed + 3);
  const std::vector<double> W = reference_w(map, memory);
  std::ostringstream name;
  name << scheme_name(scheme) << "/" << sign_mode_name(sign) << " M" << s.M << " K" << s.K << " N" << s.N << " tile "
       << s.bk << "x" << s.bn << " threads " << omp_get_max_threads();

  std::vector<double> y_ref(std::size_t(s.M * s.N), 0.0), dx_ref(std::size_t(s.M * s.K), 0.0);
  for (i64 m = 0; m < s.M; ++m)
    for (i64 k = 0; k < s.K; ++k)
      for (i64 n = 0; n < s.N; ++n) {
        y_ref[std::size_t(m * s.N + n)] += X[std::size_t(m * s.K + k)] * W[std::size_t(k * s.N + n)];
        dx_ref[std::size_t(m * s.K + k)] += dY[std::size_t(m * s.N + n)] * W[std::size_t(k * s.N + n)];
      }
  const std::vector<float> dM0 = random_vector(n_cells, seed + 4);
  std::vector<double> dm_ref(dM0.begin(), dM0.end());
  std::vector<double> dw_ref(std::size_t(s.K * s.N), 0.0);
  for (i64 k = 0; k < s.K; ++k)
    for (i64 n = 0; n < s.N; ++n) {
      double g = 0.0;
      for (i64 m = 0; m < s.M; ++m) g += double(X[std::size_t(m * s.K + k)]) * dY[std::size_t(m * s.N + n)];
      dw_ref[std::size_t(k * s.N + n)] = g;
      dm_ref[std::size_t(map.loc(k, n))] += double(map.lambda) * map.sign(k, n) * g;
    }

  std::vector<float> Y(std::size_t(s.M * s.N), -99.0f), dX(std::size_t(s.M * s.K), -99.0f), dM = dM0;
  kc::roast_mm_forward(map, {}, nullptr, memory.data(), X.data(), s.M, Y.data());
  check_close(name.str() + " forward", Y, y_ref);
  kc::roast_mm_backward_input(map, {}, nullptr, memory.data(), dY.data(), s.M, dX.data());
  check_close(name.str() + " backward_input", dX, dx_ref);
  kc::roast_mm_backward_memory(map, {}, nullptr, X.data(), dY.data(), s.M, dM.data());
  check_close(name.str() + " backward_memory", dM, dm_ref);
  for (i64 c = n_cells - 7; c < n_cells; ++c) CHECK(dM[std::size_t(c)] == dM0[std::size_t(c)]);

  std::vector<float> Wm(std::size_t(s.K * s.N)), dW(dw_ref.begin(), dw_ref.end()), dM2 = dM0;
  kc::roast_mm_materialize(map, nullptr, memory.data(), Wm.data());
  check_close(name.str() + " materialize", Wm, W);
  kc::roast_mm_accumulate_dense(map, {}, nullptr, dW.data(), dM2.data());
  check_close(name.str() + " accumulate_dense", dM2, dm_ref);
}

// Shapes: tiny K or N (3), edge tiles everywhere, M on both sides of the small-M path (3)
// and of the micro-kernel's 6 rows, depth and width past one 256-block, odd tile shapes,
// and 64-wide tile columns (the single-row fast path) with partial chunks.
const std::vector<Shape3> kShapes = {
    {1, 3, 3, 32, 64},     {2, 37, 70, 32, 64},    {5, 64, 128, 32, 64}, {7, 100, 3, 32, 64},
    {17, 3, 130, 8, 16},   {33, 70, 45, 5, 7},     {4, 290, 300, 32, 64}, {150, 300, 270, 32, 64},
    {13, 130, 90, 20, 24}, {3, 75, 300, 16, 128},  {1, 96, 200, 32, 64},
};

using test_support::ThreadCount;

}  // namespace

TEST_CASE("roast_mm: every scheme and sign mode equals the materialised reference", "[roast_mm]") {
  const Scheme schemes[] = {Scheme::dense, Scheme::roast, Scheme::roast_local, Scheme::hashednet, Scheme::exact};
  const SignMode signs[] = {SignMode::none, SignMode::tile, SignMode::element};
  for (int threads : {1, 2}) {
    ThreadCount guard(threads);
    std::uint64_t seed = 1000;
    for (const Shape3& s : kShapes)
      for (Scheme scheme : schemes)
        for (SignMode sign : signs) check_case(s, scheme, sign, seed += 10);
  }
}

TEST_CASE("roast_mm: dM is bitwise deterministic across runs and thread counts", "[roast_mm]") {
  for (Scheme scheme : {Scheme::roast, Scheme::hashednet}) {
    const i64 M = 40, K = 300, N = 520;
    Mapping map = make_mapping(scheme, SignMode::element, K, N, 32, 64, 77);
    map.region_size = std::max<i64>(map.tile_size(), K * N / 20);  // heavy sharing: many overlapping tiles
    const std::vector<float> X = random_vector(M * K, 5), dY = random_vector(M * N, 6);
    const std::vector<float> dM0 = random_vector(map.region_base + map.region_size, 7);
    std::vector<std::vector<float>> results;
    for (int threads : {2, 2, 1}) {
      ThreadCount guard(threads);
      std::vector<float> dM = dM0;
      kc::roast_mm_backward_memory(map, {}, nullptr, X.data(), dY.data(), M, dM.data());
      results.push_back(dM);
    }
    CHECK(results[0] == results[1]);
    CHECK(results[0] == results[2]);
  }
}

TEST_CASE("roast_mm: mappings the kernels cannot serve are rejected", "[roast_mm]") {
  Mapping map = make_mapping(Scheme::roast, SignMode::none, 40, 40, 32, 64, 1);
  map.region_size = map.tile_size() - 1;
  std::vector<float> memory(4096, 0.5f), X(40, 1.0f), Y(40);
  CHECK_THROWS_AS(kc::roast_mm_forward(map, {}, nullptr, memory.data(), X.data(), 1, Y.data()), Error);
  map = make_mapping(Scheme::dense, SignMode::none, 40, 40, 1, 1, 1);
  map.region_size = 40 * 40 - 1;
  CHECK_THROWS_AS(kc::roast_mm_forward(map, {}, nullptr, memory.data(), X.data(), 1, Y.data()), Error);
  map.kind = TensorKind::embedding;
  CHECK_THROWS_AS(kc::roast_mm_check(map, "test"), Error);
}
