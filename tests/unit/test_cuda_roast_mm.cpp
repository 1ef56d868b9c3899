// CUDA ROAST-MM against the CPU kernels (the reference) on fresh random inputs: every
// scheme and sign mode, tile shapes that do and do not divide the GEMM blocks, small-M and
// tiled GEMM paths, fused and materialize paths (which must compute the same function),
// fp32 (relative error < 1e-5) and TF32 (< 5e-3; on sm_90 the wgmma kernels), the mapping identical on both devices,
// and the deterministic memory gradient. Skipped where no GPU is present.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/backend.h"
#include "roast/backend.h"
#include "roast/config.h"
#include "roast/mapping.h"
#include "roast/tensor.h"
#include "support/catch.h"
#include "support/mapping_fixture.h"

using namespace roast;
using i64 = std::int64_t;

#if ROAST_WITH_CUDA
namespace {
namespace kc = roast::kernels::cpu;
namespace kg = roast::kernels::cuda;

using test::make_mapping;
using test::random_vector;

// max |got - want| / max |want| below tol.
void check_close(const std::string& what, const std::vector<float>& got, const std::vector<float>& want, double tol) {
  REQUIRE(got.size() == want.size());
  double scale = 1e-6, diff = 0.0;
  std::size_t worst = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    scale = std::max(scale, double(std::abs(want[i])));
    const double d = std::abs(double(got[i]) - double(want[i]));
    if (d > diff) diff = d, worst = i;
  }
  INFO(what << ": relative error " << diff / scale << " (worst at " << worst << ": got " << got[worst] << " want "
            << want[worst] << ")");
  CHECK(diff / scale < tol);
}

Tensor to_gpu(const std::vector<float>& v) { return Tensor::from_vector(v, {i64(v.size())}, Device::cuda(0)); }
std::vector<float> from_gpu(const Tensor& t) { return t.to(Device::cpu()).to_vector(); }

struct Case {
  Scheme scheme;
  SignMode sign;
  i64 M, K, N;
  int bk, bn;
  i64 region = 0;  // memory cells of the weight; 0: make_mapping's (a quarter of K x N)
};

const char* path_name(MatmulPath p) {
  return p == MatmulPath::fused ? "fused" : p == MatmulPath::materialize ? "materialize" : "auto";
}

// The numeric options of one check: path, precision, deterministic.
Numerics options(MatmulPath path, Precision precision, bool deterministic = false) {
  Numerics n;
  n.matmul_path = path;
  n.precision = precision;
  n.deterministic = deterministic;
  return n;
}

std::string describe(const Case& c, const char* path, const char* precision) {
  std::ostringstream s;
  s << "scheme " << int(c.scheme) << " sign " << int(c.sign) << " M=" << c.M << " K=" << c.K << " N=" << c.N
    << " tile " << c.bk << "x" << c.bn << " region " << c.region << " path " << path << " " << precision;
  return s.str();
}

// Forward, dX and dM on the GPU against the CPU kernels for one case under `nx`. Each call
// has a cache of its own, as each Memory has.
void check_case(const Case& c, const Numerics& nx, double tol) {
  Mapping map = make_mapping(c.scheme, c.sign, c.K, c.N, c.bk, c.bn, 11 + std::uint64_t(c.M));
  if (c.region > 0) map.region_size = c.region;
  const i64 m = map.region_base + map.region_size + 3;
  const auto memory = random_vector(m, 1), X = random_vector(c.M * c.K, 2), dY = random_vector(c.M * c.N, 3);
  const auto dM0 = random_vector(m, 4);  // the gradient accumulates into what is there
  const std::string what =
      describe(c, nx.deterministic ? "deterministic" : path_name(nx.matmul_path), precision_name(nx.precision));
  const auto cache = kernels::make_mapping_cache(Device::cuda(0));

  std::vector<float> Y(std::size_t(c.M * c.N)), dX(std::size_t(c.M * c.K)), dM = dM0;
  kc::roast_mm_forward(map, {}, nullptr, memory.data(), X.data(), c.M, Y.data());
  kc::roast_mm_backward_input(map, {}, nullptr, memory.data(), dY.data(), c.M, dX.data());
  kc::roast_mm_backward_memory(map, {}, nullptr, X.data(), dY.data(), c.M, dM.data());

  const Tensor gmem = to_gpu(memory), gX = to_gpu(X), gdY = to_gpu(dY);
  Tensor gdM = to_gpu(dM0);
  Tensor gY = Tensor::empty({c.M * c.N}, DType::f32, Device::cuda(0));
  Tensor gdX = Tensor::empty({c.M * c.K}, DType::f32, Device::cuda(0));
  kg::roast_mm_forward(map, nx, cache.get(), gmem.data<float>(), gX.data<float>(), c.M, gY.data<float>());
  kg::roast_mm_backward_input(map, nx, cache.get(), gmem.data<float>(), gdY.data<float>(), c.M, gdX.data<float>());
  kg::roast_mm_backward_memory(map, nx, cache.get(), gX.data<float>(), gdY.data<float>(), c.M, gdM.data<float>());
  check_close(what + " forward", from_gpu(gY), Y, tol);
  check_close(what + " backward_input", from_gpu(gdX), dX, tol);
  // dM is compared as the added part, so the tolerance is relative to the gradient itself.
  std::vector<float> got = from_gpu(gdM), added(dM.size()), want(dM.size());
  for (std::size_t i = 0; i < dM.size(); ++i) added[i] = got[i] - dM0[i], want[i] = dM[i] - dM0[i];
  check_close(what + " backward_memory", added, want, tol * 4);

  // Both backward products in one call (dM beside dX on two streams): the same function.
  // Under auto_select with no path chosen yet, the call first times the four pairs of paths
  // (dM into scratch), then computes once with the fastest.
  if (nx.matmul_path == MatmulPath::auto_select) kg::roast_mm_forget_paths();
  Tensor gdX2 = Tensor::empty({c.M * c.K}, DType::f32, Device::cuda(0)), gdM2 = to_gpu(dM0);
  kg::roast_mm_backward(map, nx, cache.get(), gmem.data<float>(), gX.data<float>(), gdY.data<float>(), c.M,
                        gdX2.data<float>(), gdM2.data<float>());
  for (int pass : {1, 2}) CHECK(std::string(kg::roast_mm_selected_path(map, nx, c.M, pass)) != "untimed");
  check_close(what + " backward (both) dX", from_gpu(gdX2), dX, tol);
  got = from_gpu(gdM2);
  for (std::size_t i = 0; i < dM.size(); ++i) added[i] = got[i] - dM0[i];
  check_close(what + " backward (both) dM", added, want, tol * 4);
}

std::vector<Case> cases() {
  std::vector<Case> out;
  const std::vector<std::vector<i64>> shapes = {{1, 70, 130}, {5, 64, 128}, {32, 200, 96},
                                                {33, 70, 130}, {200, 256, 320}, {300, 130, 70},
                                                {260, 300, 200}, {12, 523, 300}, {32, 1100, 200},
                                                {64, 288, 96}};  // (wgmma forward: 9 steps in 4 splits, the last empty)
  for (const auto& s : shapes) {
    out.push_back({Scheme::roast, SignMode::tile, s[0], s[1], s[2], 32, 64});
    out.push_back({Scheme::roast, SignMode::element, s[0], s[1], s[2], 32, 64});
    out.push_back({Scheme::roast_local, SignMode::none, s[0], s[1], s[2], 4, 16});
    out.push_back({Scheme::roast, SignMode::tile, s[0], s[1], s[2], 3, 5});
    out.push_back({Scheme::roast, SignMode::tile, s[0], s[1], s[2], 64, 128});
    out.push_back({Scheme::roast, SignMode::tile, s[0], s[1], s[2], 16, 32});
    out.push_back({Scheme::dense, SignMode::none, s[0], s[1], s[2], 32, 64});
    out.push_back({Scheme::exact, SignMode::none, s[0], s[1], s[2], 1, 1});
    out.push_back({Scheme::hashednet, SignMode::element, s[0], s[1], s[2], 1, 1});
  }
  return out;
}

}  // namespace
#endif

TEST_CASE("cuda roast_mm: fused and materialize paths match the CPU kernels", "[cuda][roast_mm]") {
#if ROAST_WITH_CUDA
  if (!cuda_available()) {
    WARN("skipped: no CUDA device");
    return;
  }
  for (const MatmulPath p : {MatmulPath::fused, MatmulPath::materialize, MatmulPath::auto_select}) {
    for (const Case& c : cases()) check_case(c, options(p, Precision::fp32), 1e-5);
    for (const Case& c : cases()) check_case(c, options(p, Precision::tf32), 5e-3);
  }
#else
  WARN("skipped: this build has no CUDA backend");
#endif
}

// On the H100 (132 SMs; clusters of 2 / 3 / 4 one-SM blocks: 66 / 39 / 30 at once) these
// shapes run the wgmma kernels with their reductions split in ways the small shapes above
// never reach. TF32, 256-row tiles:
//   - two parts summed in a cluster: 512 x 2048 x 4096 forward, 512 x 4096 x 2048 dX,
//     512 x 4096 x 10240 dX;
//   - three parts in a cluster: 256 x 3072 x 4992 forward (39 tiles);
//   - four parts through partial sums in global memory (128 blocks, more than 30 clusters
//     of four): the other pass of the first two shapes;
//   - a wave of whole tiles, then the rest in clusters of four: 512 x 4096 x 10240 forward
//     (160 tiles: 132 whole, 28 in four parts).
// fp32, 128-row tiles: two parts as a cluster (1024^3, both passes), and whole tiles then the
// rest in clusters of four (512 x 1024 x 5120 forward: 160 tiles). And the TF32 dM of the
// wgmma kernel, which takes products of at least 512 rows.
TEST_CASE("cuda roast_mm: split reductions of the wgmma kernels match the CPU", "[cuda][roast_mm]") {
#if ROAST_WITH_CUDA
  if (!cuda_available()) {
    WARN("skipped: no CUDA device");
    return;
  }
  const Numerics tf32 = options(MatmulPath::fused, Precision::tf32), fp32 = options(MatmulPath::fused, Precision::fp32);
  check_case({Scheme::roast, SignMode::tile, 512, 2048, 4096, 32, 64}, tf32, 5e-3);
  check_case({Scheme::roast, SignMode::tile, 512, 4096, 2048, 32, 64}, tf32, 5e-3);
  check_case({Scheme::roast, SignMode::tile, 256, 3072, 4992, 32, 64}, tf32, 5e-3);
  check_case({Scheme::roast, SignMode::tile, 512, 4096, 10240, 32, 64}, tf32, 5e-3);
  // TF32 dM on the wgmma kernel (from 512 rows): K and N past the last 128-block, a partial
  // 32-row step, tile starts at every alignment (8-byte adds and the runs' single-cell ends),
  // narrow and odd tiles, element signs, whole-row runs (dense), and more tiles under a block
  // than its shared memory holds (1 x 2: the tile table read from global memory).
  check_case({Scheme::roast, SignMode::tile, 516, 200, 130, 32, 64}, tf32, 5e-3);
  check_case({Scheme::roast_local, SignMode::none, 520, 96, 300, 4, 16}, tf32, 5e-3);
  check_case({Scheme::roast, SignMode::element, 512, 150, 270, 3, 5}, tf32, 5e-3);
  check_case({Scheme::roast, SignMode::tile, 512, 136, 260, 10, 6}, tf32, 5e-3);
  check_case({Scheme::roast, SignMode::tile, 512, 136, 260, 1, 2}, tf32, 5e-3);
  check_case({Scheme::dense, SignMode::none, 512, 130, 200, 32, 64}, tf32, 5e-3);
  // A memory of 16.8M cells (67 MB, more than the L2 of the H100 or H200): the wgmma dM
  // prefetches its cells into L2 before the adds.
  check_case({Scheme::roast, SignMode::tile, 512, 384, 520, 32, 64, i64(1) << 24}, tf32, 5e-3);
  check_case({Scheme::roast, SignMode::element, 512, 150, 270, 3, 5, i64(1) << 24}, tf32, 5e-3);
  check_case({Scheme::roast, SignMode::tile, 1024, 1024, 1024, 32, 64}, fp32, 1e-5);
  check_case({Scheme::roast, SignMode::tile, 512, 1024, 5120, 32, 64}, fp32, 1e-5);
#else
  WARN("skipped: this build has no CUDA backend");
#endif
}

// Few rows and a short K: the FMA forward sums its K-chunks on the chip, in row groups of a
// block and then across a cluster of blocks (on sm_90; elsewhere through partial sums). On
// the H100 these shapes take 1 to 4 row groups and clusters of 2 to 8 blocks, some groups
// past K.
TEST_CASE("cuda roast_mm: small-M forward chunks summed in a cluster match the CPU", "[cuda][roast_mm]") {
#if ROAST_WITH_CUDA
  if (!cuda_available()) {
    WARN("skipped: no CUDA device");
    return;
  }
  const Numerics tf32 = options(MatmulPath::fused, Precision::tf32), fp32 = options(MatmulPath::fused, Precision::fp32);
  const std::vector<std::vector<i64>> shapes = {{1, 1024, 1024}, {2, 1000, 300}, {4, 777, 1030}, {16, 1024, 256}};
  for (const auto& s : shapes) {
    check_case({Scheme::roast, SignMode::tile, s[0], s[1], s[2], 32, 64}, fp32, 1e-5);
    check_case({Scheme::roast, SignMode::element, s[0], s[1], s[2], 16, 32}, fp32, 1e-5);
    check_case({Scheme::roast, SignMode::tile, s[0], s[1], s[2], 32, 64}, tf32, 5e-3);
  }
#else
  WARN("skipped: this build has no CUDA backend");
#endif
}

// A memory of 16.8M floats (67 MB, more than the L2 of the H100 or H200): the materialize
// path's dM sums each cell's gradient in one pass (accumulate_owned) instead of atomic adds.
TEST_CASE("cuda roast_mm: a memory larger than L2 takes the per-cell dM sum", "[cuda][roast_mm]") {
#if ROAST_WITH_CUDA
  if (!cuda_available()) {
    WARN("skipped: no CUDA device");
    return;
  }
  check_case({Scheme::roast, SignMode::tile, 4, 8192, 8192, 32, 64}, options(MatmulPath::materialize, Precision::fp32),
             1e-5);
#else
  WARN("skipped: this build has no CUDA backend");
#endif
}

#if ROAST_WITH_CUDA
namespace {
// Root-mean-square error of `got` against the double-precision `want`, relative to want's RMS.
double rms_error(const std::vector<float>& got, const std::vector<double>& want) {
  double err = 0.0, norm = 0.0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    err += (double(got[i]) - want[i]) * (double(got[i]) - want[i]);
    norm += want[i] * want[i];
  }
  return std::sqrt(err / norm);
}
}  // namespace
#endif

// In fp32 the fused kernels may compute a product in another way than fp32 FMAs (as three
// TF32 products on the tensor cores, which keep about 22 bits: a relative RMS error near
// 2^-22 whatever the reduction length, where SGEMM's grows with it). Against an fp64
// reference, the fused error must be within 1.5x that of cuBLAS SGEMM on the same W
// (materialize), or below 2^-21.
TEST_CASE("cuda roast_mm: fp32 fused products keep fp32 accuracy", "[cuda][roast_mm]") {
#if ROAST_WITH_CUDA
  if (!cuda_available()) {
    WARN("skipped: no CUDA device");
    return;
  }
  const i64 K = 2048, N = 1536;  // long reductions both ways
  const Mapping map = make_mapping(Scheme::roast, SignMode::tile, K, N, 32, 64, 21);
  const auto memory = random_vector(map.region_base + map.region_size, 22);
  std::vector<float> W(std::size_t(K * N));
  kc::roast_mm_materialize(map, nullptr, memory.data(), W.data());
  const Tensor gmem = to_gpu(memory);
  const auto cache = kernels::make_mapping_cache(Device::cuda(0));
  for (const i64 M : {i64(8), i64(32), i64(128)}) {  // the small-M kernels (FMA and MMA) and the tiled
    const auto X = random_vector(M * K, 23), dY = random_vector(M * N, 24);
    std::vector<double> Y(std::size_t(M * N), 0.0), dX(std::size_t(M * K), 0.0);
    for (i64 i = 0; i < M; ++i)
      for (i64 k = 0; k < K; ++k)
        for (i64 n = 0; n < N; ++n) {
          const double w = W[std::size_t(k * N + n)];
          Y[std::size_t(i * N + n)] += double(X[std::size_t(i * K + k)]) * w;
          dX[std::size_t(i * K + k)] += double(dY[std::size_t(i * N + n)]) * w;
        }
    const Tensor gX = to_gpu(X), gdY = to_gpu(dY);
    Tensor gY = Tensor::empty({M * N}, DType::f32, Device::cuda(0));
    Tensor gdX = Tensor::empty({M * K}, DType::f32, Device::cuda(0));
    double err[2][2];  // [fused, materialize][forward, dX]
    for (int path = 0; path < 2; ++path) {
      const Numerics nx = options(path == 0 ? MatmulPath::fused : MatmulPath::materialize, Precision::fp32);
      kg::roast_mm_forward(map, nx, cache.get(), gmem.data<float>(), gX.data<float>(), M, gY.data<float>());
      kg::roast_mm_backward_input(map, nx, cache.get(), gmem.data<float>(), gdY.data<float>(), M, gdX.data<float>());
      err[path][0] = rms_error(from_gpu(gY), Y);
      err[path][1] = rms_error(from_gpu(gdX), dX);
    }
    INFO("M = " << M << ", relative RMS error, fused / cuBLAS SGEMM: forward " << err[0][0] << " / " << err[1][0]
                << ", dX " << err[0][1] << " / " << err[1][1]);
    CHECK(err[1][0] < 1e-6);  // the reference itself is fp32-accurate
    const double floor = std::ldexp(1.0, -21);
    CHECK(err[0][0] <= std::max(1.5 * err[1][0], floor));
    CHECK(err[0][1] <= std::max(1.5 * err[1][1], floor));
  }
#else
  WARN("skipped: this build has no CUDA backend");
#endif
}

TEST_CASE("cuda roast_mm: the mapping is identical on both devices", "[cuda][roast_mm]") {
#if ROAST_WITH_CUDA
  if (!cuda_available()) {
    WARN("skipped: no CUDA device");
    return;
  }
  for (const Case& c : cases()) {
    const Mapping map = make_mapping(c.scheme, c.sign, c.K, c.N, c.bk, c.bn, 5);
    const auto memory = random_vector(map.region_base + map.region_size, 9);
    std::vector<float> W(std::size_t(c.K * c.N));
    kc::roast_mm_materialize(map, nullptr, memory.data(), W.data());
    const Tensor gmem = to_gpu(memory);
    Tensor gW = Tensor::empty({c.K * c.N}, DType::f32, Device::cuda(0));
    kg::roast_mm_materialize(map, nullptr, gmem.data<float>(), gW.data<float>());
    INFO(describe(c, "materialize", "exact"));
    CHECK(from_gpu(gW) == W);  // same cells, same signs, same lambda: bitwise equal
  }
#else
  WARN("skipped: this build has no CUDA backend");
#endif
}

TEST_CASE("cuda roast_mm: deterministic mode gives bitwise-identical memory gradients", "[cuda][roast_mm]") {
#if ROAST_WITH_CUDA
  if (!cuda_available()) {
    WARN("skipped: no CUDA device");
    return;
  }
  const Numerics deterministic = options(MatmulPath::auto_select, Precision::fp32, true);
  // (roast / roast_local dM: owned per-cell sums, edge tiles included; hashednet: the sort)
  for (const Case& c : {Case{Scheme::roast, SignMode::tile, 300, 256, 320, 32, 64},
                        Case{Scheme::roast, SignMode::element, 40, 70, 130, 32, 64},
                        Case{Scheme::roast_local, SignMode::none, 33, 130, 70, 4, 16},
                        Case{Scheme::hashednet, SignMode::element, 64, 200, 96, 1, 1},
                        Case{Scheme::roast, SignMode::tile, 1, 70, 130, 32, 64}}) {
    check_case(c, deterministic, 1e-5);
    const Mapping map = make_mapping(c.scheme, c.sign, c.K, c.N, c.bk, c.bn, 3);
    const i64 m = map.region_base + map.region_size;
    const Tensor gX = to_gpu(random_vector(c.M * c.K, 5)), gdY = to_gpu(random_vector(c.M * c.N, 6));
    std::vector<std::vector<float>> runs;
    for (int r = 0; r < 3; ++r) {
      Tensor gdM = Tensor::zeros({m}, DType::f32, Device::cuda(0));
      kg::roast_mm_backward_memory(map, deterministic, nullptr, gX.data<float>(), gdY.data<float>(), c.M,
                                   gdM.data<float>());
      runs.push_back(from_gpu(gdM));
    }
    INFO(describe(c, "deterministic", "fp32"));
    CHECK(runs[0] == runs[1]);
    CHECK(runs[0] == runs[2]);
  }
#else
  WARN("skipped: this build has no CUDA backend");
#endif
}
