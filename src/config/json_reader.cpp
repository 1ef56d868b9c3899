#include "config/json_reader.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "io/json_safe.h"
#include "roast/limits.h"

namespace roast {
namespace {
template <typename T> const char* type_name();
template <> const char* type_name<bool>() { return "true or false"; }
template <> const char* type_name<std::int64_t>() { return "an integer"; }
template <> const char* type_name<int>() { return "an integer"; }
template <> const char* type_name<float>() { return "a number"; }
template <> const char* type_name<double>() { return "a number"; }
template <> const char* type_name<std::string>() { return "a string"; }
template <> const char* type_name<std::vector<std::int64_t>>() { return "a list of integers"; }
template <> const char* type_name<std::vector<std::string>>() { return "a list of strings"; }

template <typename T>
bool has_type(const nlohmann::json& v) {
  if constexpr (std::is_same_v<T, bool>) return v.is_boolean();
  else if constexpr (std::is_integral_v<T>)  // unsigned values above INT64_MAX would wrap
    return v.is_number_integer() && (!v.is_number_unsigned() || v.get<std::uint64_t>() <= std::uint64_t(INT64_MAX));
  else if constexpr (std::is_floating_point_v<T>) return v.is_number();
  else if constexpr (std::is_same_v<T, std::string>) return v.is_string();
  else if constexpr (std::is_same_v<T, std::vector<std::int64_t>>)
    return v.is_array() && std::all_of(v.begin(), v.end(), [](const nlohmann::json& e) { return e.is_number_integer(); });
  else return v.is_array() && std::all_of(v.begin(), v.end(), [](const nlohmann::json& e) { return e.is_string(); });
}
}  // namespace

std::string closest(const std::string& word, const std::vector<std::string>& choices) {
  return detail::closest_name(word, choices);
}

JsonReader::JsonReader(const nlohmann::json& value, std::string path, std::string source, nlohmann::json* resolved)
    : value_(value), path_(std::move(path)), source_(std::move(source)), resolved_(resolved) {
  if (!value_.is_object() && !value_.is_null())
    fail(source_, ": `", path_.empty() ? "(top level)" : path_, "`: must be a JSON object {...}, got ", json_brief(value_));
  if (resolved_ != nullptr && !resolved_->is_object()) *resolved_ = nlohmann::json::object();
}

std::string JsonReader::key_path(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

void JsonReader::bad(const std::string& key, const std::string& problem, const std::string& example) const {
  fail(source_, ": `", key_path(key), "`: ", problem, example.empty() ? "" : ". Example: " + example);
}

bool JsonReader::has(const std::string& key) const { return value_.is_object() && value_.contains(key); }

void JsonReader::mark(const std::string& key) {
  if (std::find(used_.begin(), used_.end(), key) == used_.end()) used_.push_back(key);
}

void JsonReader::accept(const std::string& key) {
  mark(key);
  if (resolved_ != nullptr && has(key)) (*resolved_)[key] = value_.at(key);
}

template <typename T>
T JsonReader::get(const std::string& key, const T& fallback) {
  mark(key);
  T out = fallback;
  if (has(key)) {
    const nlohmann::json& v = value_.at(key);
    if (!has_type<T>(v)) {
      nlohmann::json example = fallback;
      bad(key, std::string("must be ") + type_name<T>() + ", got " + json_brief(v), key + ": " + example.dump());
    }
    out = v.get<T>();
  }
  if (resolved_ != nullptr) {
    if constexpr (std::is_same_v<T, float>) {
      // Record what a person would write (0.01), not the float's binary value widened to double.
      char text[32];
      std::snprintf(text, sizeof text, "%.7g", double(out));
      (*resolved_)[key] = std::strtod(text, nullptr);
    } else {
      (*resolved_)[key] = out;
    }
  }
  return out;
}

template <typename T>
T JsonReader::require(const std::string& key, const char* example) {
  if (!has(key)) bad(key, std::string("is required (") + type_name<T>() + ")", example);
  return get<T>(key, T{});
}

template bool JsonReader::get<bool>(const std::string&, const bool&);
template int JsonReader::get<int>(const std::string&, const int&);
template std::int64_t JsonReader::get<std::int64_t>(const std::string&, const std::int64_t&);
template float JsonReader::get<float>(const std::string&, const float&);
template double JsonReader::get<double>(const std::string&, const double&);
template std::string JsonReader::get<std::string>(const std::string&, const std::string&);
template std::vector<std::int64_t> JsonReader::get<std::vector<std::int64_t>>(const std::string&, const std::vector<std::int64_t>&);
template std::vector<std::string> JsonReader::get<std::vector<std::string>>(const std::string&, const std::vector<std::string>&);
template std::string JsonReader::require<std::string>(const std::string&, const char*);
template std::int64_t JsonReader::require<std::int64_t>(const std::string&, const char*);

JsonReader JsonReader::object(const std::string& key) {
  mark(key);
  static const nlohmann::json kEmpty = nlohmann::json::object();
  const nlohmann::json& child = has(key) ? value_.at(key) : kEmpty;
  if (!child.is_object()) bad(key, "must be an object {...}, got " + json_brief(child));
  nlohmann::json* slot = resolved_ != nullptr ? &(*resolved_)[key] : nullptr;
  return JsonReader(child, key_path(key), source_, slot);
}

std::vector<JsonReader> JsonReader::objects(const std::string& key) {
  mark(key);
  std::vector<JsonReader> out;
  if (!has(key)) return out;
  const nlohmann::json& arr = value_.at(key);
  if (!arr.is_array()) bad(key, "must be a list of objects [{...}, ...], got " + json_brief(arr));
  nlohmann::json* slot = nullptr;
  if (resolved_ != nullptr) {
    (*resolved_)[key] = nlohmann::json::array();
    slot = &(*resolved_)[key];
    for (std::size_t i = 0; i < arr.size(); ++i) slot->push_back(nlohmann::json::object());
  }
  for (std::size_t i = 0; i < arr.size(); ++i)
    out.emplace_back(arr[i], key_path(key) + "[" + std::to_string(i) + "]", source_, slot ? &(*slot)[i] : nullptr);
  return out;
}

void JsonReader::finish() const {
  if (!value_.is_object()) return;
  for (const auto& item : value_.items()) {
    if (std::find(used_.begin(), used_.end(), item.key()) != used_.end()) continue;
    std::string valid;
    for (const std::string& u : used_) valid += (valid.empty() ? "" : ", ") + u;
    const std::string guess = closest(item.key(), used_);
    fail(source_, ": `", key_path(item.key()), "`: unknown key", guess.empty() ? "" : " (did you mean `" + guess + "`?)",
         ". Valid keys here: ", valid.empty() ? "(none)" : valid);
  }
}

float positive(JsonReader& r, const std::string& key, float fallback) {
  const float v = r.get<float>(key, fallback);
  if (!(v > 0) || !std::isfinite(v)) r.bad(key, "must be a positive finite number, got " + nlohmann::json(v).dump(), key + ": " + nlohmann::json(fallback).dump());
  return v;
}

std::int64_t positive_int(JsonReader& r, const std::string& key, std::int64_t fallback) {
  const std::int64_t v = r.get<std::int64_t>(key, fallback);
  if (v <= 0) r.bad(key, "must be a positive integer, got " + std::to_string(v), key + ": " + std::to_string(fallback));
  return v;
}

std::int64_t int_in_range(JsonReader& r, const std::string& key, std::int64_t fallback, std::int64_t lo, std::int64_t hi) {
  const std::int64_t v = r.get<std::int64_t>(key, fallback);
  if (v < lo || v > hi)
    r.bad(key, "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + std::to_string(v) +
                   " (docs/reliability.md lists the ranges)", key + ": " + std::to_string(fallback));
  return v;
}

std::string one_of(JsonReader& r, const std::string& key, const std::string& fallback, const std::vector<std::string>& choices) {
  const std::string v = r.get<std::string>(key, fallback);
  if (std::find(choices.begin(), choices.end(), v) != choices.end()) return v;
  std::string list;
  for (const std::string& c : choices) list += (list.empty() ? "" : ", ") + c;
  const std::string guess = closest(v, choices);
  r.bad(key, "\"" + v + "\" is not valid" + (guess.empty() ? "" : " (did you mean \"" + guess + "\"?)") + "; valid: " + list);
}

nlohmann::json read_json_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail("cannot open config ", path, ": no such file or not readable. Check the path (configs/ holds the shipped configs)");
  std::stringstream text;
  text << in.rdbuf();
  try {
    return parse_json_bounded(text.str(), path, /*ignore_comments=*/true);
  } catch (const nlohmann::json::out_of_range& e) {  // 1e400: a number no double holds
    fail(path, ": invalid JSON: ", e.what(), ". Numbers must fit a double (at most about 1.8e308)");
  } catch (const nlohmann::json::parse_error& e) {
    // Translate the byte offset into line and column.
    const std::string s = text.str();
    std::size_t line = 1, col = 1;
    for (std::size_t i = 0; i + 1 < e.byte && i < s.size(); ++i) {
      if (s[i] == '\n') ++line, col = 1;
      else ++col;
    }
    fail(path, ":", line, ":", col, ": invalid JSON: ", e.what());
  }
}

namespace {
void merge_into(nlohmann::json& base, const nlohmann::json& over) {
  for (const auto& item : over.items()) {
    if (item.value().is_object() && base.contains(item.key()) && base[item.key()].is_object())
      merge_into(base[item.key()], item.value());
    else
      base[item.key()] = item.value();
  }
}

nlohmann::json read_config_chain(const std::string& path, std::vector<std::string>& chain) {
  if (std::find(chain.begin(), chain.end(), path) != chain.end())
    fail(path, ": `extends` forms a cycle (", chain.front(), " -> ... -> ", path, "); remove one of the links");
  chain.push_back(path);
  nlohmann::json config = read_json_file(path);
  if (!config.is_object()) fail(path, ": a config must be a JSON object {...}");
  if (!config.contains("extends")) return config;
  if (!config["extends"].is_string())
    fail(path, ": `extends`: must be a path to another config, got ", json_brief(config["extends"]), ". Example: \"extends\": \"base.json\"");
  const std::string base_name = config["extends"].get<std::string>();
  const std::size_t slash = path.find_last_of('/');
  const std::string base_path = base_name.empty() || base_name[0] == '/' || slash == std::string::npos
                                    ? base_name : path.substr(0, slash + 1) + base_name;
  nlohmann::json merged = read_config_chain(base_path, chain);
  config.erase("extends");
  merge_into(merged, config);
  return merged;
}
}  // namespace

nlohmann::json read_config_file(const std::string& path) {
  std::vector<std::string> chain;
  return read_config_chain(path, chain);
}

void apply_override(nlohmann::json& config, const std::string& assignment) {
  const std::size_t eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    fail("--set ", assignment, ": expected KEY=VALUE, e.g. --set optimizer.lr=0.01 or --set memory.scheme=dense");
  std::size_t bad_byte = 0;
  if (!valid_utf8(assignment, &bad_byte))
    fail("--set: the assignment is not valid UTF-8 (byte ", bad_byte, "); write keys and values in UTF-8");
  const std::string key = assignment.substr(0, eq), text = assignment.substr(eq + 1);
  if (std::count(key.begin(), key.end(), '.') >= limits::kMaxJsonDepth)
    fail("--set ", key.substr(0, 60), "...: the key path has more than ", limits::kMaxJsonDepth, " parts; no config key is that deep");
  nlohmann::json value;
  try {
    value = parse_json_bounded(text, "--set " + key);
  } catch (const nlohmann::json::out_of_range& e) {
    fail("--set ", key, ": ", e.what(), ". Numbers must fit a double (at most about 1.8e308)");
  } catch (const nlohmann::json::parse_error&) {
    value = text;  // a bare word is a string: --set memory.scheme=dense
  }
  nlohmann::json* node = &config;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = key.find('.', start);
    const std::string part = key.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (part.empty()) fail("--set ", assignment, ": empty part in key path \"", key, "\"");
    if (!node->is_object()) fail("--set ", assignment, ": \"", key.substr(0, start ? start - 1 : 0), "\" is not an object");
    if (dot == std::string::npos) {
      (*node)[part] = value;
      return;
    }
    node = &(*node)[part];
    if (node->is_null()) *node = nlohmann::json::object();
    start = dot + 1;
  }
}

}  // namespace roast
