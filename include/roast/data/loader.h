// BatchLoader: seeded shuffling and batching, with the next batches prepared on a
// background thread while the trainer works on the current one.
//
//   auto train = std::make_shared<const ImageDataset>(load_fashion_mnist("train"));
//   BatchLoader loader = make_image_loader(train, compute_channel_stats(*train), {}, {64});
//   for (std::int64_t epoch = 0; epoch < n_epochs; ++epoch) {
//     loader.start_epoch(epoch);
//     Batch batch;
//     while (loader.next(batch)) { ... batch.inputs is f32 [B, 1, 28, 28] ... }
//   }
//   std::printf("waited %.3f s for data\n", loader.wait_seconds());
//
// Guarantees:
//  - Order: epoch e visits epoch_order(n, seed, e, shuffle) in batches of batch_size; the
//    last batch is smaller unless drop_last. Every sample appears exactly once per epoch
//    (without drop_last). The order and the batches' contents depend only on (seed, epoch),
//    never on thread timing.
//  - Prefetch: a producer thread keeps up to `prefetch` finished batches ready (2: the one
//    the trainer takes next and the one after it).
//  - Errors: an exception thrown while making a batch is rethrown by next(), after the
//    batches finished before it have been handed out; start_epoch clears it.
//  - Shutdown: the destructor stops the producer and joins it (after the batch it is
//    making, if any). A loader can be abandoned mid-epoch, or restarted with start_epoch.
// next() and start_epoch() are meant for one consumer thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "roast/data/dataset.h"
#include "roast/data/image_transforms.h"
#include "roast/data/tokenizer.h"
#include "roast/tensor.h"

namespace roast::data {

struct Batch {
  Tensor inputs;   // images: f32 [B, C, H, W], normalised; texts: token ids i32 [B, T]
  Tensor mask;     // texts: f32 [B, T], 1 for real tokens, 0 for padding; undefined for images
  Tensor labels;   // i32 [B]
  std::vector<std::int64_t> indices;  // the B sample indices in the dataset
  std::int64_t epoch = 0, index = 0;  // which epoch, and which batch of it
  std::int64_t global_size = 0;       // samples in the whole batch, over every shard
  std::int64_t size() const { return static_cast<std::int64_t>(indices.size()); }
};

struct LoaderOptions {
  std::int64_t batch_size = 64;  // > 0
  bool shuffle = true;           // false: dataset order every epoch
  bool drop_last = false;        // drop a last batch smaller than batch_size
  std::uint64_t seed = 0;
  std::int64_t prefetch = 2;     // finished batches kept ready, >= 1
  // Data-parallel sharding: each batch of the order above is cut into n_shards contiguous
  // shares (dist::share_of) and this loader makes only share `shard`; a share may be empty
  // (then the batch has no tensors). Batch::global_size is the whole batch's size.
  int shard = 0, n_shards = 1;
};

// The sample order of one epoch: a seeded permutation of 0..n-1 (identity when !shuffle).
std::vector<std::int64_t> epoch_order(std::int64_t n, std::uint64_t seed, std::int64_t epoch, bool shuffle);

// Makes one batch from its sample indices. `sample_seed` is per (seed, epoch): augmentations
// derive each sample's randomness from it and the sample index. Runs on the producer thread.
using BatchMaker = std::function<Batch(const std::vector<std::int64_t>& indices, std::uint64_t sample_seed)>;

class BatchLoader {
 public:
  BatchLoader(std::int64_t n_samples, LoaderOptions options, BatchMaker make_batch);
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  // Begins (or restarts) epoch `epoch` (>= 0): discards batches of the previous epoch.
  void start_epoch(std::int64_t epoch);
  // The next batch of the current epoch into `batch`; false when the epoch is done.
  // Blocks while the producer is still making it (that time adds to wait_seconds()).
  // Throws roast::Error when no epoch was started, or the producer's exception.
  bool next(Batch& batch);

  std::int64_t n_samples() const { return n_samples_; }
  std::int64_t n_batches() const;  // per epoch
  // Seconds next() spent blocked, since construction / since the last start_epoch.
  double wait_seconds() const;
  double epoch_wait_seconds() const;

 private:
  void produce();

  const std::int64_t n_samples_;
  const LoaderOptions options_;
  const BatchMaker make_batch_;

  mutable std::mutex mutex_;
  std::condition_variable changed_;  // any change of the state below
  std::int64_t epoch_ = -1;          // -1 until start_epoch
  std::uint64_t generation_ = 0;     // bumped by start_epoch; stale batches are dropped
  std::vector<std::int64_t> order_;
  std::int64_t next_to_make_ = 0, next_to_take_ = 0;
  std::deque<Batch> ready_;
  std::exception_ptr error_;
  bool stop_ = false;
  double wait_total_s_ = 0, wait_epoch_s_ = 0;
  std::thread producer_;  // last: starts once everything above is initialised
};

// Image batches: inputs f32 [B, C, H, W] normalised with `stats`, augmented with `augment`
// (pass {} for evaluation), labels i32 [B]. Throws roast::Error when stats do not fit.
BatchLoader make_image_loader(std::shared_ptr<const ImageDataset> dataset, ChannelStats stats, ImageAugment augment,
                              LoaderOptions options);

// Text batches: inputs i32 [B, T] token ids, mask f32 [B, T], labels i32 [B].
// Requires labels.size() == encoded->n, each label >= 0.
BatchLoader make_text_loader(std::shared_ptr<const EncodedTexts> encoded, std::vector<std::int32_t> labels,
                             LoaderOptions options);

}  // namespace roast::data
