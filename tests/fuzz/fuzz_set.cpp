// Fuzz target: `--set` assignments (one per line of the input) over a valid config, then
// the config's validation, as roast-train train --set ... does.
#include "fuzz_common.h"
#include "config/json_reader.h"
#include "config/run_config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  fuzz::expect_clean([&] {
    nlohmann::json config = {{"name", "fuzz"},
                             {"data", {{"dataset", "mnist"}, {"path", "/nonexistent"}}},
                             {"model", {{"type", "mlp"}, {"hidden", {32}}}},
                             {"optimizer", {{"name", "adam"}, {"lr", 0.01}}}};
    std::size_t start = 0;
    while (start <= text.size()) {
      std::size_t end = text.find('\n', start);
      if (end == std::string::npos) end = text.size();
      roast::apply_override(config, text.substr(start, end - start));
      start = end + 1;
    }
    nlohmann::json resolved;
    roast::parse_run_config(config, "fuzz.json", &resolved);
    (void)resolved.dump();
  });
  return 0;
}
