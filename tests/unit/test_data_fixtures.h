// Fixtures for the [data] tests: a temporary folder that removes itself, file writers,
// gzip compression and IDX / CIFAR builders. Tests never read an installed dataset
// except in the clearly marked real-data cases, which skip when the files are absent.
#pragma once

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "roast/error.h"
#include "support/catch.h"

namespace data_fixtures {

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "roast-data-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

using Bytes = std::vector<std::uint8_t>;

inline void write_bytes(const std::string& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

inline void write_text(const std::string& path, const std::string& text) {
  write_bytes(path, Bytes(text.begin(), text.end()));
}

// A complete gzip member holding `raw`.
inline Bytes gzip(const Bytes& raw) {
  z_stream stream{};
  REQUIRE(deflateInit2(&stream, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  Bytes out(deflateBound(&stream, static_cast<uLong>(raw.size())) + 32);
  stream.next_in = const_cast<Bytef*>(raw.data());
  stream.avail_in = static_cast<uInt>(raw.size());
  stream.next_out = out.data();
  stream.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&stream, Z_FINISH) == Z_STREAM_END);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  return out;
}

inline void put_u32_be(Bytes& out, std::uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(value >> shift));
}

// An IDX file of unsigned bytes with the given dimensions and data.
inline Bytes idx_file(const std::vector<std::uint32_t>& dims, const Bytes& data) {
  Bytes out = {0, 0, 0x08, static_cast<std::uint8_t>(dims.size())};
  for (std::uint32_t d : dims) put_u32_be(out, d);
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

inline Bytes random_bytes(std::size_t n, std::uint32_t seed, int max_value = 255) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(0, max_value);
  Bytes out(n);
  for (auto& b : out) b = static_cast<std::uint8_t>(dist(rng));
  return out;
}

// A learnable 10-class IDX set of n 28 x 28 images: class c lights a 4 x 4 block at a
// class-specific place, over noise below 60. Writes PREFIX-images-idx3-ubyte and
// PREFIX-labels-idx1-ubyte (prefix: a path without the suffixes, e.g. dir/train).
inline void write_learnable_idx(const std::string& prefix, int n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  Bytes images(std::size_t(n) * 784);
  Bytes labels(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    const int c = i % 10;
    labels[std::size_t(i)] = std::uint8_t(c);
    for (int p = 0; p < 784; ++p) images[std::size_t(i) * 784 + std::size_t(p)] = std::uint8_t(rng() % 60);
    for (int y = 0; y < 4; ++y)
      for (int x = 0; x < 4; ++x)
        images[std::size_t(i) * 784 + std::size_t((4 + (c / 5) * 12 + y) * 28 + 2 + (c % 5) * 5 + x)] = 250;
  }
  write_bytes(prefix + "-images-idx3-ubyte", idx_file({std::uint32_t(n), 28, 28}, images));
  write_bytes(prefix + "-labels-idx1-ubyte", idx_file({std::uint32_t(n)}, labels));
}

// Where the real-data tests look for files fetched by scripts/fetch_data.sh.
inline std::string repo_data_path(const std::string& relative) {
  return std::string(ROAST_SOURCE_DIR) + "/data/" + relative;
}

}  // namespace data_fixtures

namespace data_fixtures {

// The message of the roast::Error that f throws, or a marker that makes checks fail.
template <typename F>
std::string error_message(F&& f) {
  try {
    f();
  } catch (const roast::Error& e) {
    return e.what();
  }
  return "<no roast::Error was thrown>";
}

// |got - ref| <= abs_tol + rel_tol * |ref|: tolerances that scale with the magnitude.
// (Catch's Approx is spelt differently in v2 and v3, hence this helper.)
inline bool near(double got, double ref, double abs_tol, double rel_tol) {
  return std::abs(got - ref) <= abs_tol + rel_tol * std::abs(ref);
}

inline bool mentions(const std::string& message, const std::string& part) {
  return message.find(part) != std::string::npos;
}

}  // namespace data_fixtures
