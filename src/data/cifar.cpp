#include "roast/data/cifar.h"

#include <algorithm>

#include "data/file_io.h"
#include "roast/error.h"

namespace roast::data {
namespace {

constexpr std::int64_t kSide = 32, kChannels = 3, kImageBytes = kChannels * kSide * kSide;

const std::vector<std::string>& cifar10_default_names() {
  static const std::vector<std::string> names = {"airplane", "automobile", "bird",  "cat",  "deer",
                                                 "dog",      "frog",       "horse", "ship", "truck"};
  return names;
}

void check_split(const std::string& split, const char* dataset) {
  if (split != "train" && split != "test")
    fail(dataset, " split '", split, "' is unknown; expected \"train\" or \"test\".");
}

// Appends `part` to `all` (same shape and classes).
void append(ImageDataset& all, ImageDataset&& part) {
  if (all.n == 0) {
    all = std::move(part);
    return;
  }
  all.pixels.insert(all.pixels.end(), part.pixels.begin(), part.pixels.end());
  all.labels.insert(all.labels.end(), part.labels.begin(), part.labels.end());
  all.n += part.n;
}

// Optional names file: used when present, and then it must list exactly n_classes names.
std::vector<std::string> names_from(const std::string& path, std::int32_t n_classes,
                                    std::vector<std::string> fallback) {
  if (!detail::file_exists(path)) return fallback;
  std::vector<std::string> names = detail::read_name_list(path);
  if (static_cast<std::int32_t>(names.size()) != n_classes)
    fail("'", path, "' lists ", names.size(), " class names, expected ", n_classes,
         ". Check that it belongs to this dataset, or delete it to use numbered classes.");
  return names;
}

}  // namespace

ImageDataset read_cifar_file(const std::string& path, int record_label_bytes, int label_byte,
                             std::int32_t n_classes) {
  ROAST_CHECK(record_label_bytes == 1 || record_label_bytes == 2,
              "read_cifar_file: record_label_bytes is ", record_label_bytes, ", expected 1 (CIFAR-10) or 2 (CIFAR-100).");
  ROAST_CHECK(label_byte >= 0 && label_byte < record_label_bytes, "read_cifar_file: label_byte ", label_byte,
              " is outside [0, ", record_label_bytes, ").");
  ROAST_CHECK(n_classes > 0 && n_classes <= 256, "read_cifar_file: class count ", n_classes, " is outside [1, 256].");
  // The largest CIFAR file (CIFAR-100 train.bin) is 154 MB: a gzip that inflates past 512 MiB is not one.
  const std::vector<std::uint8_t> bytes = detail::read_file_bytes(path, std::size_t(1) << 29);
  const std::int64_t record_bytes = record_label_bytes + kImageBytes;
  const auto n_bytes = static_cast<std::int64_t>(bytes.size());
  if (n_bytes == 0)
    fail("CIFAR file '", path, "' is empty; expected records of ", record_bytes, " bytes. Fetch the file again.");
  if (n_bytes % record_bytes != 0)
    fail("CIFAR file '", path, "' is truncated or not a CIFAR", record_label_bytes == 1 ? "-10" : "-100",
         " binary file: its ", n_bytes, " bytes are not a whole number of ", record_bytes, "-byte records (record ",
         n_bytes / record_bytes, " is incomplete, ", n_bytes % record_bytes,
         " bytes). Check the dataset variant (CIFAR-10: 1 label byte, CIFAR-100: 2) or fetch the file again.");

  ImageDataset out;
  out.n = n_bytes / record_bytes;
  out.channels = kChannels;
  out.height = kSide;
  out.width = kSide;
  out.n_classes = n_classes;
  out.pixels.resize(static_cast<std::size_t>(out.n * kImageBytes));
  out.labels.resize(static_cast<std::size_t>(out.n));
  for (std::int64_t i = 0; i < out.n; ++i) {
    const std::uint8_t* record = bytes.data() + i * record_bytes;
    const int label = record[label_byte];
    if (label >= n_classes)
      fail("CIFAR file '", path, "' record ", i, " has label ", label, ", expected a class in [0, ", n_classes,
           "). Check the dataset variant (CIFAR-10 or CIFAR-100, fine or coarse labels).");
    out.labels[i] = label;
    std::copy(record + record_label_bytes, record + record_bytes, out.pixels.begin() + i * kImageBytes);
  }
  out.validate(path);
  return out;
}

ImageDataset load_cifar10(const std::string& dir, const std::string& split) {
  check_split(split, "CIFAR-10");
  std::vector<std::string> files;
  if (split == "train")
    for (int b = 1; b <= 5; ++b) files.push_back("data_batch_" + std::to_string(b) + ".bin");
  else
    files.push_back("test_batch.bin");
  ImageDataset all;
  for (const auto& file : files) append(all, read_cifar_file(detail::join_path(dir, file), 1, 0, 10));
  all.class_names = names_from(detail::join_path(dir, "batches.meta.txt"), 10, cifar10_default_names());
  all.validate(detail::join_path(dir, files[0]));
  return all;
}

ImageDataset load_cifar100(const std::string& dir, const std::string& split, Cifar100Labels labels) {
  check_split(split, "CIFAR-100");
  const bool fine = labels == Cifar100Labels::fine;
  const std::int32_t n_classes = fine ? 100 : 20;
  const std::string path = detail::join_path(dir, split + ".bin");
  ImageDataset out = read_cifar_file(path, 2, fine ? 1 : 0, n_classes);
  out.class_names = names_from(detail::join_path(dir, fine ? "fine_label_names.txt" : "coarse_label_names.txt"),
                               n_classes, {});
  out.validate(path);
  return out;
}

}  // namespace roast::data
