// Timings of the data layer on the real datasets, for docs/data.md. Hidden (tag [.]): run
//   ./build/tests/roast_tests "[data-timing]"
// on a Release build. It prints numbers and asserts nothing about speed, so a slow or busy
// machine cannot make it fail; it skips the sets that are absent.
#include <chrono>
#include <filesystem>
#include <cstdio>
#include <thread>

#include "roast/data/idx.h"
#include "roast/data/loader.h"
#include "roast/data/split.h"
#include "roast/data/text_corpora.h"
#include "roast/data/tokenizer.h"
#include "test_data_fixtures.h"

using namespace roast::data;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// One epoch where the "trainer" spends work_ms per batch; returns (epoch seconds, wait seconds).
std::pair<double, double> epoch_with_work(BatchLoader& loader, double work_ms) {
  const auto start = Clock::now();
  loader.start_epoch(0);
  Batch batch;
  while (loader.next(batch))
    if (work_ms > 0) std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(work_ms));
  return {seconds_since(start), loader.epoch_wait_seconds()};
}

}  // namespace

TEST_CASE("data timings on the real datasets", "[.][data-timing]") {
  const std::string fmnist = "/usr/share/datasets/fashion-mnist";
  if (std::filesystem::exists(fmnist + "/train-images-idx3-ubyte.gz")) {
    auto start = Clock::now();
    auto train = std::make_shared<const ImageDataset>(load_fashion_mnist("train", fmnist));
    const ImageDataset test = load_fashion_mnist("test", fmnist);
    std::printf("fashion-mnist: read train (%lld) + test (%lld) in %.3f s\n", static_cast<long long>(train->n),
                static_cast<long long>(test.n), seconds_since(start));
    start = Clock::now();
    const ChannelStats stats = compute_channel_stats(*train);
    std::printf("fashion-mnist: channel stats in %.3f s (mean %.4f, std %.4f)\n", seconds_since(start), stats.mean[0],
                stats.std[0]);
    LoaderOptions options;
    options.batch_size = 64;
    BatchLoader loader = make_image_loader(train, stats, {}, options);
    for (double work_ms : {0.0, 1.0}) {
      const auto [epoch_s, wait_s] = epoch_with_work(loader, work_ms);
      std::printf("fashion-mnist loader, batch 64, %.0f ms of work per batch: epoch %.3f s, trainer waited %.4f s\n",
                  work_ms, epoch_s, wait_s);
    }
  }
  const std::string reviews = data_fixtures::repo_data_path("imdb/reviews.json");
  if (std::filesystem::exists(reviews)) {
    const auto start = Clock::now();
    TextDataset imdb = load_imdb(reviews);
    const double read_s = seconds_since(start);
    const std::int64_t removed = deduplicate_texts(imdb);
    const Split split = stratified_split(imdb.labels, 2, 0.5, 1);
    const TextDataset train = subset(imdb, split.train);
    const double split_s = seconds_since(start) - read_s;
    const WordTokenizer tokenizer = WordTokenizer::train(train.texts, {2, 30000, {}});
    const double vocab_s = seconds_since(start) - read_s - split_s;
    EncodeOptions encode;
    encode.seq_len = 256;
    const EncodedTexts encoded = encode_texts(tokenizer, imdb.texts, encode);
    const double encode_s = seconds_since(start) - read_s - split_s - vocab_s;
    std::printf("imdb: read %lld reviews %.3f s, dedup (%lld removed) + split %.3f s, vocabulary (%d) %.3f s, "
                "encode all to 256 ids %.3f s (%lld truncated); total %.3f s on %u threads\n",
                static_cast<long long>(imdb.size() + removed), read_s, static_cast<long long>(removed), split_s,
                tokenizer.vocabulary().size(), vocab_s, encode_s, static_cast<long long>(encoded.n_truncated),
                seconds_since(start), std::thread::hardware_concurrency());
  }
  const std::string reuters = data_fixtures::repo_data_path("reuters");
  if (std::filesystem::exists(reuters + "/reuters-000.json")) {
    const auto start = Clock::now();
    const TextDataset r8 = load_reuters_r8(reuters);
    std::printf("reuters r8: %lld documents in %.3f s\n", static_cast<long long>(r8.size()), seconds_since(start));
  }
  SUCCEED();
}
