// BatchLoader: coverage and order per epoch, determinism, batch contents, prefetching,
// error propagation, restarts and shutdown.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <numeric>
#include <thread>

#include "roast/data/loader.h"
#include "test_data_fixtures.h"

using namespace roast::data;
using namespace data_fixtures;

namespace {

std::shared_ptr<const ImageDataset> tiny_images(std::int64_t n) {
  auto ds = std::make_shared<ImageDataset>();
  ds->n = n;
  ds->channels = 2;
  ds->height = 3;
  ds->width = 3;
  ds->n_classes = 7;
  ds->pixels = random_bytes(static_cast<std::size_t>(n * 18), 77);
  for (std::int64_t i = 0; i < n; ++i) ds->labels.push_back(static_cast<std::int32_t>((i * 5) % 7));
  return ds;
}

// All batches of one epoch.
std::vector<Batch> run_epoch(BatchLoader& loader, std::int64_t epoch) {
  loader.start_epoch(epoch);
  std::vector<Batch> batches;
  Batch batch;
  while (loader.next(batch)) batches.push_back(batch);
  return batches;
}

std::vector<std::int64_t> visited(const std::vector<Batch>& batches) {
  std::vector<std::int64_t> out;
  for (const auto& b : batches) out.insert(out.end(), b.indices.begin(), b.indices.end());
  return out;
}

const ChannelStats kStats{{0.4f, 0.6f}, {0.2f, 0.3f}};

}  // namespace

TEST_CASE("loader: every sample once per epoch, in epoch_order, with the right pixels and labels", "[data]") {
  const auto ds = tiny_images(103);
  LoaderOptions options;
  options.batch_size = 10;
  options.seed = 5;
  BatchLoader loader = make_image_loader(ds, kStats, {}, options);
  CHECK(loader.n_batches() == 11);
  for (std::int64_t epoch = 0; epoch < 2; ++epoch) {
    const std::vector<Batch> batches = run_epoch(loader, epoch);
    REQUIRE(batches.size() == 11);
    CHECK(batches.back().size() == 3);
    CHECK(visited(batches) == epoch_order(103, 5, epoch, true));
    std::vector<std::int64_t> sorted = visited(batches);
    std::sort(sorted.begin(), sorted.end());
    for (std::int64_t i = 0; i < 103; ++i) REQUIRE(sorted[i] == i);
    for (std::size_t b = 0; b < batches.size(); ++b) {
      const Batch& batch = batches[b];
      CHECK(batch.epoch == epoch);
      CHECK(batch.index == static_cast<std::int64_t>(b));
      REQUIRE(batch.inputs.shape() == roast::Shape{batch.size(), 2, 3, 3});
      REQUIRE(batch.labels.dtype() == roast::DType::i32);
      CHECK_FALSE(batch.mask.defined());
      const float* pixels = batch.inputs.data<float>();
      const std::int32_t* labels = batch.labels.data<std::int32_t>();
      for (std::int64_t i = 0; i < batch.size(); ++i) {
        const std::int64_t sample = batch.indices[i];
        REQUIRE(labels[i] == ds->labels[sample]);
        std::vector<float> expected(18);
        transform_image(*ds, sample, kStats, {}, 0, expected.data());
        REQUIRE(std::equal(expected.begin(), expected.end(), pixels + i * 18));
      }
    }
  }
  CHECK(epoch_order(103, 5, 0, true) != epoch_order(103, 5, 1, true));
  CHECK(epoch_order(103, 5, 0, true) != epoch_order(103, 6, 0, true));
}

TEST_CASE("loader: same seed, same batches (augmentation included); no shuffle; drop_last", "[data]") {
  const auto ds = tiny_images(40);
  LoaderOptions options;
  options.batch_size = 8;
  options.seed = 11;
  ImageAugment augment;
  augment.crop_padding = 1;
  augment.horizontal_flip = true;
  BatchLoader a = make_image_loader(ds, kStats, augment, options);
  BatchLoader b = make_image_loader(ds, kStats, augment, options);
  for (std::int64_t epoch : {0, 3}) {
    const auto from_a = run_epoch(a, epoch), from_b = run_epoch(b, epoch);
    REQUIRE(from_a.size() == from_b.size());
    for (std::size_t i = 0; i < from_a.size(); ++i) {
      CHECK(from_a[i].indices == from_b[i].indices);
      CHECK(from_a[i].inputs.to_vector() == from_b[i].inputs.to_vector());
    }
  }
  // Augmentation differs across epochs for the same sample.
  const auto epoch0 = run_epoch(a, 0), epoch1 = run_epoch(a, 1);
  int differing = 0;
  for (std::int64_t sample = 0; sample < 40; ++sample) {
    auto find = [&](const std::vector<Batch>& batches) {
      for (const auto& batch : batches)
        for (std::int64_t i = 0; i < batch.size(); ++i)
          if (batch.indices[i] == sample) {
            const auto all = batch.inputs.to_vector();
            return std::vector<float>(all.begin() + i * 18, all.begin() + (i + 1) * 18);
          }
      return std::vector<float>();
    };
    differing += find(epoch0) != find(epoch1) ? 1 : 0;
  }
  CHECK(differing > 20);

  options.shuffle = false;
  options.drop_last = true;
  options.batch_size = 16;
  BatchLoader ordered = make_image_loader(ds, kStats, {}, options);
  const auto batches = run_epoch(ordered, 4);
  REQUIRE(batches.size() == 2);  // 40 = 16 + 16 + 8 (dropped)
  std::vector<std::int64_t> first_32(32);
  std::iota(first_32.begin(), first_32.end(), 0);
  CHECK(visited(batches) == first_32);
}

TEST_CASE("loader: text batches carry ids, masks and labels", "[data]") {
  auto encoded = std::make_shared<EncodedTexts>();
  encoded->n = 3;
  encoded->seq_len = 4;
  encoded->ids = {2, 9, 8, 0, /**/ 2, 5, 0, 0, /**/ 2, 7, 7, 7};
  encoded->lengths = {3, 2, 4};
  LoaderOptions options;
  options.batch_size = 2;
  options.shuffle = false;
  BatchLoader loader = make_text_loader(encoded, {1, 0, 1}, options);
  const auto batches = run_epoch(loader, 0);
  REQUIRE(batches.size() == 2);
  CHECK(batches[0].inputs.shape() == roast::Shape{2, 4});
  CHECK(batches[0].inputs.to_host<std::int32_t>() == std::vector<std::int32_t>{2, 9, 8, 0, 2, 5, 0, 0});
  CHECK(batches[0].mask.to_vector() == std::vector<float>{1, 1, 1, 0, 1, 1, 0, 0});
  CHECK(batches[0].labels.to_host<std::int32_t>() == std::vector<std::int32_t>{1, 0});
  CHECK(batches[1].inputs.to_host<std::int32_t>() == std::vector<std::int32_t>{2, 7, 7, 7});
  CHECK(batches[1].mask.to_vector() == std::vector<float>{1, 1, 1, 1});
  CHECK_THROWS_AS(make_text_loader(encoded, {1, 0}, options), roast::Error);
}

TEST_CASE("loader: the producer works ahead while the consumer holds a batch, at most `prefetch` ahead", "[data]") {
  std::atomic<int> made{0}, taken{0}, max_ahead{0};
  LoaderOptions options;
  options.batch_size = 1;
  options.prefetch = 2;
  BatchLoader loader(12, options, [&](const std::vector<std::int64_t>& indices, std::uint64_t) {
    const int ahead = ++made - taken.load();
    int seen = max_ahead.load();
    while (ahead > seen && !max_ahead.compare_exchange_weak(seen, ahead)) {}
    Batch batch;
    batch.labels = roast::Tensor::from_vector(std::vector<std::int32_t>{static_cast<std::int32_t>(indices[0])}, {1});
    return batch;
  });
  loader.start_epoch(0);
  Batch batch;
  REQUIRE(loader.next(batch));
  ++taken;
  // While batch 0 is "training", batches 1 and 2 get made on the other thread.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (made.load() < 3 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  CHECK(made.load() == 3);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(made.load() == 3);  // and no further: two are ready, the queue is full
  while (loader.next(batch)) ++taken;
  CHECK(taken.load() == 12);
  CHECK(max_ahead.load() <= 3);  // two ready plus the one being made
}

TEST_CASE("loader: producer errors reach the consumer in order; restarts and shutdown are clean", "[data]") {
  std::atomic<bool> fail_once{true};
  LoaderOptions options;
  options.batch_size = 4;
  options.shuffle = false;
  BatchLoader loader(20, options, [&](const std::vector<std::int64_t>& indices, std::uint64_t) {
    if (indices.front() == 12 && fail_once.exchange(false)) roast::fail("bad record ", indices.front());
    Batch batch;
    batch.labels = roast::Tensor::zeros({static_cast<std::int64_t>(indices.size())}, roast::DType::i32);
    return batch;
  });
  Batch batch;
  CHECK(mentions(error_message([&] { loader.next(batch); }), "call start_epoch"));
  loader.start_epoch(0);
  int delivered = 0;
  const std::string msg = error_message([&] {
    while (loader.next(batch)) ++delivered;
  });
  CHECK(delivered == 3);  // batches 0..2 come first, then batch 3's error
  CHECK(msg == "bad record 12");
  CHECK(mentions(error_message([&] { loader.next(batch); }), "bad record 12"));  // stays failed
  CHECK(run_epoch(loader, 0).size() == 5);  // start_epoch clears the error

  // Restart mid-epoch: stale batches of the old epoch never show up.
  loader.start_epoch(1);
  REQUIRE(loader.next(batch));
  const auto fresh = run_epoch(loader, 2);
  REQUIRE(fresh.size() == 5);
  for (const auto& b : fresh) CHECK(b.epoch == 2);

  // Destruction while the producer is busy making a slow batch.
  {
    BatchLoader slow(100, options, [](const std::vector<std::int64_t>&, std::uint64_t) {
      std::this_thread::sleep_for(std::chrono::milliseconds(30));
      return Batch{};
    });
    slow.start_epoch(0);
    Batch first;
    REQUIRE(slow.next(first));
    CHECK(slow.wait_seconds() >= 0.025);  // the first batch took 30 ms to make
    CHECK(slow.epoch_wait_seconds() == slow.wait_seconds());
  }
  CHECK_THROWS_AS(BatchLoader(0, options, [](const std::vector<std::int64_t>&, std::uint64_t) { return Batch{}; }),
                  roast::Error);
}
