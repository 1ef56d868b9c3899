// IDX files (the MNIST format): readers for images and labels, raw or gzip-compressed.
//
// Format: 2 zero bytes, a type byte (0x08 = unsigned byte, the only type these datasets
// use), a byte with the number of dimensions d, d big-endian uint32 sizes, then the data.
// Image files have d = 3 (n, rows, cols), label files d = 1 (n). gzip is detected by its
// magic bytes (1f 8b), not by the file name.
//
// Every reader throws roast::Error naming the file, what was expected and the fix for: a
// missing file, a truncated file (header or data), a wrong magic number, trailing bytes,
// an empty file (n = 0), a label outside [0, n_classes) (with its record number), and
// images and labels that disagree in count.
#pragma once

#include <string>
#include <vector>

#include "roast/data/dataset.h"

namespace roast::data {

// Reads an IDX3 image file and an IDX1 label file into one dataset (channels = 1).
// n_classes > 0; class_names is empty or has n_classes entries.
ImageDataset read_idx_dataset(const std::string& images_path, const std::string& labels_path,
                              std::int32_t n_classes, std::vector<std::string> class_names = {});

// Reads an IDX3 image file alone (for prediction): labels are all 0, n_classes 1.
ImageDataset read_idx_images(const std::string& images_path);

// Fashion-MNIST from `dir` (default: the Debian package's /usr/share/datasets/fashion-mnist).
// split is "train" (60k) or "test" (10k); files are {train,t10k}-{images-idx3,labels-idx1}-ubyte
// with or without .gz. Class names are the dataset's ten (T-shirt/top ... Ankle boot).
ImageDataset load_fashion_mnist(const std::string& split,
                                const std::string& dir = "/usr/share/datasets/fashion-mnist");

// The ten Fashion-MNIST class names in label order.
const std::vector<std::string>& fashion_mnist_class_names();

}  // namespace roast::data
