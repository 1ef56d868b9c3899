#include "roast/data/idx.h"

#include <cstdio>

#include "data/file_io.h"
#include "roast/error.h"

namespace roast::data {
namespace {

struct IdxFile {
  std::vector<std::uint8_t> bytes;
  std::vector<std::int64_t> dims;
  std::size_t data_offset = 0;
};

// Parses and checks the header; the data must be exactly prod(dims) bytes.
// The header: magic number and dims, validated; returns the data bytes it declares.
std::int64_t check_idx_header(const std::vector<std::uint8_t>& b, const std::string& path, int expected_dims,
                              const char* what, std::vector<std::int64_t>* dims) {
  const std::string expected_magic = expected_dims == 3 ? "00 00 08 03" : "00 00 08 01";
  const char* fix = "Check that the path names the right IDX file and that it was not damaged in transfer.";
  if (b.size() < 4)
    fail("IDX file '", path, "' is truncated: ", b.size(), " bytes, expected at least a 4-byte magic number (",
         expected_magic, " for ", what, "). ", fix);
  if (b[0] != 0 || b[1] != 0 || b[2] != 0x08 || b[3] != expected_dims) {
    char got[16];
    std::snprintf(got, sizeof got, "%02x %02x %02x %02x", b[0], b[1], b[2], b[3]);
    fail("IDX file '", path, "' has magic number ", got, ", expected ", expected_magic, " (unsigned bytes, ",
         expected_dims, " dimension", expected_dims == 1 ? "" : "s", ": ", what, "). ",
         b[0] == 0x1f ? "It looks like a damaged gzip file. " : "", fix);
  }
  const std::size_t header_bytes = 4 + 4 * static_cast<std::size_t>(expected_dims);
  if (b.size() < header_bytes)
    fail("IDX file '", path, "' is truncated: ", b.size(), " bytes, expected a ", header_bytes,
         "-byte header. ", fix);
  std::int64_t n_data_bytes = 1;
  dims->clear();
  for (int d = 0; d < expected_dims; ++d) {
    const std::size_t at = 4 + 4 * static_cast<std::size_t>(d);
    const std::int64_t size = std::int64_t(b[at]) << 24 | std::int64_t(b[at + 1]) << 16 |
                              std::int64_t(b[at + 2]) << 8 | std::int64_t(b[at + 3]);
    dims->push_back(size);
    if (size > 0 && n_data_bytes > (std::int64_t(1) << 40) / size)
      fail("IDX file '", path, "' declares sizes whose product exceeds 2^40 bytes; the header is damaged. ", fix);
    n_data_bytes *= size;
  }
  if ((*dims)[0] == 0)
    fail("IDX file '", path, "' holds 0 records; expected a non-empty dataset. ", fix);
  for (std::size_t d = 1; d < dims->size(); ++d)
    if ((*dims)[d] == 0) fail("IDX file '", path, "' declares an image side of 0; the header is damaged. ", fix);
  return n_data_bytes;
}

IdxFile read_idx(const std::string& path, int expected_dims, const char* what) {
  IdxFile file;
  const std::size_t header_bytes = 4 + 4 * static_cast<std::size_t>(expected_dims);
  // A gzip file is inflated only as far as its header declares (a bomb stops there).
  file.bytes = detail::read_file_bytes_declared(path, header_bytes, [&](const std::vector<std::uint8_t>& header) {
    std::vector<std::int64_t> dims;
    return std::uint64_t(header_bytes) + std::uint64_t(check_idx_header(header, path, expected_dims, what, &dims));
  });
  const auto& b = file.bytes;
  const std::int64_t n_data_bytes = check_idx_header(b, path, expected_dims, what, &file.dims);
  const auto n_found = static_cast<std::int64_t>(b.size() - header_bytes);
  if (n_found < n_data_bytes) {
    const std::int64_t record_bytes = n_data_bytes / file.dims[0];
    fail("IDX file '", path, "' is truncated: expected ", n_data_bytes, " data bytes for ", file.dims[0], " ",
         what, ", found ", n_found, " (record ", n_found / record_bytes, " is the first incomplete one). ",
         "Delete the file and fetch it again.");
  }
  if (n_found > n_data_bytes)
    fail("IDX file '", path, "' has data after the ", file.dims[0], " ", what,
         " its header declares; expected the file to end there. Check that the path names the right IDX file and that "
         "it was not damaged in transfer.");
  file.data_offset = header_bytes;
  return file;
}

std::string first_existing(const std::string& dir, const std::string& stem) {
  const std::string gz = detail::join_path(dir, stem + ".gz");
  const std::string raw = detail::join_path(dir, stem);
  if (detail::file_exists(gz)) return gz;
  if (detail::file_exists(raw)) return raw;
  fail("Fashion-MNIST file '", gz, "' (or '", raw, "') not found. Install the Debian package "
       "dataset-fashion-mnist (scripts/setup.sh does), or pass the folder that holds the IDX files.");
}

}  // namespace

ImageDataset read_idx_dataset(const std::string& images_path, const std::string& labels_path,
                              std::int32_t n_classes, std::vector<std::string> class_names) {
  ROAST_CHECK(n_classes > 0, "read_idx_dataset: class count ", n_classes, " is not positive.");
  ROAST_CHECK(class_names.empty() || static_cast<std::int32_t>(class_names.size()) == n_classes,
              "read_idx_dataset: ", class_names.size(), " class names given for ", n_classes, " classes.");
  const IdxFile images = read_idx(images_path, 3, "images");
  const IdxFile labels = read_idx(labels_path, 1, "labels");
  if (images.dims[0] != labels.dims[0])
    fail("IDX files disagree: '", images_path, "' holds ", images.dims[0], " images but '", labels_path,
         "' holds ", labels.dims[0], " labels; expected one label per image. Check that both files "
         "belong to the same split (train or t10k).");

  ImageDataset out;
  out.n = images.dims[0];
  out.channels = 1;
  out.height = images.dims[1];
  out.width = images.dims[2];
  out.n_classes = n_classes;
  out.class_names = std::move(class_names);
  out.pixels.assign(images.bytes.begin() + static_cast<std::ptrdiff_t>(images.data_offset), images.bytes.end());
  out.labels.reserve(static_cast<std::size_t>(out.n));
  for (std::int64_t i = 0; i < out.n; ++i) {
    const int label = labels.bytes[labels.data_offset + static_cast<std::size_t>(i)];
    if (label >= n_classes)
      fail("IDX file '", labels_path, "' record ", i, " has label ", label, ", expected a class in [0, ",
           n_classes, "). Check that the file belongs to this dataset (or pass the right class count).");
    out.labels.push_back(label);
  }
  out.validate(images_path);
  return out;
}

const std::vector<std::string>& fashion_mnist_class_names() {
  static const std::vector<std::string> names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                 "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return names;
}

ImageDataset load_fashion_mnist(const std::string& split, const std::string& dir) {
  if (split != "train" && split != "test")
    fail("Fashion-MNIST split '", split, "' is unknown; expected \"train\" or \"test\".");
  const std::string prefix = split == "train" ? "train" : "t10k";
  return read_idx_dataset(first_existing(dir, prefix + "-images-idx3-ubyte"),
                          first_existing(dir, prefix + "-labels-idx1-ubyte"), 10, fashion_mnist_class_names());
}

ImageDataset read_idx_images(const std::string& images_path) {
  const IdxFile images = read_idx(images_path, 3, "images");
  ImageDataset d;
  d.n = images.dims[0];
  d.channels = 1, d.height = images.dims[1], d.width = images.dims[2];
  d.pixels.assign(images.bytes.begin() + std::ptrdiff_t(images.data_offset), images.bytes.end());
  d.labels.assign(static_cast<std::size_t>(d.n), 0);
  d.n_classes = 1;
  d.validate(images_path);
  return d;
}

}  // namespace roast::data
