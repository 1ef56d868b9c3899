#include "roast/data/png.h"

#include <zlib.h>

#include <cstdlib>
#include <cstring>

#include "data/file_io.h"
#include "roast/error.h"

namespace roast::data {
namespace {
constexpr std::uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};

std::uint32_t be32(const std::uint8_t* p) {
  return std::uint32_t(p[0]) << 24 | std::uint32_t(p[1]) << 16 | std::uint32_t(p[2]) << 8 | std::uint32_t(p[3]);
}

std::vector<std::uint8_t> inflate_all(const std::vector<std::uint8_t>& in, std::size_t expected, const std::string& source) {
  std::vector<std::uint8_t> out(expected);
  z_stream zs{};
  if (inflateInit(&zs) != Z_OK) fail(source, ": zlib could not start");
  zs.next_in = const_cast<Bytef*>(in.data());
  zs.avail_in = uInt(in.size());
  zs.next_out = out.data();
  zs.avail_out = uInt(out.size());
  const int rc = inflate(&zs, Z_FINISH);
  inflateEnd(&zs);
  if (rc != Z_STREAM_END || zs.total_out != expected)
    fail(source, ": the PNG image data is corrupt or truncated (inflated ", zs.total_out, " of ", expected, " bytes)");
  return out;
}

int paeth(int a, int b, int c) {
  const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
  return (pa <= pb && pa <= pc) ? a : (pb <= pc ? b : c);
}
}  // namespace

PngImage decode_png(const std::vector<std::uint8_t>& b, const std::string& source) {
  if (b.size() < 8 || std::memcmp(b.data(), kSignature, 8) != 0)
    fail(source, " is not a PNG file (wrong signature). Give an 8-bit PNG or an IDX image file");
  std::size_t at = 8;
  std::uint32_t width = 0, height = 0;
  int depth = 0, color = -1, interlace = 0;
  std::vector<std::uint8_t> idat;
  bool ended = false;
  while (!ended) {
    if (at + 12 > b.size()) fail(source, ": truncated PNG (a chunk header runs past the end of the file)");
    const std::uint32_t len = be32(&b[at]);
    const std::string type(reinterpret_cast<const char*>(&b[at + 4]), 4);
    if (len > b.size() - at - 12) fail(source, ": truncated PNG (chunk ", type, " runs past the end of the file)");
    const std::uint8_t* data = &b[at + 8];
    const uLong crc = crc32(crc32(0L, Z_NULL, 0), &b[at + 4], uInt(len + 4));
    if (crc != be32(data + len)) fail(source, ": corrupt PNG (chunk ", type, " fails its CRC check)");
    if (type == "IHDR") {
      if (len != 13) fail(source, ": corrupt PNG (IHDR of ", len, " bytes)");
      width = be32(data), height = be32(data + 4), depth = data[8], color = data[9], interlace = data[12];
    } else if (type == "IDAT") {
      idat.insert(idat.end(), data, data + len);
    } else if (type == "IEND") {
      ended = true;
    }
    at += 12 + std::size_t(len);
  }
  if (width == 0 || height == 0) fail(source, ": PNG without an image header (IHDR) or with an empty image");
  const int channels = color == 0 ? 1 : color == 2 ? 3 : color == 4 ? 2 : color == 6 ? 4 : 0;
  if (depth != 8 || channels == 0 || interlace != 0)
    fail(source, ": unsupported PNG (bit depth ", depth, ", colour type ", color, ", interlace ", interlace,
         "); save it as 8-bit grey, grey+alpha, RGB or RGBA without interlacing");
  if (width > (1u << 15) || height > (1u << 15)) fail(source, ": PNG of ", width, "x", height, " is too large");
  const std::size_t stride = std::size_t(width) * std::size_t(channels);
  std::vector<std::uint8_t> raw = inflate_all(idat, (stride + 1) * height, source);
  std::vector<std::uint8_t> rows(stride * height);
  for (std::size_t y = 0; y < height; ++y) {
    const std::uint8_t filter = raw[y * (stride + 1)];
    const std::uint8_t* in = &raw[y * (stride + 1) + 1];
    std::uint8_t* out = &rows[y * stride];
    const std::uint8_t* up = y ? &rows[(y - 1) * stride] : nullptr;
    if (filter > 4) fail(source, ": corrupt PNG (row ", y, " has filter type ", int(filter), ")");
    for (std::size_t i = 0; i < stride; ++i) {
      const int a = i >= std::size_t(channels) ? out[i - std::size_t(channels)] : 0;
      const int u = up ? up[i] : 0;
      const int c = (up && i >= std::size_t(channels)) ? up[i - std::size_t(channels)] : 0;
      const int pred = filter == 0 ? 0 : filter == 1 ? a : filter == 2 ? u : filter == 3 ? (a + u) / 2 : paeth(a, u, c);
      out[i] = std::uint8_t(in[i] + pred);
    }
  }
  PngImage img;
  img.width = width, img.height = height, img.channels = channels >= 3 ? 3 : 1;
  img.pixels.resize(std::size_t(img.channels) * height * width);
  for (std::int64_t c = 0; c < img.channels; ++c)
    for (std::size_t p = 0; p < std::size_t(width) * height; ++p)
      img.pixels[std::size_t(c) * width * height + p] = rows[p * std::size_t(channels) + std::size_t(c)];
  return img;
}

PngImage read_png(const std::string& path) { return decode_png(detail::read_file_bytes(path), path); }

PngImage convert_channels(const PngImage& image, std::int64_t channels) {
  ROAST_CHECK(channels == 1 || channels == 3, "convert_channels: channels must be 1 or 3, got ", channels);
  if (image.channels == channels) return image;
  PngImage out = image;
  out.channels = channels;
  const std::size_t plane = std::size_t(image.width * image.height);
  out.pixels.assign(std::size_t(channels) * plane, 0);
  for (std::size_t p = 0; p < plane; ++p) {
    if (channels == 1) {
      const double y = 0.299 * image.pixels[p] + 0.587 * image.pixels[plane + p] + 0.114 * image.pixels[2 * plane + p];
      out.pixels[p] = std::uint8_t(y + 0.5);
    } else {
      for (std::size_t c = 0; c < 3; ++c) out.pixels[c * plane + p] = image.pixels[p];
    }
  }
  return out;
}

}  // namespace roast::data
