// PNG decoding against images the test encodes itself (every filter type, grey and RGBA).
#include <zlib.h>

#include "roast/data/png.h"
#include "roast/error.h"
#include "support/catch.h"

using namespace roast::data;

namespace {
void put32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(std::uint8_t(v >> s));
}
void chunk(std::vector<std::uint8_t>& out, const char* type, const std::vector<std::uint8_t>& data) {
  put32(out, std::uint32_t(data.size()));
  const std::size_t start = out.size();
  out.insert(out.end(), type, type + 4);
  out.insert(out.end(), data.begin(), data.end());
  put32(out, std::uint32_t(crc32(crc32(0L, Z_NULL, 0), &out[start], uInt(data.size() + 4))));
}
// Encodes with filter (row % 5) on every row: exercises None, Sub, Up, Average and Paeth.
std::vector<std::uint8_t> encode(const std::vector<std::uint8_t>& interleaved, int w, int h, int channels, int color) {
  const std::size_t stride = std::size_t(w * channels);
  std::vector<std::uint8_t> raw;
  for (int y = 0; y < h; ++y) {
    const int f = y % 5;
    raw.push_back(std::uint8_t(f));
    for (std::size_t i = 0; i < stride; ++i) {
      const int x = interleaved[std::size_t(y) * stride + i];
      const int a = i >= std::size_t(channels) ? interleaved[std::size_t(y) * stride + i - std::size_t(channels)] : 0;
      const int u = y ? interleaved[std::size_t(y - 1) * stride + i] : 0;
      const int c = (y && i >= std::size_t(channels)) ? interleaved[std::size_t(y - 1) * stride + i - std::size_t(channels)] : 0;
      const int p = a + u - c, pa = std::abs(p - a), pb = std::abs(p - u), pc = std::abs(p - c);
      const int paeth = (pa <= pb && pa <= pc) ? a : (pb <= pc ? u : c);
      const int pred = f == 0 ? 0 : f == 1 ? a : f == 2 ? u : f == 3 ? (a + u) / 2 : paeth;
      raw.push_back(std::uint8_t(x - pred));
    }
  }
  uLongf n = compressBound(uLong(raw.size()));
  std::vector<std::uint8_t> z(n);
  compress(z.data(), &n, raw.data(), uLong(raw.size()));
  z.resize(n);
  std::vector<std::uint8_t> out = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
  std::vector<std::uint8_t> ihdr;
  put32(ihdr, std::uint32_t(w));
  put32(ihdr, std::uint32_t(h));
  ihdr.insert(ihdr.end(), {8, std::uint8_t(color), 0, 0, 0});
  chunk(out, "IHDR", ihdr);
  chunk(out, "IDAT", z);
  chunk(out, "IEND", {});
  return out;
}
}  // namespace

TEST_CASE("png: decodes grey and RGBA images with every filter", "[data][png]") {
  const int w = 7, h = 10;
  std::vector<std::uint8_t> grey(std::size_t(w * h)), rgba(std::size_t(w * h * 4));
  for (std::size_t i = 0; i < grey.size(); ++i) grey[i] = std::uint8_t((i * 37 + 11) % 256);
  for (std::size_t i = 0; i < rgba.size(); ++i) rgba[i] = std::uint8_t((i * 53 + 7) % 256);
  const PngImage g = decode_png(encode(grey, w, h, 1, 0), "grey.png");
  CHECK(g.channels == 1);
  CHECK(g.pixels == grey);
  const PngImage c = decode_png(encode(rgba, w, h, 4, 6), "rgba.png");
  REQUIRE(c.channels == 3);
  for (int p = 0; p < w * h; ++p)
    for (int ch = 0; ch < 3; ++ch) CHECK(c.pixels[std::size_t(ch * w * h + p)] == rgba[std::size_t(p * 4 + ch)]);
  CHECK(convert_channels(g, 3).pixels.size() == std::size_t(3 * w * h));
  CHECK(convert_channels(c, 1).channels == 1);
}

TEST_CASE("png: bad files are named with the problem", "[data][png]") {
  std::vector<std::uint8_t> grey(16, 100);
  const std::vector<std::uint8_t> good = encode(grey, 4, 4, 1, 0);
  CHECK_THROWS_WITH(decode_png({1, 2, 3}, "x.png"), ROAST_CONTAINS("x.png is not a PNG"));
  CHECK_THROWS_WITH(decode_png(std::vector<std::uint8_t>(good.begin(), good.begin() + 30), "t.png"), ROAST_CONTAINS("truncated"));
  std::vector<std::uint8_t> bad = good;
  bad[20] ^= 1;  // inside IHDR
  CHECK_THROWS_WITH(decode_png(bad, "c.png"), ROAST_CONTAINS("CRC"));
  std::vector<std::uint8_t> sixteen = encode(grey, 4, 4, 1, 0);
  sixteen[24] = 16;  // bit depth (the CRC is then wrong too: fix it)
  const uLong crc = crc32(crc32(0L, Z_NULL, 0), &sixteen[12], 17);
  for (int s = 0; s < 4; ++s) sixteen[29 + std::size_t(s)] = std::uint8_t(crc >> (24 - 8 * s));
  CHECK_THROWS_WITH(decode_png(sixteen, "d.png"), ROAST_CONTAINS("bit depth 16"));
}
