// PNG images for prediction: 8-bit, non-interlaced, grey, grey+alpha, RGB or RGBA.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace roast::data {

struct PngImage {
  std::int64_t width = 0, height = 0, channels = 0;  // channels 1 (grey) or 3 (RGB); alpha is dropped
  std::vector<std::uint8_t> pixels;                  // planar CHW, channels * height * width bytes
};

// Decodes a PNG file. Throws roast::Error naming the file and the problem (not a PNG, a
// truncated or corrupt chunk, an unsupported bit depth / colour type / interlacing).
PngImage read_png(const std::string& path);
// Decodes PNG bytes held in memory; `source` names them in errors.
PngImage decode_png(const std::vector<std::uint8_t>& bytes, const std::string& source);

// The image with `channels` channels (grey <-> RGB by ITU-R 601 luma or replication).
PngImage convert_channels(const PngImage& image, std::int64_t channels);

}  // namespace roast::data
