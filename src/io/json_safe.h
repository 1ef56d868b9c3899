// JSON from untrusted places (configs, --set values, checkpoint headers, data records):
// parsing with a nesting bound, checked UTF-8, and short renderings for error messages.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace roast {

// Parses `text`; nesting deeper than limits::kMaxJsonDepth throws roast::Error starting with
// `where` (before anything walks the value recursively). Syntax errors and numbers out of
// range throw nlohmann::json::exception as usual: callers translate them with their file.
nlohmann::json parse_json_bounded(std::string_view text, const std::string& where, bool ignore_comments = false);

// The nesting depth of `value`, counted up to `cap` (so a deep value costs O(cap) stack).
int json_depth(const nlohmann::json& value, int cap);

// `value` for an error message: at most `max_chars` characters (longer renderings end in
// "..."), invalid UTF-8 replaced, never throwing.
std::string json_brief(const nlohmann::json& value, std::size_t max_chars = 120);

// True when `text` is valid UTF-8; else false and *bad_at (when given) is the first bad byte.
bool valid_utf8(std::string_view text, std::size_t* bad_at = nullptr);

}  // namespace roast
