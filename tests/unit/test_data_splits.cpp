// Normalisation and augmentation of images; stratified, de-duplicated, recorded splits.
#include <algorithm>
#include <cmath>
#include <set>
#include <tuple>

#include "roast/data/image_transforms.h"
#include "roast/data/split.h"
#include "test_data_fixtures.h"

using namespace roast::data;
using namespace data_fixtures;

namespace {

// n images of c x h x w with random pixels and labels cycling through n_classes.
ImageDataset random_images(std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w, std::uint32_t seed) {
  ImageDataset ds;
  ds.n = n;
  ds.channels = c;
  ds.height = h;
  ds.width = w;
  ds.n_classes = 3;
  ds.pixels = random_bytes(static_cast<std::size_t>(n * c * h * w), seed);
  for (std::int64_t i = 0; i < n; ++i) ds.labels.push_back(static_cast<std::int32_t>(i % 3));
  return ds;
}

}  // namespace

TEST_CASE("channel statistics and normalisation match a direct computation", "[data]") {
  const ImageDataset ds = random_images(7, 3, 4, 5, 21);
  const ChannelStats stats = compute_channel_stats(ds);
  REQUIRE(stats.mean.size() == 3);
  for (std::int64_t c = 0; c < 3; ++c) {
    double sum = 0, sum_sq = 0;
    for (std::int64_t i = 0; i < 7; ++i)
      for (std::int64_t k = 0; k < 20; ++k) {
        const double v = ds.image(i)[c * 20 + k] / 255.0;
        sum += v;
        sum_sq += v * v;
      }
    const double mean = sum / 140, std = std::sqrt(sum_sq / 140 - mean * mean);
    INFO("channel " << c << ": mean " << stats.mean[c] << " vs " << mean << ", std " << stats.std[c] << " vs " << std);
    CHECK(near(stats.mean[c], mean, 1e-7, 1e-6));
    CHECK(near(stats.std[c], std, 1e-7, 1e-5));
  }
  std::vector<float> out(60);
  transform_image(ds, 4, stats, {}, 0, out.data());
  for (std::int64_t k = 0; k < 60; ++k) {
    const std::int64_t c = k / 20;
    const float expected = (ds.image(4)[k] / 255.0f - stats.mean[c]) / stats.std[c];
    INFO("element " << k << ": " << out[k] << " vs " << expected);
    CHECK(near(out[k], expected, 1e-6, 1e-5));
  }
  ImageDataset flat = ds;
  std::fill(flat.pixels.begin(), flat.pixels.end(), 200);
  CHECK(compute_channel_stats(flat).std == std::vector<float>{1, 1, 1});
  CHECK_THROWS_AS(transform_image(ds, 0, {{0.5f}, {0.2f}}, {}, 0, out.data()), roast::Error);
  CHECK_THROWS_AS(transform_image(ds, 0, {{0.5f, 0.5f, 0.5f}, {0.2f, 0.0f, 0.2f}}, {}, 0, out.data()), roast::Error);
}

TEST_CASE("random crop and flip: every output is a shifted, maybe mirrored window of the zero-padded image", "[data]") {
  const ImageDataset ds = random_images(1, 1, 6, 6, 3);
  const ChannelStats identity{{0.0f}, {1.0f / 255.0f}};  // output = raw pixel value
  ImageAugment augment;
  augment.crop_padding = 2;
  augment.horizontal_flip = true;
  std::set<std::tuple<int, int, bool>> seen;
  std::vector<float> out(36);
  for (std::uint64_t seed = 0; seed < 400; ++seed) {
    transform_image(ds, 0, identity, augment, seed, out.data());
    // Find the (dy, dx, flip) that explains the output; exactly as the header describes.
    bool explained = false;
    for (int dy = 0; dy <= 4 && !explained; ++dy)
      for (int dx = 0; dx <= 4 && !explained; ++dx)
        for (bool flip : {false, true}) {
          bool all = true;
          for (int y = 0; y < 6 && all; ++y)
            for (int x = 0; x < 6 && all; ++x) {
              const int sy = y + dy - 2, sx = (flip ? 5 - x : x) + dx - 2;
              const float expected = (sy >= 0 && sy < 6 && sx >= 0 && sx < 6) ? ds.pixels[sy * 6 + sx] : 0.0f;
              all = std::abs(out[y * 6 + x] - expected) < 1e-3f;
            }
          if (all) {
            seen.insert({dy, dx, flip});
            explained = true;
            break;
          }
        }
    REQUIRE(explained);
    std::vector<float> again(36);
    transform_image(ds, 0, identity, augment, seed, again.data());
    REQUIRE(again == out);  // a pure function of the seed
  }
  CHECK(seen.size() == 50);  // all 5 x 5 offsets, each with and without the flip
}

TEST_CASE("stratified split keeps class proportions and is a seeded partition", "[data]") {
  std::vector<std::int32_t> labels;
  const std::vector<int> per_class = {500, 120, 37, 3};
  for (int c = 0; c < 4; ++c) labels.insert(labels.end(), per_class[c], c);
  std::mt19937 rng(9);
  std::shuffle(labels.begin(), labels.end(), rng);

  const Split split = stratified_split(labels, 4, 0.2, 42);
  CHECK(split.train.size() + split.test.size() == labels.size());
  CHECK(std::is_sorted(split.test.begin(), split.test.end()));
  CHECK(std::is_sorted(split.train.begin(), split.train.end()));
  std::vector<std::int64_t> all(split.train);
  all.insert(all.end(), split.test.begin(), split.test.end());
  std::sort(all.begin(), all.end());
  for (std::size_t i = 0; i < all.size(); ++i) REQUIRE(all[i] == static_cast<std::int64_t>(i));
  std::vector<std::int32_t> test_labels;
  for (std::int64_t i : split.test) test_labels.push_back(labels[i]);
  CHECK(class_counts(test_labels, 4) == std::vector<std::int64_t>{100, 24, 7, 1});  // round(0.2 * count)

  CHECK(stratified_split(labels, 4, 0.2, 42).test == split.test);
  CHECK(stratified_split(labels, 4, 0.2, 43).test != split.test);
  CHECK(stratified_split(labels, 4, 0.0, 42).test.empty());
  CHECK_THROWS_AS(stratified_split(labels, 4, 1.0, 42), roast::Error);
  CHECK_THROWS_AS(stratified_split(labels, 3, 0.2, 42), roast::Error);  // label 3 outside 3 classes
}

TEST_CASE("de-duplication keeps the first copy, so no test text appears in train", "[data]") {
  TextDataset ds;
  ds.class_names = {"neg", "pos"};
  ds.texts = {"a", "b", "a", "c", "b", "b", "d"};
  ds.labels = {0, 1, 0, 1, 1, 1, 0};
  CHECK(deduplicate_texts(ds) == 3);
  CHECK(ds.texts == std::vector<std::string>{"a", "b", "c", "d"});
  CHECK(ds.labels == std::vector<std::int32_t>{0, 1, 1, 0});
  CHECK(deduplicate_texts(ds) == 0);
}

TEST_CASE("recorded splits: a rerun loads the same split; mismatches are refused", "[data]") {
  TempDir dir;
  TextDataset ds;
  ds.class_names = {"x", "y"};
  for (int i = 0; i < 200; ++i) {
    ds.texts.push_back("text " + std::to_string(i));
    ds.labels.push_back(i % 5 == 0 ? 1 : 0);
  }
  const std::string path = dir.file("split.json");
  const Split first = load_or_make_split(path, ds, "toy", 0.25, 7);
  REQUIRE(std::filesystem::exists(path));
  const SplitRecord record = load_split(path);
  CHECK(record.dataset == "toy");
  CHECK(record.n_samples == 200);
  CHECK(record.content_hash == content_hash(ds));
  CHECK(record.test == first.test);
  CHECK(first.test.size() == 50);

  // The file, not the seed, decides on a rerun: edit it and the edit is what comes back.
  SplitRecord edited = record;
  edited.test = {0, 1, 2};
  save_split(path, edited);
  const Split rerun = load_or_make_split(path, ds, "toy", 0.25, 7);
  CHECK(rerun.test == std::vector<std::int64_t>{0, 1, 2});
  CHECK(rerun.train.size() == 197);

  std::string msg = error_message([&] { load_or_make_split(path, ds, "toy", 0.25, 8); });
  CHECK(mentions(msg, "made with seed 7"));
  TextDataset changed = ds;
  changed.texts[3] += "!";
  msg = error_message([&] { load_or_make_split(path, changed, "toy", 0.25, 7); });
  INFO(msg);
  CHECK(mentions(msg, "another version of the data"));
  CHECK(mentions(msg, "Delete the file"));

  write_text(path, "{\"format\": \"roast-split-v1\", \"dataset\": \"toy\"}");
  CHECK(mentions(error_message([&] { load_split(path); }), "is damaged"));
  edited.test = {5, 3};
  save_split(path, edited);
  CHECK(mentions(error_message([&] { load_split(path); }), "test_indices[1] = 3 is out of order"));
}
