// A seeded mutation driver for builds without libFuzzer (g++, no clang): runs every file of
// the given corpus folders through the target, then N mutations of them (bit flips, byte
// changes, truncations, duplications, insertions of "interesting" values), seeded, so a
// run is reproducible. Usage: fuzz_replay_TARGET [-runs=N] [-seed=S] DIR...
// Exit 0 when no input escaped as anything but roast::Error.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

int main(int argc, char** argv) {
  long runs = 1000;
  unsigned seed = 28;
  std::vector<std::vector<std::uint8_t>> corpus;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "-runs=", 6) == 0) { runs = std::atol(argv[i] + 6); continue; }
    if (std::strncmp(argv[i], "-seed=", 6) == 0) { seed = unsigned(std::atol(argv[i] + 6)); continue; }
    if (!std::filesystem::is_directory(argv[i])) continue;
    for (const auto& e : std::filesystem::recursive_directory_iterator(argv[i])) {
      if (!e.is_regular_file()) continue;
      std::ifstream in(e.path(), std::ios::binary);
      corpus.emplace_back((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    }
  }
  if (corpus.empty()) corpus.emplace_back();
  for (const auto& input : corpus) LLVMFuzzerTestOneInput(input.data(), input.size());
  std::mt19937_64 rng(seed);
  static const std::uint8_t interesting[] = {0, 1, 0x7f, 0x80, 0xff, '[', '{', '"', '\\', ',', ':', '\n', '\t', '\0', '9'};
  for (long r = 0; r < runs; ++r) {
    std::vector<std::uint8_t> x = corpus[rng() % corpus.size()];
    const int n_mutations = 1 + int(rng() % 4);
    for (int m = 0; m < n_mutations; ++m) {
      const std::size_t at = x.empty() ? 0 : std::size_t(rng() % x.size());
      switch (rng() % 6) {
        case 0: if (!x.empty()) x[at] ^= std::uint8_t(1u << (rng() % 8)); break;
        case 1: if (!x.empty()) x[at] = interesting[rng() % sizeof interesting]; break;
        case 2: x.resize(at); break;
        case 3: x.insert(x.begin() + std::ptrdiff_t(at), interesting[rng() % sizeof interesting]); break;
        case 4: if (!x.empty()) { const std::size_t len = 1 + rng() % std::min<std::size_t>(64, x.size() - at);
                  x.insert(x.begin() + std::ptrdiff_t(at), x.begin() + std::ptrdiff_t(at), x.begin() + std::ptrdiff_t(at + len)); } break;
        default: if (!x.empty()) x[at] = std::uint8_t(rng()); break;
      }
    }
    LLVMFuzzerTestOneInput(x.data(), x.size());
  }
  std::printf("%zu corpus inputs and %ld mutations (seed %u): no input escaped as anything but roast::Error\n",
              corpus.size(), runs, seed);
  return 0;
}
