// The convolution layout kernels (im2col, col2im_add) and the fused conv batch norm at sizes
// that cross their tiles, channel chunks and partial-sum units, against plain double
// references written out here, and bitwise across OpenMP thread counts.
#include <omp.h>

#include <cmath>
#include <vector>

#include "roast/nn/functional.h"
#include "roast/ops.h"
#include "support/catch.h"
#include "support/gradcheck.h"

using namespace roast;
using roast::testing::first_mismatches;
using roast::testing::relative_error;

namespace {
struct Geometry {
  std::int64_t b, c, h, w, kh, kw, stride, padding;
  std::int64_t oh() const { return (h + 2 * padding - kh) / stride + 1; }
  std::int64_t ow() const { return (w + 2 * padding - kw) / stride + 1; }
};

// Calls visit(col, pixel) for every (window element, image pixel) pair that im2col copies:
// cols[(b, oy, ox), (c, i, j)] reads x[b, c, oy * s - p + i, ox * s - p + j] when inside.
template <class Visit>
void for_each_window_pixel(const Geometry& g, Visit visit) {
  const std::int64_t K = g.c * g.kh * g.kw;
  for (std::int64_t b = 0; b < g.b; ++b)
    for (std::int64_t oy = 0; oy < g.oh(); ++oy)
      for (std::int64_t ox = 0; ox < g.ow(); ++ox)
        for (std::int64_t c = 0; c < g.c; ++c)
          for (std::int64_t i = 0; i < g.kh; ++i)
            for (std::int64_t j = 0; j < g.kw; ++j) {
              const std::int64_t y = oy * g.stride - g.padding + i, xx = ox * g.stride - g.padding + j;
              if (y < 0 || y >= g.h || xx < 0 || xx >= g.w) continue;
              visit(std::size_t(((b * g.oh() + oy) * g.ow() + ox) * K + (c * g.kh + i) * g.kw + j),
                    std::size_t(((b * g.c + c) * g.h + y) * g.w + xx));
            }
}

// cols: the window elements, 0 outside the image.
std::vector<float> im2col_reference(const std::vector<float>& x, const Geometry& g) {
  std::vector<float> cols(std::size_t(g.b * g.oh() * g.ow() * g.c * g.kh * g.kw), 0.0f);
  for_each_window_pixel(g, [&](std::size_t col, std::size_t pixel) { cols[col] = x[pixel]; });
  return cols;
}

// The adjoint: gx[b, c, y, x] = sum of gcols over the windows that read it (double).
std::vector<float> col2im_reference(const std::vector<float>& gcols, const Geometry& g) {
  std::vector<double> gx(std::size_t(g.b * g.c * g.h * g.w), 0.0);
  for_each_window_pixel(g, [&](std::size_t col, std::size_t pixel) { gx[pixel] += gcols[col]; });
  return std::vector<float>(gx.begin(), gx.end());
}

// im2col's output and its input gradient for the loss sum(cols * r), on `threads` threads.
std::pair<Tensor, Tensor> im2col_and_grad(const Tensor& x, const Tensor& r, const Geometry& g, int threads) {
  const int before = omp_get_max_threads();
  omp_set_num_threads(threads);
  Tensor leaf = x.detach().clone();
  leaf.set_requires_grad(true);
  const Tensor cols = nn::im2col(leaf, g.kh, g.kw, g.stride, g.padding);
  sum_all(mul(cols, r)).backward();
  omp_set_num_threads(before);
  return {cols.detach(), leaf.grad()};
}
}  // namespace

TEST_CASE("nn: im2col and col2im_add equal the index formula across geometries and thread counts", "[nn][conv]") {
  const std::vector<Geometry> geometries = {
      {2, 3, 5, 4, 3, 3, 1, 1},   {2, 7, 70, 66, 3, 3, 1, 1},  // several channel chunks per image
      {1, 4, 9, 11, 5, 5, 2, 2},  {3, 2, 6, 7, 3, 2, 2, 0},   {2, 5, 8, 8, 1, 1, 1, 0},
      {1, 3, 13, 12, 3, 3, 3, 1}, {2, 40, 14, 14, 3, 3, 1, 1}, {2, 1, 28, 28, 3, 3, 1, 1}};
  std::uint64_t seed = 300;
  for (const Geometry& g : geometries) {
    INFO("geometry B " << g.b << " C " << g.c << " " << g.h << "x" << g.w << " kernel " << g.kh << "x" << g.kw
                       << " stride " << g.stride << " padding " << g.padding);
    const Tensor x = randn({g.b, g.c, g.h, g.w}, seed++);
    const Tensor r = randn({g.b * g.oh() * g.ow(), g.c * g.kh * g.kw}, seed++);
    const auto [cols, gx] = im2col_and_grad(x, r, g, 2);
    const Tensor want_cols = Tensor::from_vector(im2col_reference(x.to_vector(), g), cols.shape());
    INFO("im2col: " << first_mismatches(cols, want_cols, 0.0));
    CHECK(cols.to_vector() == want_cols.to_vector());  // copies: exact
    const Tensor want_gx = Tensor::from_vector(col2im_reference(r.to_vector(), g), gx.shape());
    INFO("col2im_add: " << first_mismatches(gx, want_gx, 1e-5));
    CHECK(relative_error(gx, want_gx) < 1e-6);
    const auto [cols1, gx1] = im2col_and_grad(x, r, g, 1);
    CHECK(cols1.to_vector() == cols.to_vector());
    CHECK(gx1.to_vector() == gx.to_vector());
  }
}

namespace {
struct NormRun {
  Tensor y, mean, var, gx, dgain, dbias;
};

NormRun conv_norm_run(const Tensor& rows, const Tensor& gain, const Tensor& bias, const Tensor& gy, std::int64_t b,
                      std::int64_t h, std::int64_t w, bool use_relu, int threads) {
  const int before = omp_get_max_threads();
  omp_set_num_threads(threads);
  Tensor x = rows.detach().clone(), g = gain.detach().clone(), bb = bias.detach().clone();
  x.set_requires_grad(true), g.set_requires_grad(true), bb.set_requires_grad(true);
  NormRun run;
  const Tensor y = nn::conv_batch_norm_train(x, b, h, w, 1e-5f, use_relu, g, bb, &run.mean, &run.var);
  sum_all(mul(y, gy)).backward();
  omp_set_num_threads(before);
  run.y = y.detach(), run.gx = x.grad(), run.dgain = g.grad(), run.dbias = bb.grad();
  return run;
}
}  // namespace

TEST_CASE("nn: conv batch norm over several tiles and units equals a double reference", "[nn][conv]") {
  struct Shape4 {
    std::int64_t b, h, w, c;
  };
  // 600 positions per image (two partial-sum units of 512), 37 channels (not a multiple of 8);
  // 200 channels (16-position tiles), 35 positions; 64 channels at the quick start's conv2 size.
  const std::vector<Shape4> shapes = {{3, 25, 24, 37}, {2, 5, 7, 200}, {4, 14, 14, 64}};
  std::uint64_t seed = 400;
  for (const Shape4& s : shapes)
    for (bool use_relu : {false, true}) {
      INFO("B " << s.b << " " << s.h << "x" << s.w << " C " << s.c << " relu " << use_relu);
      const std::int64_t hw = s.h * s.w, rows_n = s.b * hw, c = s.c;
      // A large mean against the spread: the one-pass variance must not cancel.
      const Tensor rows = add_scalar(randn({rows_n, c}, seed++, 2.0f), 50.0f);
      const Tensor gain = randn({c}, seed++), bias = randn({c}, seed++), gy = randn({s.b, c, s.h, s.w}, seed++);
      const NormRun got = conv_norm_run(rows, gain, bias, gy, s.b, s.h, s.w, use_relu, 2);

      const std::vector<float> xv = rows.to_vector(), gv = gain.to_vector(), bv = bias.to_vector(),
                               gyv = gy.to_vector(), yv_got = got.y.to_vector();
      const std::size_t n_values = std::size_t(rows_n * c), n_channels = std::size_t(c);
      std::vector<float> y(n_values), mean(n_channels), var(n_channels), gx(n_values), dgain(n_channels),
          dbias(n_channels);
      for (std::int64_t ch = 0; ch < c; ++ch) {
        double m = 0, v = 0;
        for (std::int64_t r = 0; r < rows_n; ++r) m += xv[std::size_t(r * c + ch)];
        m /= double(rows_n);
        for (std::int64_t r = 0; r < rows_n; ++r) v += std::pow(xv[std::size_t(r * c + ch)] - m, 2);
        v /= double(rows_n);
        const double rstd = 1.0 / std::sqrt(v + 1e-5);
        mean[std::size_t(ch)] = float(m), var[std::size_t(ch)] = float(v);
        double sg = 0, sgx = 0;
        const std::size_t n_rows = std::size_t(rows_n);
        std::vector<double> gz(n_rows), xh(n_rows);
        for (std::int64_t r = 0; r < rows_n; ++r) {
          const std::int64_t bi = r / hw, p = r % hw, at = (bi * c + ch) * hw + p;
          xh[std::size_t(r)] = (xv[std::size_t(r * c + ch)] - m) * rstd;
          const double out = xh[std::size_t(r)] * gv[std::size_t(ch)] + bv[std::size_t(ch)];
          y[std::size_t(at)] = float(use_relu ? std::max(out, 0.0) : out);
          // The mask as the kernel's forward drew it (a value at the kink may round either way).
          const bool masked = use_relu && yv_got[std::size_t(at)] <= 0.0f;
          gz[std::size_t(r)] = masked ? 0.0 : gyv[std::size_t(at)];
          sg += gz[std::size_t(r)], sgx += gz[std::size_t(r)] * xh[std::size_t(r)];
        }
        dgain[std::size_t(ch)] = float(sgx), dbias[std::size_t(ch)] = float(sg);
        for (std::int64_t r = 0; r < rows_n; ++r)
          gx[std::size_t(r * c + ch)] = float(rstd * gv[std::size_t(ch)] *
                                              (gz[std::size_t(r)] - sg / double(rows_n) -
                                               xh[std::size_t(r)] * sgx / double(rows_n)));
      }
      auto check = [](const char* what, const Tensor& a, const std::vector<float>& want, double tol) {
        const Tensor b = Tensor::from_vector(want, a.shape());
        INFO(what << ": " << first_mismatches(a, b, tol));
        CHECK(relative_error(a, b) < tol);
      };
      check("y", got.y, y, 1e-5);
      check("mean", got.mean, mean, 1e-6);
      check("var", got.var, var, 1e-4);
      check("gx", got.gx, gx, 1e-3);
      check("dgain", got.dgain, dgain, 1e-4);
      check("dbias", got.dbias, dbias, 1e-5);

      const NormRun one = conv_norm_run(rows, gain, bias, gy, s.b, s.h, s.w, use_relu, 1);
      CHECK(one.y.to_vector() == got.y.to_vector());
      CHECK(one.gx.to_vector() == got.gx.to_vector());
      CHECK(one.dgain.to_vector() == got.dgain.to_vector());
      CHECK(one.mean.to_vector() == got.mean.to_vector());
    }
}
