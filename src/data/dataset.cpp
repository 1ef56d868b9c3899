#include "roast/data/dataset.h"

#include <algorithm>

#include "roast/error.h"

namespace roast::data {
namespace {

void check_labels(const std::vector<std::int32_t>& labels, std::int32_t n_classes, const std::string& source) {
  for (std::size_t i = 0; i < labels.size(); ++i)
    if (labels[i] < 0 || labels[i] >= n_classes)
      fail(source, ": record ", i, " has label ", labels[i], ", expected a class in [0, ", n_classes,
           "). Check that the labels and the class list belong to the same dataset.");
}

void check_indices(const std::vector<std::int64_t>& indices, std::int64_t n, const char* what) {
  for (std::size_t i = 0; i < indices.size(); ++i)
    if (indices[i] < 0 || indices[i] >= n)
      fail("subset of ", what, ": index ", indices[i], " at position ", i, " is outside [0, ", n, ").");
}

}  // namespace

void ImageDataset::validate(const std::string& source) const {
  if (n <= 0) fail(source, ": the dataset is empty (0 images); expected at least one. Check the file or the split.");
  if (channels <= 0 || height <= 0 || width <= 0)
    fail(source, ": image shape ", channels, "x", height, "x", width, " is not positive.");
  if (static_cast<std::int64_t>(pixels.size()) != n * pixels_per_image())
    fail(source, ": holds ", pixels.size(), " pixel bytes, expected ", n * pixels_per_image(), " (", n,
         " images of ", channels, "x", height, "x", width, ").");
  if (static_cast<std::int64_t>(labels.size()) != n)
    fail(source, ": has ", labels.size(), " labels for ", n, " images; expected one label per image.");
  if (n_classes <= 0) fail(source, ": class count ", n_classes, " is not positive.");
  if (!class_names.empty() && static_cast<std::int32_t>(class_names.size()) != n_classes)
    fail(source, ": has ", class_names.size(), " class names for ", n_classes, " classes.");
  check_labels(labels, n_classes, source);
}

void TextDataset::validate(const std::string& source) const {
  if (texts.empty()) fail(source, ": the dataset is empty (0 texts); expected at least one. Check the file or the split.");
  if (labels.size() != texts.size())
    fail(source, ": has ", labels.size(), " labels for ", texts.size(), " texts; expected one label per text.");
  if (class_names.empty()) fail(source, ": no class names; expected at least one class.");
  check_labels(labels, n_classes(), source);
}

ImageDataset subset(const ImageDataset& dataset, const std::vector<std::int64_t>& indices) {
  check_indices(indices, dataset.n, "an image dataset");
  ImageDataset out;
  out.n = static_cast<std::int64_t>(indices.size());
  out.channels = dataset.channels;
  out.height = dataset.height;
  out.width = dataset.width;
  out.n_classes = dataset.n_classes;
  out.class_names = dataset.class_names;
  const std::int64_t per_image = dataset.pixels_per_image();
  out.pixels.resize(static_cast<std::size_t>(out.n * per_image));
  out.labels.reserve(indices.size());
  for (std::size_t i = 0; i < indices.size(); ++i) {
    const std::uint8_t* source = dataset.image(indices[i]);
    std::copy(source, source + per_image, out.pixels.begin() + static_cast<std::ptrdiff_t>(i * per_image));
    out.labels.push_back(dataset.labels[indices[i]]);
  }
  return out;
}

TextDataset subset(const TextDataset& dataset, const std::vector<std::int64_t>& indices) {
  check_indices(indices, dataset.size(), "a text dataset");
  TextDataset out;
  out.class_names = dataset.class_names;
  out.texts.reserve(indices.size());
  out.labels.reserve(indices.size());
  for (std::int64_t index : indices) {
    out.texts.push_back(dataset.texts[index]);
    out.labels.push_back(dataset.labels[index]);
  }
  return out;
}

std::vector<std::int64_t> class_counts(const std::vector<std::int32_t>& labels, std::int32_t n_classes) {
  ROAST_CHECK(n_classes > 0, "class_counts: class count ", n_classes, " is not positive.");
  check_labels(labels, n_classes, "class_counts");
  std::vector<std::int64_t> counts(static_cast<std::size_t>(n_classes), 0);
  for (std::int32_t label : labels) ++counts[label];
  return counts;
}

}  // namespace roast::data
