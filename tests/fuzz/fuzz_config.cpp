// Fuzz target: a config file with `extends` (the input is "MAIN\0BASE": MAIN is the config,
// BASE the file it may extend as "base.json"), read and validated as roast-train does.
#include <cstring>

#include "fuzz_common.h"
#include "config/json_reader.h"
#include "config/run_config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::uint8_t* split = static_cast<const std::uint8_t*>(std::memchr(data, 0, size));
  const std::size_t main_size = split ? std::size_t(split - data) : size;
  const std::string main_path = fuzz::write_file("main.json", data, main_size);
  if (split) fuzz::write_file("base.json", split + 1, size - main_size - 1);
  else fuzz::remove_file("base.json");
  fuzz::expect_clean([&] {
    const nlohmann::json config = roast::read_config_file(main_path);
    nlohmann::json resolved;
    roast::parse_run_config(config, main_path, &resolved);
    (void)resolved.dump();  // what resolved_config.json gets: must never throw
  });
  return 0;
}
