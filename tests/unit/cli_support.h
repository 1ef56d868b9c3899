// Shared by the CLI-level tests: running roast-train, and a tiny generated IDX dataset with
// a config that trains on it in well under a second.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace cli_support {
namespace fs = std::filesystem;

struct Result {
  int code;     // exit code, or -signal when killed
  std::string output;
};

inline Result run(const std::string& args, const std::string& env = "") {
  static int counter = 0;
  const std::string log =
      (fs::temp_directory_path() / ("roast_rel_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + ".log")).string();
  // exec (through env for the variables): roast-train replaces the shell, so a SIGKILL shows as
  // the signal rather than as the shell's status.
  const std::string wrapped = "exec " + (env.empty() ? std::string() : "env " + env + " ") + std::string(ROAST_TRAIN_EXE) +
                              " " + args + " > " + log + " 2>&1";
  const int status = std::system(wrapped.c_str());
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  fs::remove(log);
  int code = -1;
  if (WIFEXITED(status)) code = WEXITSTATUS(status);
  if (code >= 128) code = -(code - 128);  // the shell's way of reporting a signal
  if (WIFSIGNALED(status)) code = -WTERMSIG(status);
  return {code, text.str()};
}

inline void write_idx(const fs::path& path, const std::vector<std::uint8_t>& data, std::vector<std::uint32_t> dims) {
  std::ofstream out(path, std::ios::binary);
  const std::uint8_t magic[4] = {0, 0, 8, std::uint8_t(dims.size())};
  out.write(reinterpret_cast<const char*>(magic), 4);
  for (std::uint32_t d : dims) {
    const std::uint8_t be[4] = {std::uint8_t(d >> 24), std::uint8_t(d >> 16), std::uint8_t(d >> 8), std::uint8_t(d)};
    out.write(reinterpret_cast<const char*>(be), 4);
  }
  out.write(reinterpret_cast<const char*>(data.data()), std::streamsize(data.size()));
}

// A learnable 10-class set of side x side images: class c lights a 4x4 block at its own place.
inline void write_split(const fs::path& dir, const std::string& prefix, int n, std::uint32_t seed, int side = 28) {
  std::mt19937 rng(seed);
  const std::size_t pixels = std::size_t(side) * std::size_t(side);
  std::vector<std::uint8_t> images(static_cast<std::size_t>(n) * pixels), labels(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    const int c = i % 10;
    labels[std::size_t(i)] = std::uint8_t(c);
    for (std::size_t p = 0; p < pixels; ++p) images[std::size_t(i) * pixels + p] = std::uint8_t(rng() % 60);
    for (int y = 0; y < 4; ++y)
      for (int x = 0; x < 4; ++x)
        images[std::size_t(i) * pixels + std::size_t((2 + (c / 5) * 8 + y) * side + 1 + (c % 5) * 4 + x)] = 250;
  }
  write_idx(dir / (prefix + "-images-idx3-ubyte"), images, {std::uint32_t(n), std::uint32_t(side), std::uint32_t(side)});
  write_idx(dir / (prefix + "-labels-idx1-ubyte"), labels, {std::uint32_t(n)});
}

struct Fixture {
  fs::path dir;
  explicit Fixture(const std::string& tag) {
    dir = fs::temp_directory_path() / ("roast_" + tag + "_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir / "data");
    write_split(dir / "data", "train", 400, 1);
    write_split(dir / "data", "t10k", 100, 2);
    nlohmann::json config = {
        {"name", "tiny"},
        {"seed", 3},
        {"threads", 1},
        {"data", {{"dataset", "mnist"}, {"path", (dir / "data").string()}, {"validation_fraction", 0.2}}},
        {"model", {{"type", "mlp"}, {"hidden", {32}}, {"dropout", 0.1}}},
        {"memory", {{"scheme", "roast"}, {"compression", 10}, {"exact_threshold", 0}}},
        {"optimizer", {{"name", "adam"}, {"lr", 0.01}}},
        {"train", {{"epochs", 3}, {"batch_size", 32}}}};
    std::ofstream(dir / "tiny.json") << config.dump(2);
  }
  ~Fixture() { fs::remove_all(dir); }
  std::string config() const { return (dir / "tiny.json").string(); }
  std::string out(const std::string& name) const { return (dir / name).string(); }
  std::string train(const std::string& out_name, const std::string& extra = "") const {
    return "train --config " + config() + " --out " + out(out_name) + " --quiet " + extra;
  }
};

inline std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

}  // namespace cli_support
