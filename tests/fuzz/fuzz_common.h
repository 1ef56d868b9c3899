// Shared by the fuzz targets: input bytes written to a private temporary folder (the readers
// under test take paths), and the rule that roast::Error is the only acceptable failure.
// Anything else escaping a target (std::bad_alloc, a JSON library exception, a sanitizer
// report, a hang) is a bug: under libFuzzer it is reported as a crash and the input saved.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "roast/error.h"

namespace fuzz {

inline const std::string& scratch_dir() {
  static const std::string dir = [] {
    const std::string d = (std::filesystem::temp_directory_path() / ("roast_fuzz_" + std::to_string(::getpid()))).string();
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

inline std::string write_file(const std::string& name, const std::uint8_t* data, std::size_t size) {
  const std::string path = scratch_dir() + "/" + name;
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data), std::streamsize(size));
  return path;
}

inline void remove_file(const std::string& name) {
  std::error_code ec;
  std::filesystem::remove(scratch_dir() + "/" + name, ec);
}

// Runs f; a roast::Error (bad input, reported with exit code 2 by roast-train) is fine.
template <typename F>
void expect_clean(F&& f) {
  try {
    f();
  } catch (const roast::Error&) {
  }
}

}  // namespace fuzz
