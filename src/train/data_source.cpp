#include "train/data_source.h"

#include <chrono>
#include <filesystem>

#include "config/datasets.h"
#include "roast/data/split.h"
#include "roast/data/wordpiece.h"

namespace roast {
namespace fs = std::filesystem;

namespace {
// Fails with where the files are expected, their format and where they come from.
void require_path(const std::string& path, const std::string& dataset, const std::string& what) {
  if (fs::exists(path)) return;
  fail("data.path: ", dataset, " files not found at ", path, ". Expected ", what,
       ". Set data.path (or --set data.path=DIR) to where they are.");
}

std::shared_ptr<const data::ImageDataset> share(data::ImageDataset d) {
  return std::make_shared<const data::ImageDataset>(std::move(d));
}

// Text sets: train and test as read, or one corpus split by a recorded stratified split.
// What the loader returns is validated (a program's own loader may skip that).
void load_texts(const DatasetType& type, const DataConfig& c, const std::string& path, const std::string& run_dir,
                data::TextDataset* train, data::TextDataset* test) {
  if (!type.split_test) {
    type.load_texts(path, *train, *test);
    train->validate(type.name + " (training set at " + path + ")");
    test->validate(type.name + " (test set at " + path + ")");
    return;
  }
  data::TextDataset all, unused;
  type.load_texts(path, all, unused);
  all.validate(type.name + " (at " + path + ")");
  data::deduplicate_texts(all);
  const data::Split split = data::load_or_make_split(run_dir + "/split.json", all, c.dataset, c.test_fraction, c.split_seed);
  *train = data::subset(all, split.train);
  *test = data::subset(all, split.test);
}

template <typename Dataset>
void take_validation(const DataConfig& c, Dataset* train, Dataset* validation, std::int32_t n_classes) {
  const data::Split split = data::stratified_split(train->labels, n_classes, c.validation_fraction, c.split_seed + 1);
  *validation = data::subset(*train, split.test);
  *train = data::subset(*train, split.train);
  if (c.limit_train > 0 && std::int64_t(split.train.size()) > c.limit_train) {
    std::vector<std::int64_t> first(static_cast<std::size_t>(c.limit_train));
    for (std::int64_t i = 0; i < c.limit_train; ++i) first[std::size_t(i)] = i;
    *train = data::subset(*train, first);
  }
}
}  // namespace

PreparedData prepare_data(const DataConfig& c, const std::string& run_dir, const std::vector<std::string>* fixed_vocabulary,
                          const data::ChannelStats* channel_stats) {
  const auto start = std::chrono::steady_clock::now();
  const DatasetType& type = dataset_registry().at(c.dataset, "data.dataset");
  const std::string path = c.path.empty() ? default_data_path(type) : c.path;
  require_path(path, c.dataset, type.files);
  PreparedData out;
  const bool text = type.text();
  out.text = text;
  out.input.text = text;
  if (!text) {
    data::ImageDataset train, validation, test;
    type.load_images(path, train, test);
    // The built-in readers validate already; a program's own loader may not.
    train.validate(type.name + " (training set at " + path + ")");
    test.validate(type.name + " (test set at " + path + ")");
    if (test.channels != train.channels || test.height != train.height || test.width != train.width)
      fail("data.path ", path, ": the test images are ", test.channels, "x", test.height, "x", test.width,
           " but the training images are ", train.channels, "x", train.height, "x", train.width,
           "; both splits must have one shape. Check that the files belong to the same dataset");
    take_validation(c, &train, &validation, train.n_classes);
    out.stats = channel_stats ? *channel_stats
                              : (c.normalize ? data::compute_channel_stats(train)
                                             : data::ChannelStats{std::vector<float>(std::size_t(train.channels), 0.0f),
                                                                  std::vector<float>(std::size_t(train.channels), 1.0f)});
    out.input.channels = train.channels, out.input.height = train.height, out.input.width = train.width;
    out.input.n_classes = train.n_classes;
    out.class_names = train.class_names;
    out.images[0] = share(std::move(train)), out.images[1] = share(std::move(validation)), out.images[2] = share(std::move(test));
  } else {
    data::TextDataset train, validation, test;
    load_texts(type, c, path, run_dir, &train, &test);
    take_validation(c, &train, &validation, train.n_classes());
    if (fixed_vocabulary != nullptr) {
      data::Vocabulary vocabulary(*fixed_vocabulary, "the checkpoint's vocabulary");
      if (c.tokenizer == "wordpiece") out.tokenizer = std::make_shared<data::WordPieceTokenizer>(vocabulary);
      else out.tokenizer = std::make_shared<data::WordTokenizer>(vocabulary);
    } else if (c.tokenizer == "wordpiece") {
      out.tokenizer = std::make_shared<data::WordPieceTokenizer>(data::WordPieceTokenizer::from_file(c.vocab_file));
    } else {
      data::WordVocabularyOptions vo;
      vo.min_frequency = c.min_frequency;
      vo.max_size = std::int32_t(c.vocab_size);
      out.tokenizer = std::make_shared<data::WordTokenizer>(data::WordTokenizer::train(train.texts, vo));
    }
    data::EncodeOptions eo;
    eo.seq_len = c.seq_len;
    const data::TextDataset* parts[3] = {&train, &validation, &test};
    for (int p = 0; p < 3; ++p) {
      out.texts[p] = std::make_shared<const data::EncodedTexts>(data::encode_texts(*out.tokenizer, parts[p]->texts, eo));
      out.labels[p] = parts[p]->labels;
    }
    out.input.vocab_size = out.tokenizer->vocabulary().size();
    out.input.max_length = c.seq_len;
    out.input.n_classes = train.n_classes();
    out.class_names = train.class_names;
  }
  ROAST_CHECK(out.size(PreparedData::train) > 0, "data: the training split of ", c.dataset, " at ", path, " is empty");
  out.load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

std::int64_t PreparedData::size(Part part) const {
  return text ? texts[part]->n : images[part]->n;
}

std::unique_ptr<data::BatchLoader> PreparedData::loader(Part part, std::int64_t batch_size, std::uint64_t seed,
                                                         bool augment, int shard, int n_shards) const {
  data::LoaderOptions o;
  o.shard = shard;
  o.n_shards = n_shards;
  o.batch_size = batch_size;
  o.shuffle = part == train;
  o.seed = seed;
  // `new` from the factories' prvalues: BatchLoader is neither copyable nor movable.
  if (text) return std::unique_ptr<data::BatchLoader>(new data::BatchLoader(data::make_text_loader(texts[part], labels[part], o)));
  data::ImageAugment a;
  if (augment && part == train) a.crop_padding = 4, a.horizontal_flip = true;
  return std::unique_ptr<data::BatchLoader>(new data::BatchLoader(data::make_image_loader(images[part], stats, a, o)));
}

nn::Batch to_model_batch(const data::Batch& batch, bool text, Device device) {
  nn::Batch b;
  if (text) {
    b.ids = batch.inputs.to(device);
    b.mask = batch.mask.to(device);
  } else {
    b.images = batch.inputs.to(device);
  }
  b.labels = batch.labels.to(device);
  return b;
}

}  // namespace roast
