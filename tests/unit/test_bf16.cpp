// precision "bf16": the rounding (round to nearest even, ties to even, NaN and infinities),
// the CPU emulation of bf16 products (ROAST-MM forward / dX / dM, dense GEMMs, attention)
// against plain references over bf16-rounded operands (tight) and against fp32 (loose), the
// CUDA bf16 path against the CPU emulation ([cuda][bf16], skipped without a GPU), the config
// key and its device check.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/run_config.h"
#include "kernels/backend.h"
#include "kernels/bf16.h"
#include "nn/attention_op.h"
#include "roast/autograd.h"
#include "roast/backend.h"
#include "roast/config.h"
#include "roast/ops.h"
#include "roast/plan.h"
#include "roast/tensor.h"
#include "support/catch.h"
#include "support/threads.h"
#include "support/close.h"
#include "support/mapping_fixture.h"
#include "train/session.h"

using namespace roast;
namespace kc = roast::kernels::cpu;
using roast::kernels::bf16_round;
using i64 = std::int64_t;

namespace {

using test::make_mapping;
using test::random_vector;

float from_bits(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof(f));
  return f;
}
std::uint32_t bits_of(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  return u;
}

std::vector<float> rounded(const std::vector<float>& v) {
  std::vector<float> out(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) out[i] = bf16_round(v[i]);
  return out;
}

using test_support::check_close;

std::vector<double> as_double(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }

Numerics bf16_numerics() {
  Numerics n;
  n.precision = Precision::bf16;
  return n;
}

using test_support::ThreadCount;

// The products of one ROAST-MM case in double: Y = X W, dX = dY W^T, dM = dM0 + lambda * sign
// * X^T dY at loc, with W[k, n] = w(lambda * sign * memory[loc]) and X, dY passed through `x`
// (bf16_round for the bf16 reference, the identity for fp32).
struct Products {
  std::vector<double> Y, dX, dM;
};
template <class RoundW, class RoundX>
Products reference(const Mapping& map, const std::vector<float>& memory, const std::vector<float>& X,
                   const std::vector<float>& dY, const std::vector<float>& dM0, i64 M, RoundW w_of, RoundX x_of) {
  const i64 K = map.rows, N = map.cols;
  std::vector<double> W(std::size_t(K * N));
  for (i64 k = 0; k < K; ++k)
    for (i64 n = 0; n < N; ++n)  // the fp32 product the kernels form: memory * (lambda * sign)
      W[std::size_t(k * N + n)] = w_of(memory[std::size_t(map.loc(k, n))] * (map.lambda * map.sign(k, n)));
  Products p{std::vector<double>(std::size_t(M * N), 0.0), std::vector<double>(std::size_t(M * K), 0.0),
             as_double(dM0)};
  for (i64 m = 0; m < M; ++m)
    for (i64 k = 0; k < K; ++k) {
      const double x = x_of(X[std::size_t(m * K + k)]);
      for (i64 n = 0; n < N; ++n) {
        const double w = W[std::size_t(k * N + n)], dy = x_of(dY[std::size_t(m * N + n)]);
        p.Y[std::size_t(m * N + n)] += x * w;
        p.dX[std::size_t(m * K + k)] += dy * w;
      }
    }
  for (i64 k = 0; k < K; ++k)
    for (i64 n = 0; n < N; ++n) {
      double g = 0.0;
      for (i64 m = 0; m < M; ++m) g += double(x_of(X[std::size_t(m * K + k)])) * x_of(dY[std::size_t(m * N + n)]);
      p.dM[std::size_t(map.loc(k, n))] += double(map.lambda) * map.sign(k, n) * g;
    }
  return p;
}

struct MmCase {
  Scheme scheme;
  SignMode sign;
  i64 M, K, N;
  int bk, bn;
};

// Small M (the fp32 single-row paths), edge tiles, depth and width past one packed block.
const std::vector<MmCase> kMmCases = {
    {Scheme::roast, SignMode::tile, 1, 37, 70, 32, 64},        {Scheme::roast, SignMode::element, 3, 96, 200, 32, 64},
    {Scheme::roast, SignMode::element, 17, 130, 90, 20, 24},   {Scheme::roast, SignMode::tile, 150, 300, 270, 32, 64},
    {Scheme::roast_local, SignMode::none, 33, 70, 45, 5, 7},   {Scheme::dense, SignMode::none, 13, 64, 128, 32, 64},
    {Scheme::dense, SignMode::element, 2, 40, 30, 32, 64},     {Scheme::exact, SignMode::none, 9, 50, 60, 1, 1},
    {Scheme::hashednet, SignMode::element, 2, 33, 50, 1, 1},   {Scheme::hashednet, SignMode::element, 20, 70, 90, 1, 1},
};

}  // namespace

TEST_CASE("bf16: rounding to nearest, ties to even; NaN, infinities, overflow, subnormals", "[bf16]") {
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to the even mantissa.
  CHECK(bits_of(bf16_round(from_bits(0x3F808000u))) == 0x3F800000u);
  CHECK(bits_of(bf16_round(from_bits(0x3F818000u))) == 0x3F820000u);  // tie, odd below: up
  CHECK(bits_of(bf16_round(from_bits(0xBF818000u))) == 0xBF820000u);  // negative tie
  CHECK(bits_of(bf16_round(from_bits(0x3F808001u))) == 0x3F810000u);  // just above the tie
  CHECK(bits_of(bf16_round(from_bits(0x3F807FFFu))) == 0x3F800000u);  // just below
  CHECK(bf16_round(1.0f) == 1.0f);
  CHECK(bf16_round(3.14159265f) == 3.140625f);
  CHECK(bf16_round(-0.1f) == -0.10009765625f);  // 0xBDCCCCCD -> 0xBDCD0000
  CHECK(bits_of(bf16_round(-0.0f)) == 0x80000000u);
  // Subnormals round on the same grid.
  CHECK(bits_of(bf16_round(from_bits(0x00008000u))) == 0x00000000u);
  CHECK(bits_of(bf16_round(from_bits(0x00018000u))) == 0x00020000u);
  // Infinities stay; past the largest bf16 by half a step: infinity; just below: the largest.
  const float inf = std::numeric_limits<float>::infinity();
  CHECK(bf16_round(inf) == inf);
  CHECK(bf16_round(-inf) == -inf);
  CHECK(bf16_round(std::numeric_limits<float>::max()) == inf);
  CHECK(bits_of(bf16_round(from_bits(0x7F7F7FFFu))) == 0x7F7F0000u);
  CHECK(bits_of(bf16_round(from_bits(0xFF7F8000u))) == 0xFF800000u);
  // NaN stays NaN, also a NaN whose payload lies only in the dropped half.
  CHECK(std::isnan(bf16_round(std::numeric_limits<float>::quiet_NaN())));
  CHECK(std::isnan(bf16_round(from_bits(0x7F800001u))));
  CHECK(std::isnan(bf16_round(from_bits(0xFF800001u))));
  // On random values: a bf16 value (low half zero), within half a step (2^-8 relative), idempotent;
  // the round_to_bf16 kernel equals the scalar function.
  const std::vector<float> x = random_vector(5000, 7);
  std::vector<float> y(x.size());
  kc::round_to_bf16(x.data(), y.data(), i64(x.size()));
  for (std::size_t i = 0; i < x.size(); ++i) {
    const float r = bf16_round(x[i]);
    CHECK((bits_of(r) & 0xFFFFu) == 0u);
    CHECK(std::abs(r - x[i]) <= std::abs(x[i]) * 0x1p-8f);
    CHECK(bf16_round(r) == r);
    CHECK(bits_of(y[i]) == bits_of(r));
  }
}

TEST_CASE("bf16: precision names and the config key", "[bf16][config]") {
  CHECK(parse_precision("bf16") == Precision::bf16);
  CHECK(std::string(precision_name(Precision::bf16)) == "bf16");
  CHECK_THROWS_WITH(parse_precision("fp16"), ROAST_CONTAINS("\"bf16\""));
  nlohmann::json config = {{"name", "t"}, {"data", {{"dataset", "mnist"}}}, {"model", {{"type", "mlp"}}},
                           {"precision", "bf16"}};
  nlohmann::json resolved;
  CHECK(parse_run_config(config, "test.json", &resolved).precision == "bf16");
  CHECK(resolved["precision"] == "bf16");
  config["precision"] = "bfloat16";
  CHECK_THROWS_WITH(parse_run_config(config, "test.json", &resolved), ROAST_CONTAINS("bf16"));
}

TEST_CASE("bf16: a GPU without bf16 is refused naming `precision` and the fix", "[bf16][config]") {
  const std::string why = precision_unsupported("bf16", 75, "cuda:0");
  CHECK_THAT(why, ROAST_CONTAINS("`precision`"));
  CHECK_THAT(why, ROAST_CONTAINS("8.0"));
  CHECK_THAT(why, ROAST_CONTAINS("cuda:0 has 7.5"));
  CHECK(precision_unsupported("bf16", 80, "cuda:0").empty());
  CHECK(precision_unsupported("bf16", 90, "cuda:0").empty());
  CHECK(precision_unsupported("fp32", 60, "cuda:0").empty());
  CHECK(precision_unsupported("tf32", 75, "cuda:0").empty());
  CHECK_THAT(std::string(kPrecisionFix), ROAST_CONTAINS("\"fp32\""));
  CHECK_NOTHROW(check_precision(Device::cpu(), "bf16", "test.json"));  // the CPU emulates bf16
}

// One case's mapping and random operands (the same seeds on every device and precision).
struct MmInputs {
  Mapping map;
  std::vector<float> memory, X, dY, dM0;
  std::string name;  // scheme/sign and shape
};
MmInputs mm_inputs(std::size_t ci) {
  const MmCase& c = kMmCases[ci];
  MmInputs in;
  in.map = make_mapping(c.scheme, c.sign, c.K, c.N, c.bk, c.bn, 40 + ci);
  const i64 n_cells = in.map.region_base + in.map.region_size + 7;
  in.memory = random_vector(n_cells, 100 + ci);
  in.X = random_vector(c.M * c.K, 200 + ci);
  in.dY = random_vector(c.M * c.N, 300 + ci);
  in.dM0 = random_vector(n_cells, 400 + ci);
  std::ostringstream name;
  name << scheme_name(c.scheme) << "/" << sign_mode_name(c.sign) << " M" << c.M << " K" << c.K << " N" << c.N;
  in.name = name.str();
  return in;
}

TEST_CASE("bf16: CPU ROAST-MM equals products of bf16-rounded operands, near fp32", "[bf16][roast_mm]") {
  const auto identity = [](float v) { return double(v); };
  const auto to_bf16 = [](float v) { return double(bf16_round(v)); };
  for (int threads : {1, 2}) {
    ThreadCount tc(threads);
    for (std::size_t ci = 0; ci < kMmCases.size(); ++ci) {
      const MmCase& c = kMmCases[ci];
      const MmInputs in = mm_inputs(ci);
      const Mapping& map = in.map;
      const std::vector<float>&memory = in.memory, &X = in.X, &dY = in.dY, &dM0 = in.dM0;
      std::ostringstream name;
      name << in.name
           << " tile " << c.bk << "x" << c.bn << " threads " << threads;
      const Products want_bf16 = reference(map, memory, X, dY, dM0, c.M, to_bf16, to_bf16);
      const Products want_fp32 = reference(map, memory, X, dY, dM0, c.M, identity, identity);

      std::vector<float> Y(std::size_t(c.M * c.N)), dX(std::size_t(c.M * c.K)), dM = dM0;
      const Numerics bf16 = bf16_numerics();
      kc::roast_mm_forward(map, bf16, nullptr, memory.data(), X.data(), c.M, Y.data());
      kc::roast_mm_backward_input(map, bf16, nullptr, memory.data(), dY.data(), c.M, dX.data());
      kc::roast_mm_backward_memory(map, bf16, nullptr, X.data(), dY.data(), c.M, dM.data());
      check_close(name.str() + " forward (bf16 reference)", Y, want_bf16.Y, 1e-5);
      check_close(name.str() + " backward_input (bf16 reference)", dX, want_bf16.dX, 1e-5);
      check_close(name.str() + " backward_memory (bf16 reference)", dM, want_bf16.dM, 1e-5);
      for (i64 cell = i64(dM0.size()) - 7; cell < i64(dM0.size()); ++cell) CHECK(dM[std::size_t(cell)] == dM0[std::size_t(cell)]);
      check_close(name.str() + " forward (fp32)", Y, want_fp32.Y, 1e-2);
      check_close(name.str() + " backward_input (fp32)", dX, want_fp32.dX, 1e-2);
      check_close(name.str() + " backward_memory (fp32)", dM, want_fp32.dM, 1e-2);
      // The emulation rounds: bf16 results are not the fp32 ones.
      std::vector<float> Y32(Y.size());
      kc::roast_mm_forward(map, {}, nullptr, memory.data(), X.data(), c.M, Y32.data());
      CHECK(Y32 != Y);
      // Both backward products in one call: the same function.
      std::vector<float> dX2(dX.size()), dM2 = dM0;
      kc::roast_mm_backward(map, bf16, nullptr, memory.data(), X.data(), dY.data(), c.M, dX2.data(), dM2.data());
      CHECK(dX2 == dX);
      CHECK(dM2 == dM);
    }
  }
}

TEST_CASE("bf16: CPU dense GEMMs multiply bf16-rounded operands", "[bf16][ops]") {
  const i64 M = 23, N = 17, K = 70;
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) {
      // Leading dims wider than the matrices, to check strided operands are rounded as stored.
      const i64 lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 2, ldc = N + 1;
      const std::vector<float> A = random_vector((ta ? K : M) * lda, 11 + ta), B = random_vector((tb ? N : K) * ldb, 13 + tb);
      const std::vector<float> C0 = random_vector(M * ldc, 17);
      std::vector<float> C = C0;
      const float alpha = 0.75f, beta = 0.5f;
      kc::gemm(Precision::bf16, ta, tb, M, N, K, alpha, A.data(), lda, B.data(), ldb, beta, C.data(), ldc);
      std::vector<double> want = as_double(C0);
      for (i64 m = 0; m < M; ++m)
        for (i64 n = 0; n < N; ++n) {
          double s = 0.0;
          for (i64 k = 0; k < K; ++k) {
            const float a = ta ? A[std::size_t(k * lda + m)] : A[std::size_t(m * lda + k)];
            const float b = tb ? B[std::size_t(n * ldb + k)] : B[std::size_t(k * ldb + n)];
            s += double(bf16_round(a)) * bf16_round(b);
          }
          want[std::size_t(m * ldc + n)] = alpha * s + beta * double(C0[std::size_t(m * ldc + n)]);
        }
      check_close("gemm bf16 ta " + std::to_string(ta) + " tb " + std::to_string(tb), C, want, 1e-5);
    }
  // The op: matmul under bf16 numerics equals matmul of pre-rounded operands in fp32.
  const Tensor a = randn({4, 9, 33}, 3), b = randn({4, 33, 12}, 4);
  const Tensor ar = Tensor::from_vector(rounded(a.to_vector()), a.shape()),
               br = Tensor::from_vector(rounded(b.to_vector()), b.shape());
  CHECK(matmul(a, b, bf16_numerics()).to_vector() == matmul(ar, br).to_vector());
}

TEST_CASE("bf16: attention reads q, k and v rounded to bf16; gradients reach the inputs", "[bf16][attention]") {
  // [B, T, H * dh] with B 2, H 3, dh 8; the op scales the scores by 1 / sqrt(dh) in fp32.
  const i64 B = 2, H = 3, T = 20, dh = 8;
  const Tensor q = randn({B, T, H * dh}, 21, 1.4f), k = randn({B, T, H * dh}, 22), v = randn({B, T, H * dh}, 23);
  const Tensor R = randn({B, T, H * dh}, 24);
  // y and the gradients of sum(y * R) under `numerics`, from inputs q, k, v.
  const auto run = [&](const Tensor& q0, const Tensor& k0, const Tensor& v0, const Numerics& numerics) {
    Tensor lq = q0.clone(), lk = k0.clone(), lv = v0.clone();
    lq.set_requires_grad(true), lk.set_requires_grad(true), lv.set_requires_grad(true);
    const Tensor y = nn::attention(lq, lk, lv, H, Tensor(), 0.0f, 0, numerics, nullptr);
    sum_all(mul(y, R)).backward();
    return std::vector<std::vector<float>>{y.to_vector(), lq.grad().to_vector(), lk.grad().to_vector(),
                                           lv.grad().to_vector()};
  };
  const auto round_t = [](const Tensor& t) { return Tensor::from_vector(rounded(t.to_vector()), t.shape()); };
  const auto bf16 = run(q, k, v, bf16_numerics());
  const auto pre_rounded = run(round_t(q), round_t(k), round_t(v), Numerics{});
  const auto fp32 = run(q, k, v, Numerics{});
  for (std::size_t i = 0; i < bf16.size(); ++i) {
    INFO("output " << i << " (0: y, then gq, gk, gv)");
    CHECK(bf16[i] == pre_rounded[i]);
    check_close("attention bf16 against fp32", bf16[i], as_double(fp32[i]), 2e-2);
  }
}

#if ROAST_WITH_CUDA
namespace {
namespace kg = roast::kernels::cuda;

Tensor to_gpu(const std::vector<float>& v) { return Tensor::from_vector(v, {i64(v.size())}, Device::cuda(0)); }
std::vector<float> from_gpu(const Tensor& t) { return t.to(Device::cpu()).to_vector(); }
}  // namespace
#endif

// Both devices multiply the same bf16 operands with fp32 accumulation: they differ only in
// the order of the additions.
TEST_CASE("cuda bf16: ROAST-MM, dense GEMMs and attention equal the CPU emulation", "[cuda][bf16]") {
#if ROAST_WITH_CUDA
  if (!cuda_available()) {
    WARN("skipped: no CUDA device");
    return;
  }
  if (kg::compute_capability(0) < 80) {
    WARN("skipped: cuda:0 has no bf16 (compute capability below 8.0)");
    CHECK_THROWS_WITH(kg::gemm(Precision::bf16, false, false, 1, 1, 1, 1.0f, nullptr, 1, nullptr, 1, 0.0f, nullptr, 1),
                      ROAST_CONTAINS("precision"));
    return;
  }
  const auto cache = kernels::make_mapping_cache(Device::cuda(0));
  for (bool deterministic : {false, true})
    for (std::size_t ci = 0; ci < kMmCases.size(); ++ci) {
      const MmCase& c = kMmCases[ci];
      const MmInputs in = mm_inputs(ci);
      const Mapping& map = in.map;
      const std::vector<float>&memory = in.memory, &X = in.X, &dY = in.dY, &dM0 = in.dM0;
      std::ostringstream name;
      name << in.name
           << (deterministic ? " deterministic" : "");
      Numerics nx = bf16_numerics();
      nx.deterministic = deterministic;
      std::vector<float> Y(std::size_t(c.M * c.N)), dX(std::size_t(c.M * c.K)), dM = dM0;
      kc::roast_mm_forward(map, nx, nullptr, memory.data(), X.data(), c.M, Y.data());
      kc::roast_mm_backward_input(map, nx, nullptr, memory.data(), dY.data(), c.M, dX.data());
      kc::roast_mm_backward_memory(map, nx, nullptr, X.data(), dY.data(), c.M, dM.data());

      const Tensor gmem = to_gpu(memory), gX = to_gpu(X), gdY = to_gpu(dY);
      Tensor gY = Tensor::empty({c.M * c.N}, DType::f32, Device::cuda(0));
      Tensor gdX = Tensor::empty({c.M * c.K}, DType::f32, Device::cuda(0)), gdM = to_gpu(dM0);
      kg::roast_mm_forward(map, nx, cache.get(), gmem.data<float>(), gX.data<float>(), c.M, gY.data<float>());
      kg::roast_mm_backward(map, nx, cache.get(), gmem.data<float>(), gX.data<float>(), gdY.data<float>(), c.M,
                            gdX.data<float>(), gdM.data<float>());
      CHECK(std::string(kg::roast_mm_selected_path(map, nx, c.M, 0)) == "materialize");
      check_close(name.str() + " forward", from_gpu(gY), as_double(Y), 1e-4);
      check_close(name.str() + " backward_input", from_gpu(gdX), as_double(dX), 1e-4);
      std::vector<float> got = from_gpu(gdM), added(dM.size());
      std::vector<double> want(dM.size());
      for (std::size_t i = 0; i < dM.size(); ++i) added[i] = got[i] - dM0[i], want[i] = double(dM[i]) - dM0[i];
      check_close(name.str() + " backward_memory", added, want, 4e-4);
    }
  // Dense GEMMs, plain and batched (a shared right operand too).
  const Tensor a = randn({3, 40, 70}, 31), b = randn({3, 70, 50}, 32), b2 = randn({70, 50}, 33);
  const Device gpu = Device::cuda(0);
  check_close("matmul batched", matmul(a.to(gpu), b.to(gpu), bf16_numerics()).to(Device::cpu()).to_vector(),
              as_double(matmul(a, b, bf16_numerics()).to_vector()), 1e-5);
  check_close("matmul", matmul(a.to(gpu), b2.to(gpu), bf16_numerics()).to(Device::cpu()).to_vector(),
              as_double(matmul(a, b2, bf16_numerics()).to_vector()), 1e-5);
  // Attention: the fused kernels on bf16-rounded q, k, v, forward and backward.
  // [B, T, H * dh] with B 2, H 4, dh 32.
  const Tensor q = randn({2, 37, 128}, 41, 1.7f), k = randn({2, 37, 128}, 42), v = randn({2, 37, 128}, 43);
  const Tensor R = randn({2, 37, 128}, 44);
  std::vector<std::vector<float>> results[2];
  for (int d = 0; d < 2; ++d) {
    const Device dev = d == 0 ? Device::cpu() : gpu;
    Tensor lq = q.clone().to(dev), lk = k.clone().to(dev), lv = v.clone().to(dev);
    lq.set_requires_grad(true), lk.set_requires_grad(true), lv.set_requires_grad(true);
    const Tensor y = nn::attention(lq, lk, lv, 4, Tensor(), 0.0f, 0, bf16_numerics(), nullptr);
    sum_all(mul(y, R.to(dev))).backward();
    for (const Tensor& t : {y.detach(), lq.grad(), lk.grad(), lv.grad()})
      results[d].push_back(t.to(Device::cpu()).to_vector());
  }
  for (std::size_t i = 0; i < results[0].size(); ++i)
    check_close("attention output " + std::to_string(i), results[1][i], as_double(results[0][i]), 1e-4);
#else
  WARN("skipped: this build has no CUDA backend");
#endif
}
