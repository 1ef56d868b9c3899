// In-memory datasets: what every reader in roast/data produces and every loader consumes.
//
// Both types are plain values with public fields so that tests and tools can build them
// by hand. validate() checks the invariants listed on each field; readers call it before
// returning, so a dataset that came from a reader always satisfies them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace roast::data {

// n images of channels x height x width bytes, stored sample-major and planar (CHW), the
// layout of IDX and CIFAR files. Pixels stay uint8 (4x smaller than floats: Fashion-MNIST
// is 47 MB instead of 188 MB); normalisation to float happens per batch (image_transforms.h).
struct ImageDataset {
  std::int64_t n = 0;
  std::int64_t channels = 0, height = 0, width = 0;
  std::vector<std::uint8_t> pixels;       // n * channels * height * width bytes
  std::vector<std::int32_t> labels;       // n labels, each in [0, n_classes)
  std::int32_t n_classes = 0;             // > 0
  std::vector<std::string> class_names;   // empty, or n_classes names

  std::int64_t pixels_per_image() const { return channels * height * width; }
  const std::uint8_t* image(std::int64_t index) const { return pixels.data() + index * pixels_per_image(); }
  // Throws roast::Error naming `source` (a file or dataset name) when an invariant fails.
  void validate(const std::string& source) const;
};

// n texts with one label each. Texts are kept as read (UTF-8, HTML untouched);
// tokenizers (tokenizer.h) do the cleaning so that the raw text stays available.
struct TextDataset {
  std::vector<std::string> texts;
  std::vector<std::int32_t> labels;       // texts.size() labels, each in [0, n_classes())
  std::vector<std::string> class_names;   // one per class; its size is the class count

  std::int64_t size() const { return static_cast<std::int64_t>(texts.size()); }
  std::int32_t n_classes() const { return static_cast<std::int32_t>(class_names.size()); }
  void validate(const std::string& source) const;
};

// The samples at `indices` (each in [0, n), duplicates allowed), in that order.
// Class names and counts are kept, so a subset's labels mean what the parent's meant.
ImageDataset subset(const ImageDataset& dataset, const std::vector<std::int64_t>& indices);
TextDataset subset(const TextDataset& dataset, const std::vector<std::int64_t>& indices);

// Samples per class: result[c] = number of labels equal to c, for c in [0, n_classes).
// Throws roast::Error when a label is outside [0, n_classes).
std::vector<std::int64_t> class_counts(const std::vector<std::int32_t>& labels, std::int32_t n_classes);

}  // namespace roast::data
