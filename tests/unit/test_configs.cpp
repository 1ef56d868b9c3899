// Every shipped config and every JSON example in docs/config.md parses and plans.
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "config/datasets.h"
#include "config/json_reader.h"
#include "config/model_factory.h"
#include "config/run_config.h"
#include "memory/scheme_types.h"
#include "optim/optim_types.h"
#include "roast/config_types.h"
#include "support/catch.h"
#include "train/info.h"

namespace fs = std::filesystem;

TEST_CASE("configs: every file in configs/ builds its model and memory", "[config]") {
  int n = 0;
  for (const auto& entry : fs::recursive_directory_iterator(fs::path(ROAST_SOURCE_DIR) / "configs")) {
    if (entry.path().extension() != ".json" || entry.path().parent_path().filename() == "suites") continue;
    INFO(entry.path().string());
    const nlohmann::json d = roast::describe_config(entry.path().string(), {});
    CHECK(d["virtual_params"].get<std::int64_t>() > 0);
    CHECK(d["compression"].get<double>() >= 1.0);
    ++n;
  }
  CHECK(n >= 20);
}

TEST_CASE("configs: the examples in docs/config.md parse", "[config]") {
  std::ifstream in(fs::path(ROAST_SOURCE_DIR) / "docs" / "config.md");
  std::stringstream text;
  text << in.rdbuf();
  const std::string doc = text.str();
  const std::regex block("```json\\n([\\s\\S]*?)```");
  int n = 0;
  for (auto it = std::sregex_iterator(doc.begin(), doc.end(), block); it != std::sregex_iterator(); ++it) {
    const nlohmann::json config = nlohmann::json::parse((*it)[1].str());
    nlohmann::json resolved;
    CHECK_NOTHROW(roast::parse_run_config(config, "docs/config.md", &resolved));
    ++n;
  }
  CHECK(n >= 2);
}

TEST_CASE("configs: docs/config.md names every built-in model type, dataset, scheme, optimizer and schedule",
          "[config]") {
  std::ifstream in(fs::path(ROAST_SOURCE_DIR) / "docs" / "config.md");
  std::stringstream text;
  text << in.rdbuf();
  const std::string doc = text.str();
  std::vector<std::string> names;
  const auto add = [&](const std::vector<std::string>& more) { names.insert(names.end(), more.begin(), more.end()); };
  // Fresh registries: the global ones may hold entries a test added.
  roast::Registry<roast::ModelType> models("model");
  roast::register_builtin_models(models);
  roast::Registry<roast::DatasetType> datasets("dataset");
  roast::register_builtin_datasets(datasets);
  add(models.names());
  add(datasets.names());
  add(roast::scheme_registry().names());
  add(roast::optimizer_registry().names());
  add(roast::schedule_registry().names());
  CHECK(names.size() >= 27);
  for (const std::string& name : names) {
    INFO(name);
    CHECK(doc.find("`" + name + "`") != std::string::npos);
  }
}

TEST_CASE("configs: every file in configs/ plans at 1000x in every scheme and mapping", "[config]") {
  int n = 0;
  for (const auto& entry : fs::recursive_directory_iterator(fs::path(ROAST_SOURCE_DIR) / "configs")) {
    if (entry.path().extension() != ".json" || entry.path().parent_path().filename() == "suites") continue;
    for (const char* scheme : {"roast", "roast-local", "hashednet"}) {
      for (const char* mapping : {"hash", "fold"}) {
        if (std::string(scheme) == "hashednet" && std::string(mapping) == "fold") continue;
        INFO(entry.path().string() << " " << scheme << " " << mapping);
        const nlohmann::json d = roast::describe_config(
            entry.path().string(), {"memory.scheme=" + std::string(scheme), "memory.mapping=" + std::string(mapping),
                                    "memory.compression=1000"});
        // The paper's convention (compression over the hashed tensors) reaches 1000x.
        CHECK(d["compression_hashed"].get<double>() >= 990.0);  // ceil(n_hashed / 1000) cells
        CHECK(d["compression"].get<double>() >= 100.0);
        ++n;
      }
    }
  }
  CHECK(n >= 100);
}
