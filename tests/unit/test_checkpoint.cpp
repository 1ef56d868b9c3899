// Checkpoint round trip and every way a file can be bad.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "roast/checkpoint.h"
#include "support/catch.h"

using namespace roast;
namespace fs = std::filesystem;

namespace {
fs::path temp_dir() {
  const fs::path dir = fs::temp_directory_path() / ("roast_ckpt_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir;
}
std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
void write_bytes(const fs::path& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }

Checkpoint sample() {
  Checkpoint ck;
  ck.header_json = R"({"step": 12, "config": {"a": 1}})";
  ck.tensors.emplace_back("memory", randn({1000}, 3));
  ck.tensors.emplace_back("ids", Tensor::from_vector(std::vector<std::int64_t>{1, -2, 3}, {3}));
  ck.tensors.emplace_back("bn", Tensor::from_vector(std::vector<std::int32_t>{7, 8}, {1, 2}));
  return ck;
}
}  // namespace

TEST_CASE("checkpoint: round trip keeps every byte", "[checkpoint]") {
  const fs::path p = temp_dir() / "a.ckpt";
  const Checkpoint ck = sample();
  save_checkpoint(p.string(), ck);
  const Checkpoint back = load_checkpoint(p.string());
  CHECK(back.header_json == ck.header_json);
  REQUIRE(back.tensors.size() == 3);
  CHECK(back.tensor("memory").to_vector() == ck.tensor("memory").to_vector());
  CHECK(back.tensor("ids").to_host<std::int64_t>() == std::vector<std::int64_t>{1, -2, 3});
  CHECK(back.tensor("bn").shape() == Shape{1, 2});
  CHECK_THROWS_WITH(back.tensor("nope"), ROAST_CONTAINS("memory, ids, bn"));
  // No temporary file is left behind.
  int n_files = 0;
  for (const auto& entry : fs::directory_iterator(p.parent_path())) n_files += entry.path().filename() == "a.ckpt" ? 0 : 1;
  CHECK(n_files == 0);
  fs::remove_all(p.parent_path());
}

TEST_CASE("checkpoint: bad files are rejected with the reason", "[checkpoint]") {
  const fs::path dir = temp_dir();
  const fs::path good = dir / "good.ckpt", bad = dir / "bad.ckpt";
  save_checkpoint(good.string(), sample());
  const std::string bytes = read_bytes(good);

  CHECK_THROWS_WITH(load_checkpoint((dir / "missing.ckpt").string()), ROAST_CONTAINS("missing.ckpt"));
  for (std::size_t cut : {std::size_t(4), std::size_t(30), bytes.size() / 2, bytes.size() - 3}) {
    write_bytes(bad, bytes.substr(0, cut));
    CHECK_THROWS_WITH(load_checkpoint(bad.string()), ROAST_CONTAINS("truncated"));
  }
  std::string wrong_magic = bytes;
  wrong_magic[0] = 'X';
  write_bytes(bad, wrong_magic);
  CHECK_THROWS_WITH(load_checkpoint(bad.string()), ROAST_CONTAINS("not a roast checkpoint"));
  std::string wrong_version = bytes;
  wrong_version[8] = 9;
  write_bytes(bad, wrong_version);
  CHECK_THROWS_WITH(load_checkpoint(bad.string()), ROAST_CONTAINS("format version 9"));
  std::string flipped = bytes;
  flipped[bytes.size() / 2] ^= 0x40;  // inside the memory tensor's payload
  write_bytes(bad, flipped);
  CHECK_THROWS_WITH(load_checkpoint(bad.string()), ROAST_CONTAINS("CRC-32"));
  fs::remove_all(dir);
}

TEST_CASE("checkpoint: an unwritable folder is an error, the old file survives", "[checkpoint]") {
  CHECK_THROWS_WITH(save_checkpoint("/nonexistent_dir_roast/x.ckpt", sample()), ROAST_CONTAINS("writable"));
  const fs::path p = temp_dir() / "keep.ckpt";
  save_checkpoint(p.string(), sample());
  const std::string before = read_bytes(p);
  Checkpoint broken = sample();
  broken.tensors.emplace_back("empty", Tensor());  // fails while serialising, before any write
  CHECK_THROWS_AS(save_checkpoint(p.string(), broken), Error);
  CHECK(read_bytes(p) == before);
  fs::remove_all(p.parent_path());
}
