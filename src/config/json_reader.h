// Strict reading of JSON configs.
//
// A JsonReader views one JSON object at a key path ("optimizer", "model.layers[2]").
// get(key, fallback) reads a value of the fallback's type (or the default when absent),
// checks its type, and records the value actually used in the resolved config, so that
// resolved() holds every key with its default filled in. finish() rejects keys that were
// never read, listing the valid ones and suggesting the closest. Every error names the
// file, the key path, what was found and what is expected, and ends with an example.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "roast/error.h"
#include "roast/registry.h"

namespace roast {

class JsonReader {
 public:
  // `value` must outlive the reader; `resolved` receives what was read (may be null).
  JsonReader(const nlohmann::json& value, std::string path, std::string source, nlohmann::json* resolved);

  bool has(const std::string& key) const;
  template <typename T>
  T get(const std::string& key, const T& fallback);
  template <typename T>
  T require(const std::string& key, const char* example);
  // A child object (an empty one when absent).
  JsonReader object(const std::string& key);
  // Elements of an array of objects.
  std::vector<JsonReader> objects(const std::string& key);
  // Marks a key as handled elsewhere (e.g. "type" read by a factory).
  void accept(const std::string& key);
  void finish() const;

  // Key path of `key` under this object, e.g. "optimizer.lr".
  std::string key_path(const std::string& key) const;
  [[noreturn]] void bad(const std::string& key, const std::string& problem, const std::string& example = "") const;
  const std::string& path() const { return path_; }
  const std::string& source() const { return source_; }

 private:
  const nlohmann::json& value_;
  std::string path_, source_;
  nlohmann::json* resolved_;
  std::vector<std::string> used_;
  void mark(const std::string& key);
};

// Checks for common value rules; each throws through reader.bad().
float positive(JsonReader& r, const std::string& key, float fallback);
std::int64_t positive_int(JsonReader& r, const std::string& key, std::int64_t fallback);
// An integer in [lo, hi] (the documented ranges, roast/limits.h).
std::int64_t int_in_range(JsonReader& r, const std::string& key, std::int64_t fallback, std::int64_t lo, std::int64_t hi);
std::string one_of(JsonReader& r, const std::string& key, const std::string& fallback,
                   const std::vector<std::string>& choices);

// The entry of `registry` named by the string under `key` (`fallback` when absent);
// an unknown name fails through r.bad(), listing the registered names, e.g.
// "run.json: `model.type`: unknown model "mpl" (did you mean "mlp"?); valid: bag, cnn, ...".
template <typename Entry>
const Entry& read_registered(JsonReader& r, const std::string& key, const std::string& fallback,
                             const Registry<Entry>& registry) {
  const std::string name = r.get<std::string>(key, fallback);
  if (const Entry* entry = registry.find(name)) return *entry;
  r.bad(key, registry.unknown_message(name));
}

// Reads a JSON file; a syntax error names the file, line and column.
nlohmann::json read_json_file(const std::string& path);
// Reads a config file and resolves "extends": "other.json" (a path relative to the file):
// the base is read first (recursively) and this file's keys are merged over it, objects key
// by key, everything else replaced. The result has no "extends" key.
nlohmann::json read_config_file(const std::string& path);
// Applies an override "a.b.c=value" (value parsed as JSON, else taken as a string).
void apply_override(nlohmann::json& config, const std::string& assignment);

// The closest string by edit distance (within 3 edits), or "".
std::string closest(const std::string& word, const std::vector<std::string>& choices);

}  // namespace roast
