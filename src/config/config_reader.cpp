// The public ConfigReader (roast/config_reader.h): a view of the engine's JsonReader.
#include "roast/config_reader.h"

#include "config/json_reader.h"

namespace roast {

ConfigReader::ConfigReader(JsonReader& reader) : reader_(&reader) {}

bool ConfigReader::has(const std::string& key) const { return reader_->has(key); }

template <typename T>
T ConfigReader::get(const std::string& key, const T& fallback) {
  return reader_->get<T>(key, fallback);
}

template bool ConfigReader::get<bool>(const std::string&, const bool&);
template int ConfigReader::get<int>(const std::string&, const int&);
template std::int64_t ConfigReader::get<std::int64_t>(const std::string&, const std::int64_t&);
template float ConfigReader::get<float>(const std::string&, const float&);
template double ConfigReader::get<double>(const std::string&, const double&);
template std::string ConfigReader::get<std::string>(const std::string&, const std::string&);
template std::vector<std::int64_t> ConfigReader::get<std::vector<std::int64_t>>(const std::string&,
                                                                                const std::vector<std::int64_t>&);
template std::vector<std::string> ConfigReader::get<std::vector<std::string>>(const std::string&,
                                                                              const std::vector<std::string>&);

std::vector<ConfigReader> ConfigReader::objects(const std::string& key) {
  std::vector<ConfigReader> out;
  for (JsonReader& element : reader_->objects(key)) {
    auto owned = std::make_shared<JsonReader>(std::move(element));
    ConfigReader view(*owned);
    view.owned_ = std::move(owned);
    out.push_back(std::move(view));
  }
  return out;
}

void ConfigReader::finish() const { reader_->finish(); }

std::string ConfigReader::key_path(const std::string& key) const { return reader_->key_path(key); }

void ConfigReader::bad(const std::string& key, const std::string& problem, const std::string& example) const {
  reader_->bad(key, problem, example);
}

// The rules are those of the engine's own keys (json_reader.h), so messages read alike.
float positive(ConfigReader& config, const std::string& key, float fallback) {
  return positive(config.engine_reader(), key, fallback);
}

std::int64_t int_in_range(ConfigReader& config, const std::string& key, std::int64_t fallback, std::int64_t lo,
                          std::int64_t hi) {
  return int_in_range(config.engine_reader(), key, fallback, lo, hi);
}

std::int64_t positive_int(ConfigReader& config, const std::string& key, std::int64_t fallback) {
  return positive_int(config.engine_reader(), key, fallback);
}

std::string one_of(ConfigReader& config, const std::string& key, const std::string& fallback,
                   const std::vector<std::string>& choices) {
  return one_of(config.engine_reader(), key, fallback, choices);
}

}  // namespace roast
