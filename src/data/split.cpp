#include "roast/data/split.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <unordered_set>

#include "data/file_io.h"
#include "data/random.h"
#include "roast/error.h"

namespace roast::data {
namespace {

std::string hex64(std::uint64_t value) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(value));
  return text;
}

Split complement(std::int64_t n, std::vector<std::int64_t> test) {
  Split split;
  split.test = std::move(test);
  split.train.reserve(static_cast<std::size_t>(n) - split.test.size());
  std::size_t t = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    if (t < split.test.size() && split.test[t] == i) ++t;
    else split.train.push_back(i);
  }
  return split;
}

}  // namespace

Split stratified_split(const std::vector<std::int32_t>& labels, std::int32_t n_classes, double fraction,
                       std::uint64_t seed) {
  ROAST_CHECK(fraction >= 0 && fraction < 1, "stratified split: fraction ", fraction,
              " is outside [0, 1); expected e.g. 0.1 for a 90/10 split.");
  const std::vector<std::int64_t> counts = class_counts(labels, n_classes);  // validates the labels
  std::vector<std::vector<std::int64_t>> by_class(static_cast<std::size_t>(n_classes));
  for (std::size_t c = 0; c < by_class.size(); ++c) by_class[c].reserve(static_cast<std::size_t>(counts[c]));
  for (std::size_t i = 0; i < labels.size(); ++i) by_class[labels[i]].push_back(static_cast<std::int64_t>(i));
  std::vector<std::int64_t> test;
  for (std::size_t c = 0; c < by_class.size(); ++c) {
    // One independent stream per class: adding samples of one class leaves the others' choice alone.
    detail::Rng rng(detail::derive_seed(seed, c));
    detail::shuffle(by_class[c], rng);
    const auto n_test = static_cast<std::size_t>(std::llround(fraction * static_cast<double>(counts[c])));
    test.insert(test.end(), by_class[c].begin(), by_class[c].begin() + static_cast<std::ptrdiff_t>(n_test));
  }
  std::sort(test.begin(), test.end());
  return complement(static_cast<std::int64_t>(labels.size()), std::move(test));
}

std::int64_t deduplicate_texts(TextDataset& dataset) {
  std::unordered_set<std::string_view> seen;
  seen.reserve(dataset.texts.size());
  std::vector<bool> keep(dataset.texts.size());
  for (std::size_t i = 0; i < dataset.texts.size(); ++i) keep[i] = seen.insert(dataset.texts[i]).second;
  seen.clear();  // its views point into the texts about to move
  std::size_t out = 0;
  for (std::size_t i = 0; i < dataset.texts.size(); ++i) {
    if (!keep[i]) continue;
    if (out != i) {
      dataset.texts[out] = std::move(dataset.texts[i]);
      dataset.labels[out] = dataset.labels[i];
    }
    ++out;
  }
  const auto removed = static_cast<std::int64_t>(dataset.texts.size() - out);
  dataset.texts.resize(out);
  dataset.labels.resize(out);
  return removed;
}

std::uint64_t content_hash(const TextDataset& dataset) {
  std::uint64_t hash = detail::fnv1a(nullptr, 0);
  for (std::size_t i = 0; i < dataset.texts.size(); ++i) {
    const std::uint64_t length = dataset.texts[i].size();  // separates "ab"+"c" from "a"+"bc"
    hash = detail::fnv1a(&length, sizeof length, hash);
    hash = detail::fnv1a(dataset.texts[i].data(), dataset.texts[i].size(), hash);
  }
  return detail::fnv1a(dataset.labels.data(), dataset.labels.size() * sizeof(std::int32_t), hash);
}

std::uint64_t content_hash(const ImageDataset& dataset) {
  const std::int64_t shape[4] = {dataset.n, dataset.channels, dataset.height, dataset.width};
  std::uint64_t hash = detail::fnv1a(shape, sizeof shape);
  hash = detail::fnv1a(dataset.pixels.data(), dataset.pixels.size(), hash);
  return detail::fnv1a(dataset.labels.data(), dataset.labels.size() * sizeof(std::int32_t), hash);
}

void save_split(const std::string& path, const SplitRecord& record) {
  const nlohmann::json json = {{"format", "roast-split-v1"},
                               {"dataset", record.dataset},
                               {"n_samples", record.n_samples},
                               {"content_hash", hex64(record.content_hash)},
                               {"seed", record.seed},
                               {"fraction", record.fraction},
                               {"n_test", record.test.size()}};
  // Readable metadata, one line per key, but the (long) index list on a single line.
  std::string text = json.dump(1);
  text.insert(text.size() - 2, ",\n \"test_indices\": " + nlohmann::json(record.test).dump());
  std::ofstream out(path, std::ios::trunc);
  if (!out) fail("cannot write split file '", path, "'; check that its folder exists and is writable.");
  out << text << '\n';
  if (!out) fail("writing split file '", path, "' failed (disk full?).");
}

SplitRecord load_split(const std::string& path) {
  const std::string text = detail::read_text_file(path);
  const char* fix = " Delete the file to make a new split.";
  SplitRecord record;
  try {
    const nlohmann::json json = nlohmann::json::parse(text);
    if (json.value("format", std::string()) != "roast-split-v1")
      fail("split file '", path, "' lacks \"format\": \"roast-split-v1\"; it is not a split written by roast.", fix);
    record.dataset = json.at("dataset").get<std::string>();
    record.n_samples = json.at("n_samples").get<std::int64_t>();
    record.content_hash = std::stoull(json.at("content_hash").get<std::string>(), nullptr, 16);
    record.seed = json.at("seed").get<std::uint64_t>();
    record.fraction = json.at("fraction").get<double>();
    record.test = json.at("test_indices").get<std::vector<std::int64_t>>();
  } catch (const nlohmann::json::exception& e) {
    fail("split file '", path, "' is damaged (", e.what(), "); expected the JSON object roast writes.", fix);
  } catch (const std::logic_error&) {  // stoull on a bad hash
    fail("split file '", path, "' has a content_hash that is not 16 hex digits.", fix);
  }
  for (std::size_t i = 0; i < record.test.size(); ++i) {
    const std::int64_t index = record.test[i];
    if (index < 0 || index >= record.n_samples || (i > 0 && index <= record.test[i - 1]))
      fail("split file '", path, "' test_indices[", i, "] = ", index, " is out of order, repeated or outside [0, ",
           record.n_samples, "); expected sorted unique sample indices.", fix);
  }
  return record;
}

Split load_or_make_split(const std::string& path, const TextDataset& dataset, const std::string& name,
                         double fraction, std::uint64_t seed) {
  const std::int64_t n = dataset.size();
  const std::uint64_t hash = content_hash(dataset);
  if (detail::file_exists(path)) {
    const SplitRecord record = load_split(path);
    if (record.n_samples != n || record.content_hash != hash)
      fail("split file '", path, "' was made for another version of the data (", record.n_samples, " samples, hash ",
           hex64(record.content_hash), "; this dataset has ", n, " samples, hash ", hex64(hash),
           "). Delete the file to make a new split, or use the data it was made for.");
    if (record.seed != seed || record.fraction != fraction)
      fail("split file '", path, "' was made with seed ", record.seed, " and fraction ", record.fraction,
           ", but seed ", seed, " and fraction ", fraction, " were asked for. Pass the recorded values, "
           "or delete the file to make a new split.");
    return complement(n, record.test);
  }
  Split split = stratified_split(dataset.labels, dataset.n_classes(), fraction, seed);
  save_split(path, {name, n, hash, seed, fraction, split.test});
  return split;
}

}  // namespace roast::data
