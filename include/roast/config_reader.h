// ConfigReader: strict reading of one object of a run's JSON config, as the parse
// functions of registered model types see it (roast/config_types.h).
//
// A reader views one JSON object at a key path ("model", "model.stages[1]").
// get(key, fallback) returns the value written under `key`, or `fallback` when the key is
// absent; it checks the value's type and records the value used in the run's resolved
// config (resolved_config.json), so every default is written down. Keys that no one read
// are rejected when the object is finished, listing the keys that were read and the
// closest one. Every error is a roast::Error naming the config file and the key path, what
// was found and what was expected (roast-train exits with code 2), e.g.
//   run.json: `model.width`: must be a positive integer, got 0. Example: width: 16
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace roast {

class JsonReader;  // the engine's reader (src/config/json_reader.h)

class ConfigReader {
 public:
  // Engine side: a view of `reader`, which must outlive this view.
  explicit ConfigReader(JsonReader& reader);

  bool has(const std::string& key) const;
  // T is one of bool, int, std::int64_t, float, double, std::string,
  // std::vector<std::int64_t>, std::vector<std::string>.
  template <typename T>
  T get(const std::string& key, const T& fallback);
  // The elements of a list of objects under `key` (none when absent), one reader each;
  // call finish() on each after reading it.
  std::vector<ConfigReader> objects(const std::string& key);
  // Throws for keys of this object that were never read. The engine calls it on the
  // object it handed to a parse function.
  void finish() const;

  // `key` under this object, e.g. "model.width".
  std::string key_path(const std::string& key) const;
  // Throws roast::Error: "<file>: `<key path>`: <problem>. Example: <example>".
  [[noreturn]] void bad(const std::string& key, const std::string& problem, const std::string& example = "") const;

  // Engine side: the reader this view wraps.
  JsonReader& engine_reader() const { return *reader_; }

 private:
  std::shared_ptr<JsonReader> owned_;  // set for the readers objects() makes
  JsonReader* reader_;
};

// Common value rules; each fails through bad(), naming the key.
float positive(ConfigReader& config, const std::string& key, float fallback);                      // > 0
std::int64_t positive_int(ConfigReader& config, const std::string& key, std::int64_t fallback);  // >= 1
// An integer in [lo, hi] (the engine's ranges are in roast/limits.h).
std::int64_t int_in_range(ConfigReader& config, const std::string& key, std::int64_t fallback, std::int64_t lo,
                          std::int64_t hi);
// A string that must be one of `choices`; otherwise lists them (and the closest).
std::string one_of(ConfigReader& config, const std::string& key, const std::string& fallback,
                   const std::vector<std::string>& choices);

}  // namespace roast
