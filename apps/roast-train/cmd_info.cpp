// `roast-train info`: the model and memory a config builds.
#include <cstdio>

#include "commands.h"
#include "train/info.h"

namespace roast {
namespace cli {

void add_info_command(CLI::App& app) {
  auto config = std::make_shared<std::string>();
  auto overrides = std::make_shared<std::vector<std::string>>();
  auto as_json = std::make_shared<bool>(false);
  CLI::App* info = app.add_subcommand("info", "Show virtual parameters per layer, memory size and per-cell load");
  info->add_option("--config", *config, "A run's JSON config")->required()->check(CLI::ExistingFile);
  info->add_option("--set", *overrides, "Override a config key (repeatable)");
  info->add_flag("--json", *as_json, "Print JSON");
  info->callback([config, overrides, as_json] {
    const nlohmann::json d = describe_config(*config, *overrides);
    if (*as_json) {
      std::printf("%s\n", d.dump(2).c_str());
      return;
    }
    std::printf("%s: %s model, scheme %s\n", config->c_str(), d["model"].get<std::string>().c_str(),
                d["scheme"].get<std::string>().c_str());
    std::printf("%-40s %14s %12s\n", "layer", "virtual", "exact");
    for (const auto& l : d["layers"])
      std::printf("%-40s %14lld %12lld\n", l["layer"].get<std::string>().c_str(), (long long)l["virtual_params"].get<std::int64_t>(),
                  (long long)l["exact_params"].get<std::int64_t>());
    std::printf("virtual parameters %lld, memory %lld floats (%.2f MB), %lld exact, compression %.2fx\n",
                (long long)d["virtual_params"].get<std::int64_t>(), (long long)d["memory_floats"].get<std::int64_t>(),
                double(d["memory_bytes"].get<std::int64_t>()) / 1e6, (long long)d["exact_floats"].get<std::int64_t>(),
                d["compression"].get<double>());
    std::printf("compression over hashed tensors %.2fx (%lld hashed parameters; the paper's convention); budget "
                "counted over %s parameters; %lld small tensors hashed; mapping %s, tile %lldx%lld, embedding chunk %lld\n",
                d["compression_hashed"].get<double>(), (long long)d["hashed_params"].get<std::int64_t>(),
                d["compression_counted_over"].get<std::string>().c_str(), (long long)d["small_tensors_hashed"].get<std::int64_t>(),
                d["mapping"].get<std::string>().c_str(), (long long)d["tile"][0].get<std::int64_t>(),
                (long long)d["tile"][1].get<std::int64_t>(), (long long)d["embedding_chunk"].get<std::int64_t>());
    for (const auto& r : d["regions"]) {
      const auto& l = r["load"];
      std::printf("  region %-32s %12lld floats: load min %lld, mean %.2f, max %lld; empty %.1f%%\n",
                  r["region"].get<std::string>().substr(0, 32).c_str(), (long long)r["floats"].get<std::int64_t>(),
                  (long long)l["min_load"].get<std::int64_t>(), l["mean_load"].get<double>(),
                  (long long)l["max_load"].get<std::int64_t>(), 100.0 * l["empty_share"].get<double>());
    }
    const auto& load = d["load"];
    std::printf("weights per cell: min %lld, mean %.2f, max %lld, std %.2f; empty cells %.1f%%\n",
                (long long)load["min_load"].get<std::int64_t>(), load["mean_load"].get<double>(),
                (long long)load["max_load"].get<std::int64_t>(), load["std_load"].get<double>(),
                100.0 * load["empty_share"].get<double>());
  });
}

}  // namespace cli
}  // namespace roast
