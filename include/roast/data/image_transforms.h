// Image preprocessing applied per batch: uint8 pixels -> normalised floats, with optional
// random crop (with zero padding) and horizontal flip for training.
//
// Normalisation: x = (pixel / 255 - mean[c]) / std[c]. Statistics come from the training
// split (compute_channel_stats) or are given (e.g. the usual CIFAR-10 values); the same
// statistics must be used for validation and test.
//
// Augmentation is a pure function of (seed, sample index): the same seed gives the same
// crops and flips on every run, whatever the batch size or thread timing.
#pragma once

#include <cstdint>
#include <vector>

#include "roast/data/dataset.h"

namespace roast::data {

struct ChannelStats {
  std::vector<float> mean;  // one per channel, in [0, 1] pixel units
  std::vector<float> std;   // one per channel, > 0
};

// Mean and (population) standard deviation of every channel over all pixels of the dataset.
// A channel with no variation gets std 1 (so normalisation only centres it).
ChannelStats compute_channel_stats(const ImageDataset& dataset);

struct ImageAugment {
  std::int64_t crop_padding = 0;  // pad every side by this many zero pixels, then crop back at a random offset
  bool horizontal_flip = false;   // mirror left-right with probability 1/2
  bool enabled() const { return crop_padding > 0 || horizontal_flip; }
};

// Writes image `index` of `dataset`, augmented and normalised, to out[0 .. C*H*W) (CHW).
// Requires stats with one mean and one positive std per channel, crop_padding >= 0, and
// 0 <= index < n; throws roast::Error otherwise. `seed` selects the random crop and flip.
void transform_image(const ImageDataset& dataset, std::int64_t index, const ChannelStats& stats,
                     const ImageAugment& augment, std::uint64_t seed, float* out);

// Throws roast::Error unless stats fit the dataset (see transform_image).
void check_channel_stats(const ChannelStats& stats, const ImageDataset& dataset);

}  // namespace roast::data
