// IDX and CIFAR readers: exact values of tiny generated files, and every kind of bad input.
#include <filesystem>
#include <utility>

#include "roast/data/cifar.h"
#include "roast/data/idx.h"
#include "test_data_fixtures.h"

using namespace roast::data;
using namespace data_fixtures;

namespace {

struct IdxPair {
  Bytes pixels, labels;
};

// 5 images of 3x4 with labels in [0, 4).
IdxPair small_idx() { return {random_bytes(5 * 3 * 4, 11), {3, 0, 2, 1, 3}}; }

}  // namespace

TEST_CASE("idx: raw and gzip files read back exactly", "[data]") {
  TempDir dir;
  const IdxPair src = small_idx();
  write_bytes(dir.file("img"), idx_file({5, 3, 4}, src.pixels));
  write_bytes(dir.file("lab"), idx_file({5}, src.labels));
  write_bytes(dir.file("img.gz"), gzip(idx_file({5, 3, 4}, src.pixels)));
  // The gzip check looks at the magic bytes, not the name: this one has no .gz suffix.
  write_bytes(dir.file("lab-packed"), gzip(idx_file({5}, src.labels)));

  for (const auto& [images, labels] : {std::pair{"img", "lab"}, std::pair{"img.gz", "lab-packed"}}) {
    const ImageDataset ds = read_idx_dataset(dir.file(images), dir.file(labels), 4);
    CHECK(ds.n == 5);
    CHECK(ds.channels == 1);
    CHECK(ds.height == 3);
    CHECK(ds.width == 4);
    CHECK(ds.pixels == src.pixels);
    CHECK(ds.labels == std::vector<std::int32_t>{3, 0, 2, 1, 3});
    CHECK(ds.n_classes == 4);
  }
}

TEST_CASE("idx: bad files give errors naming the file, the record and the fix", "[data]") {
  TempDir dir;
  const IdxPair src = small_idx();
  write_bytes(dir.file("lab"), idx_file({5}, src.labels));
  Bytes full = idx_file({5, 3, 4}, src.pixels);

  SECTION("truncated data names the first incomplete record") {
    Bytes cut(full.begin(), full.end() - 13);  // loses the last image and one byte of the 4th
    write_bytes(dir.file("img"), cut);
    const std::string msg = error_message([&] { read_idx_dataset(dir.file("img"), dir.file("lab"), 4); });
    INFO(msg);
    CHECK(mentions(msg, dir.file("img")));
    CHECK(mentions(msg, "truncated"));
    CHECK(mentions(msg, "expected 60 data bytes"));
    CHECK(mentions(msg, "record 3"));
    CHECK(mentions(msg, "fetch it again"));
  }
  SECTION("truncated header") {
    write_bytes(dir.file("img"), Bytes(full.begin(), full.begin() + 9));
    const std::string msg = error_message([&] { read_idx_dataset(dir.file("img"), dir.file("lab"), 4); });
    INFO(msg);
    CHECK(mentions(msg, "truncated"));
    CHECK(mentions(msg, "16-byte header"));
  }
  SECTION("truncated gzip stream") {
    Bytes packed = gzip(full);
    packed.resize(packed.size() / 2);
    write_bytes(dir.file("img.gz"), packed);
    const std::string msg = error_message([&] { read_idx_dataset(dir.file("img.gz"), dir.file("lab"), 4); });
    INFO(msg);
    CHECK(mentions(msg, dir.file("img.gz")));
    CHECK(mentions(msg, "gzip"));
    CHECK(mentions(msg, "truncated"));
  }
  SECTION("wrong magic number: labels passed as images") {
    const std::string msg = error_message([&] { read_idx_dataset(dir.file("lab"), dir.file("lab"), 4); });
    INFO(msg);
    CHECK(mentions(msg, "magic number 00 00 08 01"));
    CHECK(mentions(msg, "expected 00 00 08 03"));
  }
  SECTION("label outside the class count names the record") {
    write_bytes(dir.file("img"), full);
    write_bytes(dir.file("bad-lab"), idx_file({5}, {0, 1, 2, 9, 0}));
    const std::string msg = error_message([&] { read_idx_dataset(dir.file("img"), dir.file("bad-lab"), 4); });
    INFO(msg);
    CHECK(mentions(msg, dir.file("bad-lab")));
    CHECK(mentions(msg, "record 3 has label 9"));
    CHECK(mentions(msg, "[0, 4)"));
  }
  SECTION("empty dataset") {
    write_bytes(dir.file("img"), idx_file({0, 3, 4}, {}));
    const std::string msg = error_message([&] { read_idx_dataset(dir.file("img"), dir.file("lab"), 4); });
    INFO(msg);
    CHECK(mentions(msg, "0 records"));
  }
  SECTION("trailing bytes") {
    full.push_back(7);
    write_bytes(dir.file("img"), full);
    const std::string msg = error_message([&] { read_idx_dataset(dir.file("img"), dir.file("lab"), 4); });
    INFO(msg);
    CHECK(mentions(msg, "data after the 5 images"));
  }
  SECTION("images and labels disagree in count") {
    write_bytes(dir.file("img"), full);
    write_bytes(dir.file("lab4"), idx_file({4}, {0, 1, 2, 3}));
    const std::string msg = error_message([&] { read_idx_dataset(dir.file("img"), dir.file("lab4"), 4); });
    INFO(msg);
    CHECK(mentions(msg, "holds 5 images"));
    CHECK(mentions(msg, "holds 4 labels"));
  }
  SECTION("missing path") {
    const std::string msg = error_message([&] { read_idx_dataset(dir.file("nope"), dir.file("lab"), 4); });
    INFO(msg);
    CHECK(mentions(msg, dir.file("nope")));
    CHECK(mentions(msg, "no such file"));
    CHECK(mentions(msg, "fetch_data.sh"));
  }
  SECTION("missing Fashion-MNIST folder says how to install it") {
    const std::string msg = error_message([&] { load_fashion_mnist("train", dir.file("none")); });
    INFO(msg);
    CHECK(mentions(msg, "dataset-fashion-mnist"));
  }
}

namespace {

// A CIFAR record: label bytes then 3072 pixel bytes where pixel p of plane c is (c * 7 + p + tag) % 256.
Bytes cifar_record(const Bytes& label_bytes, int tag) {
  Bytes out = label_bytes;
  for (int c = 0; c < 3; ++c)
    for (int p = 0; p < 1024; ++p) out.push_back(static_cast<std::uint8_t>((c * 7 + p + tag) % 256));
  return out;
}

void append(Bytes& out, const Bytes& more) { out.insert(out.end(), more.begin(), more.end()); }

}  // namespace

TEST_CASE("cifar-10: batches concatenate in order, planes stay CHW, names come from batches.meta.txt", "[data]") {
  TempDir dir;
  for (int b = 1; b <= 5; ++b) {
    Bytes file;
    append(file, cifar_record({static_cast<std::uint8_t>(b)}, b * 10));
    append(file, cifar_record({static_cast<std::uint8_t>(9 - b)}, b * 10 + 1));
    write_bytes(dir.file("data_batch_" + std::to_string(b) + ".bin"), file);
  }
  write_bytes(dir.file("test_batch.bin"), cifar_record({4}, 99));
  write_text(dir.file("batches.meta.txt"), "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n\n");

  const ImageDataset train = load_cifar10(dir.path(), "train");
  CHECK(train.n == 10);
  CHECK(train.channels == 3);
  CHECK(train.height == 32);
  CHECK(train.width == 32);
  CHECK(train.labels == std::vector<std::int32_t>{1, 8, 2, 7, 3, 6, 4, 5, 5, 4});
  CHECK(train.class_names.front() == "a");
  CHECK(train.class_names.back() == "j");
  // image 3 is batch 2's second record: tag 21; green plane (c = 1), pixel (row 2, col 5).
  CHECK(train.image(3)[1 * 1024 + 2 * 32 + 5] == (7 + 69 + 21) % 256);

  const ImageDataset test = load_cifar10(dir.path(), "test");
  CHECK(test.n == 1);
  CHECK(test.labels == std::vector<std::int32_t>{4});
  CHECK(test.image(0)[2 * 1024 + 1023] == (14 + 1023 + 99) % 256);
}

TEST_CASE("cifar-100: fine or coarse labels", "[data]") {
  TempDir dir;
  Bytes file;
  append(file, cifar_record({19, 99}, 1));
  append(file, cifar_record({3, 42}, 2));
  write_bytes(dir.file("train.bin"), file);
  const ImageDataset fine = load_cifar100(dir.path(), "train", Cifar100Labels::fine);
  const ImageDataset coarse = load_cifar100(dir.path(), "train", Cifar100Labels::coarse);
  CHECK(fine.labels == std::vector<std::int32_t>{99, 42});
  CHECK(fine.n_classes == 100);
  CHECK(coarse.labels == std::vector<std::int32_t>{19, 3});
  CHECK(coarse.n_classes == 20);
  CHECK(fine.image(1)[0] == 2);
}

TEST_CASE("cifar: truncated files, labels out of range, wrong variant, empty and missing files", "[data]") {
  TempDir dir;
  Bytes two;
  append(two, cifar_record({1}, 0));
  append(two, cifar_record({2}, 0));

  SECTION("truncated") {
    write_bytes(dir.file("t.bin"), Bytes(two.begin(), two.end() - 100));
    const std::string msg = error_message([&] { read_cifar_file(dir.file("t.bin"), 1, 0, 10); });
    INFO(msg);
    CHECK(mentions(msg, dir.file("t.bin")));
    CHECK(mentions(msg, "truncated"));
    CHECK(mentions(msg, "record 1 is incomplete"));
  }
  SECTION("CIFAR-10 label 10 is outside the class count") {
    append(two, cifar_record({10}, 0));
    write_bytes(dir.file("test_batch.bin"), two);
    const std::string msg = error_message([&] { load_cifar10(dir.path(), "test"); });
    INFO(msg);
    CHECK(mentions(msg, "record 2 has label 10"));
  }
  SECTION("a CIFAR-100 file read as CIFAR-10 is caught by its size") {
    Bytes c100;
    for (int i = 0; i < 3; ++i) append(c100, cifar_record({1, 2}, i));
    write_bytes(dir.file("x.bin"), c100);
    const std::string msg = error_message([&] { read_cifar_file(dir.file("x.bin"), 1, 0, 10); });
    INFO(msg);
    CHECK(mentions(msg, "not a whole number of 3073-byte records"));
  }
  SECTION("empty") {
    write_bytes(dir.file("e.bin"), {});
    const std::string msg = error_message([&] { read_cifar_file(dir.file("e.bin"), 1, 0, 10); });
    INFO(msg);
    CHECK(mentions(msg, "is empty"));
  }
  SECTION("missing batch") {
    const std::string msg = error_message([&] { load_cifar10(dir.path(), "train"); });
    INFO(msg);
    CHECK(mentions(msg, "data_batch_1.bin"));
    CHECK(mentions(msg, "no such file"));
  }
  SECTION("unknown split") {
    CHECK(mentions(error_message([&] { load_cifar10(dir.path(), "val"); }), "expected \"train\" or \"test\""));
  }
}

TEST_CASE("fashion-mnist (real data, skipped when not installed)", "[data]") {
  const std::string dir = "/usr/share/datasets/fashion-mnist";
  if (!std::filesystem::exists(dir + "/train-images-idx3-ubyte.gz")) {
    WARN("skipped: Fashion-MNIST is not installed in " << dir << " (run scripts/setup.sh)");
    return;
  }
  const ImageDataset train = load_fashion_mnist("train", dir);
  const ImageDataset test = load_fashion_mnist("test", dir);
  CHECK(train.n == 60000);
  CHECK(test.n == 10000);
  CHECK(train.height == 28);
  CHECK(train.width == 28);
  CHECK(class_counts(train.labels, 10) == std::vector<std::int64_t>(10, 6000));
  CHECK(class_counts(test.labels, 10) == std::vector<std::int64_t>(10, 1000));
  CHECK(train.class_names[9] == "Ankle boot");
}
