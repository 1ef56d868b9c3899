// Fuzz targets for the dataset readers, one binary per reader (FUZZ_READER selects it):
// idx (gz or raw), cifar, csv, jsonl, tsv, png.
#include "fuzz_common.h"
#include "roast/data/cifar.h"
#include "roast/data/idx.h"
#include "roast/data/png.h"
#include "roast/data/text_formats.h"

#define ROAST_STR2(x) #x
#define ROAST_STR(x) ROAST_STR2(x)

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace d = roast::data;
  const std::string reader = ROAST_STR(FUZZ_READER);
  fuzz::expect_clean([&] {
    if (reader == "idx") {
      (void)d::read_idx_images(fuzz::write_file("images-idx3-ubyte", data, size));
    } else if (reader == "cifar") {
      (void)d::read_cifar_file(fuzz::write_file("data_batch.bin", data, size), 1, 0, 10);
    } else if (reader == "csv") {
      (void)d::read_csv_dataset(fuzz::write_file("train.csv", data, size));
    } else if (reader == "jsonl") {
      (void)d::read_jsonl_dataset(fuzz::write_file("train.jsonl", data, size));
    } else if (reader == "tsv") {
      (void)d::read_tsv_dataset(fuzz::write_file("train.tsv", data, size));
    } else {
      (void)d::decode_png(std::vector<std::uint8_t>(data, data + size), "input.png");
    }
  });
  return 0;
}
