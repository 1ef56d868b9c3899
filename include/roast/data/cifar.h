// CIFAR-10 and CIFAR-100 binary versions (the "binary version" archives, not python pickles).
//
// CIFAR-10 record: 1 label byte, then 3072 bytes: the R, G and B planes of a 32x32 image,
// each row-major. Files data_batch_1..5.bin (train, 50k) and test_batch.bin (10k);
// class names from batches.meta.txt when present.
// CIFAR-100 record: 1 coarse label byte (20 classes), 1 fine label byte (100 classes), then
// the same 3072 bytes. Files train.bin (50k) and test.bin (10k); names from
// fine_label_names.txt / coarse_label_names.txt when present.
//
// Errors (roast::Error, naming the file and the fix): missing file, a size that is not a
// whole number of records (truncated; names the incomplete record), an empty file, a label
// outside the class count (names the record).
#pragma once

#include <string>

#include "roast/data/dataset.h"

namespace roast::data {

enum class Cifar100Labels { fine, coarse };

// Reads one CIFAR binary file. record_label_bytes is 1 (CIFAR-10) or 2 (CIFAR-100);
// label_byte picks which of them is the label (0 = first). Labels must be < n_classes.
ImageDataset read_cifar_file(const std::string& path, int record_label_bytes, int label_byte,
                             std::int32_t n_classes);

// split is "train" or "test"; dir holds the files listed above.
ImageDataset load_cifar10(const std::string& dir, const std::string& split);
ImageDataset load_cifar100(const std::string& dir, const std::string& split,
                           Cifar100Labels labels = Cifar100Labels::fine);

}  // namespace roast::data
