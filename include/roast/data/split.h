// Seeded, stratified splits: a validation split taken from a training set, and train/test
// splits for the corpora that ship without one (IMDB, Reuters R8), recorded in a JSON file
// so that a rerun, an evaluation or a prediction uses exactly the same split.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "roast/data/dataset.h"

namespace roast::data {

// Sample indices of the two parts, each sorted ascending; together they are 0..n-1, once each.
struct Split {
  std::vector<std::int64_t> train;
  std::vector<std::int64_t> test;  // the held-out part (test set, or validation set)
};

// Holds out round(fraction * count) samples of every class, chosen by a seeded shuffle per
// class, so class proportions are kept. Requires labels in [0, n_classes) and fraction in
// [0, 1); the same labels, fraction and seed give the same split on every platform.
// For a validation split, pass the training labels and use subset() on both parts.
Split stratified_split(const std::vector<std::int32_t>& labels, std::int32_t n_classes, double fraction,
                       std::uint64_t seed);

// Removes every text that repeats an earlier one (exact byte equality), keeping the first
// copy and its label, so that no text can land in both parts of a split. Returns the number
// of texts removed. (IMDB has 418 such repeats, none with a conflicting label.)
std::int64_t deduplicate_texts(TextDataset& dataset);

// A 64-bit fingerprint of the texts (or pixels) and labels, in order: a recorded split is
// only valid for the dataset it was made for.
std::uint64_t content_hash(const TextDataset& dataset);
std::uint64_t content_hash(const ImageDataset& dataset);

// What a split file holds (JSON): enough to rebuild the split and to notice a mismatch.
struct SplitRecord {
  std::string dataset;          // a name, for people reading the file
  std::int64_t n_samples = 0;
  std::uint64_t content_hash = 0;
  std::uint64_t seed = 0;
  double fraction = 0;
  std::vector<std::int64_t> test;  // sorted held-out indices; train is the rest
};

void save_split(const std::string& path, const SplitRecord& record);
// Validates the file (JSON shape, indices sorted, unique and in [0, n_samples)).
SplitRecord load_split(const std::string& path);

// The split recorded at `path` when that file exists, else a new stratified split that is
// then written there. An existing record must match the dataset (size and content hash),
// the fraction and the seed; otherwise roast::Error says what differs and the fix (delete
// the file to make a new split, or pass the values it was made with).
Split load_or_make_split(const std::string& path, const TextDataset& dataset, const std::string& name,
                         double fraction, std::uint64_t seed);

}  // namespace roast::data
