#include "roast/data/image_transforms.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "data/random.h"
#include "roast/error.h"

namespace roast::data {

ChannelStats compute_channel_stats(const ImageDataset& dataset) {
  dataset.validate("compute_channel_stats");
  const std::int64_t plane = dataset.height * dataset.width;
  ChannelStats stats;
  for (std::int64_t c = 0; c < dataset.channels; ++c) {
    // Integer sums are exact (at most 2^63 / 255^2 pixels), so no float cancellation in var.
    std::uint64_t sum = 0, sum_sq = 0;
    for (std::int64_t i = 0; i < dataset.n; ++i) {
      const std::uint8_t* p = dataset.image(i) + c * plane;
      for (std::int64_t k = 0; k < plane; ++k) {
        sum += p[k];
        sum_sq += std::uint64_t(p[k]) * p[k];
      }
    }
    const double count = static_cast<double>(dataset.n * plane);
    const double mean = static_cast<double>(sum) / count;
    const double var = std::max(0.0, static_cast<double>(sum_sq) / count - mean * mean);
    const double std = std::sqrt(var);
    stats.mean.push_back(static_cast<float>(mean / 255.0));
    stats.std.push_back(std > 0 ? static_cast<float>(std / 255.0) : 1.0f);
  }
  return stats;
}

void check_channel_stats(const ChannelStats& stats, const ImageDataset& dataset) {
  const auto channels = static_cast<std::size_t>(dataset.channels);
  if (stats.mean.size() != channels || stats.std.size() != channels)
    fail("image normalisation: ", stats.mean.size(), " means and ", stats.std.size(), " stds for ", channels,
         "-channel images; expected one of each per channel.");
  for (std::size_t c = 0; c < channels; ++c)
    if (!(stats.std[c] > 0) || !std::isfinite(stats.mean[c]))
      fail("image normalisation: channel ", c, " has mean ", stats.mean[c], " and std ", stats.std[c],
           "; expected a finite mean and a positive std.");
}

void transform_image(const ImageDataset& dataset, std::int64_t index, const ChannelStats& stats,
                     const ImageAugment& augment, std::uint64_t seed, float* out) {
  check_channel_stats(stats, dataset);
  ROAST_CHECK(augment.crop_padding >= 0, "image augmentation: crop_padding ", augment.crop_padding, " is negative.");
  ROAST_CHECK(index >= 0 && index < dataset.n, "transform_image: index ", index, " is outside [0, ", dataset.n, ").");
  const std::int64_t h = dataset.height, w = dataset.width, pad = augment.crop_padding;
  // Offsets of the crop window inside the padded image, and the flip, drawn per sample.
  std::int64_t dy = pad, dx = pad;
  bool flip = false;
  if (augment.enabled()) {
    detail::Rng rng(seed);
    if (pad > 0) {
      dy = static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(2 * pad + 1)));
      dx = static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(2 * pad + 1)));
    }
    flip = augment.horizontal_flip && rng.coin();
  }
  const std::uint8_t* image = dataset.image(index);
  std::array<float, 256> table{};
  for (std::int64_t c = 0; c < dataset.channels; ++c) {
    const float mean = stats.mean[c], inv_std = 1.0f / stats.std[c];
    for (int v = 0; v < 256; ++v) table[v] = (static_cast<float>(v) / 255.0f - mean) * inv_std;
    const std::uint8_t* src = image + c * h * w;
    float* dst = out + c * h * w;
    for (std::int64_t y = 0; y < h; ++y) {
      const std::int64_t sy = y + dy - pad;
      for (std::int64_t x = 0; x < w; ++x) {
        const std::int64_t sx = (flip ? w - 1 - x : x) + dx - pad;
        const bool inside = sy >= 0 && sy < h && sx >= 0 && sx < w;
        dst[y * w + x] = table[inside ? src[sy * w + sx] : 0];  // padding is a black (0) pixel
      }
    }
  }
}

}  // namespace roast::data
