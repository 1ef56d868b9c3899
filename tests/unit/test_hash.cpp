// The ROAST hash and the mapping formulas: pinned test vectors (docs/roast.md; changing
// any of them breaks every checkpoint) and statistical properties of the hash.
#include <cmath>
#include <cstdint>
#include <vector>

#include "roast/mapping.h"
#include "support/catch.h"

using namespace roast;
using u64 = std::uint64_t;

namespace {
Mapping roast_mapping(u64 seed, std::uint32_t layer, std::int64_t rows, std::int64_t cols, std::int64_t base,
                      std::int64_t size, int tile_rows, int tile_cols, SignMode sign) {
  Mapping m;
  m.scheme = Scheme::roast;
  m.sign_mode = sign;
  m.seed = seed;
  m.layer = layer;
  m.rows = rows;
  m.cols = cols;
  m.region_base = base;
  m.region_size = size;
  m.tile_rows = tile_rows;
  m.tile_cols = tile_cols;
  return m;
}
}  // namespace

TEST_CASE("hash: pinned mix64 and hash3 vectors", "[hash]") {
  CHECK(hash::mix64(0) == 0ull);
  CHECK(hash::mix64(1) == 0x5692161D100B05E5ull);
  CHECK(hash::mix64(0x0123456789ABCDEFull) == 0xB2C058E4EBB5112Cull);
  CHECK(hash::hash3(0, 0, 0, 0) == 0x1957A7604E215178ull);
  CHECK(hash::hash3(1, 2, 3, 4) == 0xDE59611246BC83F8ull);
  CHECK(hash::hash3(0xDEADBEEF, 7, (u64(1) << 31) + 5, u64(1) << 40) == 0x00DECA3352E38A8Full);
  CHECK(hash::hash3(42, 3, 5, 7) == 0x467C292D13D74A26ull);
  CHECK(hash::reduce(0x467C292D13D74A26ull, 1000) == 0x467C292D13D74A26ull % 1000);
  CHECK(hash::sign_of(0x8000000000000000ull) == -1.0f);
  CHECK(hash::sign_of(0x7FFFFFFFFFFFFFFFull) == 1.0f);
}

TEST_CASE("hash: pinned roast matrix vectors (tile sign)", "[hash]") {
  const Mapping a = roast_mapping(42, 3, 1000, 500, 100, 1000000, 32, 64, SignMode::tile);
  CHECK(a.tile_start(0, 0) == 316186);
  CHECK(a.tile_start(5, 7) == 586041);
  CHECK(a.loc(0, 0) == 316186);
  CHECK(a.loc(999, 499) == 133984);
  CHECK(a.loc(123, 456) == 798617);
  CHECK(a.sign(123, 456) == -1.0f);
  CHECK(a.sign(0, 0) == -1.0f);
}

TEST_CASE("hash: pinned vectors beyond 32 bits (memory > 2^40, row > 2^31, element sign)", "[hash]") {
  const std::int64_t big_row = (std::int64_t(1) << 31) + 3;
  const Mapping b = roast_mapping(7, 0, std::int64_t(3) << 31, 4096, std::int64_t(1) << 20,
                                  (std::int64_t(1) << 40) + 12345, 32, 64, SignMode::element);
  CHECK(b.tile_start(big_row / 32, 10) == 750337400321);
  CHECK(b.loc(big_row, 1000) == 803520060068);
  CHECK(b.loc(b.rows - 1, 4095) == 912309122948);
  CHECK(b.sign(big_row, 1000) == 1.0f);
  CHECK(b.sign(big_row, 1001) == -1.0f);
  CHECK(b.sign(5, 70) == 1.0f);
  // Every location stays inside the region, far beyond 2^32.
  CHECK(b.loc(b.rows - 1, 4095) < b.region_base + b.region_size);
  CHECK(b.tile_start(b.n_tile_rows() - 1, b.n_tile_cols() - 1) + b.tile_size() <= b.region_base + b.region_size);
}

TEST_CASE("hash: pinned hashednet, embedding and dense vectors", "[hash]") {
  Mapping c;
  c.scheme = Scheme::hashednet;
  c.sign_mode = SignMode::element;
  c.seed = 1;
  c.layer = 2;
  c.rows = 300;
  c.cols = 200;
  c.region_base = 5000;
  c.region_size = 7777;
  CHECK(c.loc(17, 33) == 7163);
  CHECK(c.sign(17, 33) == -1.0f);
  CHECK(c.loc(299, 199) == 11992);
  CHECK(c.sign(299, 199) == -1.0f);

  Mapping d = roast_mapping(2023, 1, 50000, 128, 0, 300000, 1, 32, SignMode::tile);
  d.kind = TensorKind::embedding;
  CHECK(d.loc(49999, 127) == 203499);
  CHECK(d.loc(0, 33) == 109253);
  CHECK(d.sign(49999, 127) == 1.0f);
  CHECK(d.sign(0, 33) == -1.0f);

  Mapping e;
  e.scheme = Scheme::dense;
  e.rows = 20;
  e.cols = 30;
  e.region_base = 77;
  e.region_size = 600;
  e.tile_rows = 32;
  e.tile_cols = 64;
  CHECK(e.loc(5, 6) == 77 + 5 * 30 + 6);
  CHECK(e.sign(5, 6) == 1.0f);
}

TEST_CASE("hash: tile starts are uniform over the region (chi-square)", "[hash]") {
  const std::int64_t region = 3000000, tile = 32 * 64, n_bins = 100;
  for (u64 seed : {u64(1), u64(99), u64(123456789)}) {
    const Mapping m = roast_mapping(seed, 5, 32 * 200, 64 * 200, 1000, region, 32, 64, SignMode::tile);
    std::vector<double> bins(n_bins, 0.0);
    const std::int64_t range = region - tile + 1;
    std::int64_t n_outside = 0;
    for (std::int64_t tr = 0; tr < 200; ++tr) {
      for (std::int64_t tc = 0; tc < 200; ++tc) {
        const std::int64_t offset = m.tile_start(tr, tc) - m.region_base;
        if (offset < 0 || offset >= range) {
          ++n_outside;
          continue;
        }
        bins[std::size_t(offset * n_bins / range)] += 1;
      }
    }
    CHECK(n_outside == 0);
    const double expected = 200.0 * 200.0 / double(n_bins);
    double chi_square = 0;
    for (double count : bins) chi_square += (count - expected) * (count - expected) / expected;
    INFO("seed " << seed << " chi-square " << chi_square << " with 99 degrees of freedom");
    CHECK(chi_square < 160.0);  // p < 1e-4 for 99 dof; the mean is 99
  }
}

TEST_CASE("hash: signs are balanced and uncorrelated", "[hash]") {
  // Tile signs: one per tile, half of them negative.
  const Mapping t = roast_mapping(11, 2, 32 * 200, 64 * 200, 0, 1 << 20, 32, 64, SignMode::tile);
  double n_negative = 0;
  int n_varying_tiles = 0;  // tiles whose corners disagree: the sign must be constant per tile
  for (std::int64_t tr = 0; tr < 200; ++tr) {
    for (std::int64_t tc = 0; tc < 200; ++tc) {
      n_negative += t.sign(tr * 32, tc * 64) < 0 ? 1 : 0;
      n_varying_tiles += t.sign(tr * 32 + 31, tc * 64 + 63) == t.sign(tr * 32, tc * 64) ? 0 : 1;
    }
  }
  CHECK(n_varying_tiles == 0);
  CHECK(std::abs(n_negative / 40000.0 - 0.5) < 0.01);  // 4 standard deviations

  // Element signs (tiled and hashednet): balanced, and neighbours uncorrelated.
  Mapping e = roast_mapping(12, 4, 512, 512, 0, 1 << 20, 32, 64, SignMode::element);
  Mapping h = e;
  h.scheme = Scheme::hashednet;
  for (const Mapping& m : {e, h}) {
    double sum = 0, right = 0, below = 0;
    for (std::int64_t r = 0; r + 1 < 512; ++r) {
      for (std::int64_t c = 0; c + 1 < 512; ++c) {
        const float s = m.sign(r, c);
        sum += s;
        right += s * m.sign(r, c + 1);
        below += s * m.sign(r + 1, c);
      }
    }
    const double n = 511.0 * 511.0;
    INFO("scheme " << int(m.scheme) << " mean " << sum / n << " right " << right / n << " below " << below / n);
    CHECK(std::abs(sum / n) < 0.01);  // sd 0.002
    CHECK(std::abs(right / n) < 0.01);
    CHECK(std::abs(below / n) < 0.01);
  }
}

TEST_CASE("hash: the map depends on the seed and the layer", "[hash]") {
  const Mapping a = roast_mapping(1, 0, 32 * 50, 64 * 50, 0, 1 << 22, 32, 64, SignMode::tile);
  Mapping other_seed = a, other_layer = a;
  other_seed.seed = 2;
  other_layer.layer = 1;
  int n_same_seed = 0, n_same_layer = 0;
  for (std::int64_t tr = 0; tr < 50; ++tr) {
    for (std::int64_t tc = 0; tc < 50; ++tc) {
      CHECK(a.tile_start(tr, tc) == roast_mapping(1, 0, 32 * 50, 64 * 50, 0, 1 << 22, 32, 64, SignMode::tile)
                                        .tile_start(tr, tc));
      n_same_seed += a.tile_start(tr, tc) == other_seed.tile_start(tr, tc) ? 1 : 0;
      n_same_layer += a.tile_start(tr, tc) == other_layer.tile_start(tr, tc) ? 1 : 0;
    }
  }
  CHECK(n_same_seed <= 2);  // 2500 tiles, a coincidence has probability 1/4e6 each
  CHECK(n_same_layer <= 2);
}
