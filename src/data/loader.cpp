#include "roast/data/loader.h"

#include <algorithm>
#include <chrono>
#include <numeric>

#include "data/random.h"
#include "roast/distributed.h"
#include "roast/error.h"

namespace roast::data {

std::vector<std::int64_t> epoch_order(std::int64_t n, std::uint64_t seed, std::int64_t epoch, bool shuffle) {
  ROAST_CHECK(n >= 0 && epoch >= 0, "epoch_order: n ", n, " and epoch ", epoch, " must be >= 0.");
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  if (shuffle) {
    detail::Rng rng(detail::derive_seed(seed, 2 * static_cast<std::uint64_t>(epoch)));
    detail::shuffle(order, rng);
  }
  return order;
}

BatchLoader::BatchLoader(std::int64_t n_samples, LoaderOptions options, BatchMaker make_batch)
    : n_samples_(n_samples), options_(options), make_batch_(std::move(make_batch)) {
  ROAST_CHECK(n_samples > 0, "BatchLoader: the dataset is empty (", n_samples, " samples); expected at least one.");
  ROAST_CHECK(options.batch_size > 0, "BatchLoader: batch_size ", options.batch_size, " must be positive.");
  ROAST_CHECK(options.prefetch >= 1, "BatchLoader: prefetch ", options.prefetch, " must be >= 1.");
  ROAST_CHECK(!options.drop_last || n_samples >= options.batch_size, "BatchLoader: drop_last with batch_size ",
              options.batch_size, " leaves no batch of the ", n_samples, " samples; use a smaller batch_size.");
  ROAST_CHECK(static_cast<bool>(make_batch_), "BatchLoader: no batch maker given.");
  ROAST_CHECK(options.n_shards >= 1 && options.shard >= 0 && options.shard < options.n_shards, "BatchLoader: shard ",
              options.shard, " of ", options.n_shards, " does not exist.");
  producer_ = std::thread([this] { produce(); });
}

BatchLoader::~BatchLoader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  producer_.join();
}

std::int64_t BatchLoader::n_batches() const {
  return options_.drop_last ? n_samples_ / options_.batch_size
                            : (n_samples_ + options_.batch_size - 1) / options_.batch_size;
}

void BatchLoader::start_epoch(std::int64_t epoch) {
  ROAST_CHECK(epoch >= 0, "BatchLoader::start_epoch: epoch ", epoch, " must be >= 0.");
  std::vector<std::int64_t> order = epoch_order(n_samples_, options_.seed, epoch, options_.shuffle);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++generation_;
    epoch_ = epoch;
    order_ = std::move(order);
    next_to_make_ = next_to_take_ = 0;
    ready_.clear();
    error_ = nullptr;
    wait_epoch_s_ = 0;
  }
  changed_.notify_all();
}

bool BatchLoader::next(Batch& batch) {
  std::unique_lock<std::mutex> lock(mutex_);
  ROAST_CHECK(epoch_ >= 0, "BatchLoader::next: no epoch started; call start_epoch(epoch) first.");
  if (next_to_take_ >= n_batches()) return false;
  if (ready_.empty() && !error_) {
    const auto start = std::chrono::steady_clock::now();
    changed_.wait(lock, [&] { return !ready_.empty() || error_; });
    const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    wait_total_s_ += waited;
    wait_epoch_s_ += waited;
  }
  if (ready_.empty()) std::rethrow_exception(error_);
  batch = std::move(ready_.front());
  ready_.pop_front();
  ++next_to_take_;
  lock.unlock();
  changed_.notify_all();  // a slot is free
  return true;
}

double BatchLoader::wait_seconds() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return wait_total_s_;
}

double BatchLoader::epoch_wait_seconds() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return wait_epoch_s_;
}

void BatchLoader::produce() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    changed_.wait(lock, [&] {
      return stop_ || (epoch_ >= 0 && !error_ && next_to_make_ < n_batches() &&
                       static_cast<std::int64_t>(ready_.size()) < options_.prefetch);
    });
    if (stop_) return;
    const std::int64_t index = next_to_make_++;
    const std::uint64_t generation = generation_;
    const std::int64_t epoch = epoch_;
    const std::int64_t first = index * options_.batch_size;
    const std::int64_t last = std::min(first + options_.batch_size, n_samples_);
    const dist::Share share = dist::share_of(last - first, options_.shard, options_.n_shards);
    std::vector<std::int64_t> indices(order_.begin() + first + share.first, order_.begin() + first + share.last);
    lock.unlock();  // make the batch while the consumer trains

    Batch batch;
    std::exception_ptr error;
    try {
      if (!indices.empty())
        batch = make_batch_(indices, detail::derive_seed(options_.seed, 2 * static_cast<std::uint64_t>(epoch) + 1));
      batch.global_size = last - first;
      batch.indices = std::move(indices);
      batch.epoch = epoch;
      batch.index = index;
    } catch (...) {
      error = std::current_exception();
    }

    lock.lock();
    if (generation != generation_) continue;  // start_epoch ran meanwhile: this batch is stale
    if (error) error_ = error;
    else ready_.push_back(std::move(batch));
    changed_.notify_all();
  }
}

BatchLoader make_image_loader(std::shared_ptr<const ImageDataset> dataset, ChannelStats stats, ImageAugment augment,
                              LoaderOptions options) {
  ROAST_CHECK(dataset != nullptr, "make_image_loader: no dataset given.");
  dataset->validate("make_image_loader");
  check_channel_stats(stats, *dataset);
  ROAST_CHECK(augment.crop_padding >= 0, "make_image_loader: crop_padding ", augment.crop_padding, " is negative.");
  const std::int64_t n = dataset->n;
  // The lambda owns a reference to the dataset, so it lives as long as the producer thread.
  return BatchLoader(n, options, [dataset, stats, augment](const std::vector<std::int64_t>& indices, std::uint64_t seed) {
    const auto b = static_cast<std::int64_t>(indices.size());
    const std::int64_t per_image = dataset->pixels_per_image();
    Batch batch;
    batch.inputs = Tensor::empty({b, dataset->channels, dataset->height, dataset->width}, DType::f32);
    float* pixels = batch.inputs.data<float>();
    std::vector<std::int32_t> labels(indices.size());
    for (std::int64_t i = 0; i < b; ++i) {
      const std::int64_t sample = indices[i];
      transform_image(*dataset, sample, stats, augment, detail::derive_seed(seed, static_cast<std::uint64_t>(sample)),
                      pixels + i * per_image);
      labels[i] = dataset->labels[sample];
    }
    batch.labels = Tensor::from_vector(labels, {b});
    return batch;
  });
}

BatchLoader make_text_loader(std::shared_ptr<const EncodedTexts> encoded, std::vector<std::int32_t> labels,
                             LoaderOptions options) {
  ROAST_CHECK(encoded != nullptr, "make_text_loader: no encoded texts given.");
  ROAST_CHECK(static_cast<std::int64_t>(labels.size()) == encoded->n, "make_text_loader: ", labels.size(),
              " labels for ", encoded->n, " encoded texts; expected one label per text.");
  ROAST_CHECK(encoded->seq_len > 0 && static_cast<std::int64_t>(encoded->ids.size()) == encoded->n * encoded->seq_len &&
                  static_cast<std::int64_t>(encoded->lengths.size()) == encoded->n,
              "make_text_loader: encoded texts hold ", encoded->ids.size(), " ids and ", encoded->lengths.size(),
              " lengths; expected n * seq_len = ", encoded->n, " * ", encoded->seq_len, " ids and n lengths.");
  ROAST_CHECK(std::all_of(encoded->lengths.begin(), encoded->lengths.end(),
                          [&](std::int32_t l) { return l >= 0 && l <= encoded->seq_len; }),
              "make_text_loader: a length is outside [0, seq_len = ", encoded->seq_len, "].");
  ROAST_CHECK(std::all_of(labels.begin(), labels.end(), [](std::int32_t l) { return l >= 0; }),
              "make_text_loader: negative label; expected class indices >= 0.");
  const std::int64_t n = encoded->n;
  return BatchLoader(n, options, [encoded, labels = std::move(labels)](const std::vector<std::int64_t>& indices,
                                                                        std::uint64_t) {
    const auto b = static_cast<std::int64_t>(indices.size());
    const std::int64_t t = encoded->seq_len;
    Batch batch;
    batch.inputs = Tensor::empty({b, t}, DType::i32);
    batch.mask = Tensor::empty({b, t}, DType::f32);
    std::int32_t* ids = batch.inputs.data<std::int32_t>();
    float* mask = batch.mask.data<float>();
    std::vector<std::int32_t> batch_labels(indices.size());
    for (std::int64_t i = 0; i < b; ++i) {
      const std::int64_t sample = indices[i];
      std::copy_n(encoded->ids.data() + sample * t, t, ids + i * t);
      const std::int32_t length = encoded->lengths[sample];
      std::fill(mask + i * t, mask + i * t + length, 1.0f);
      std::fill(mask + i * t + length, mask + (i + 1) * t, 0.0f);
      batch_labels[i] = labels[sample];
    }
    batch.labels = Tensor::from_vector(batch_labels, {b});
    return batch;
  });
}

}  // namespace roast::data
