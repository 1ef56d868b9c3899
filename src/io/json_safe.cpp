#include "io/json_safe.h"

#include "roast/error.h"
#include "roast/limits.h"

namespace roast {

nlohmann::json parse_json_bounded(std::string_view text, const std::string& where, bool ignore_comments) {
  // The callback parser keeps its own stack (no recursion) and reports each value's depth.
  const nlohmann::json::parser_callback_t bound = [&where](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
    if (depth > limits::kMaxJsonDepth)
      fail(where, ": JSON nested deeper than ", limits::kMaxJsonDepth,
           " levels; no roast input needs more than a few. Check the file for runaway brackets");
    return true;
  };
  return nlohmann::json::parse(text.begin(), text.end(), bound, true, ignore_comments);
}

int json_depth(const nlohmann::json& value, int cap) {
  if (cap <= 0 || !value.is_structured()) return 0;
  int deepest = 0;
  for (const nlohmann::json& child : value) {
    deepest = std::max(deepest, json_depth(child, cap - 1));
    if (deepest >= cap - 1) break;
  }
  return deepest + 1;
}

std::string json_brief(const nlohmann::json& value, std::size_t max_chars) {
  std::string text;
  if (json_depth(value, limits::kMaxJsonDepth + 1) > limits::kMaxJsonDepth) {
    text = value.is_array() ? "[[[...]]] (deeply nested)" : "{...} (deeply nested)";
  } else if (value.is_structured() && value.size() > 64) {
    text = value.is_array() ? "[... " + std::to_string(value.size()) + " elements ...]"
                            : "{... " + std::to_string(value.size()) + " keys ...}";
  } else {
    text = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  if (text.size() > max_chars) text = text.substr(0, max_chars) + "...";
  return text;
}

bool valid_utf8(std::string_view s, std::size_t* bad_at) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n) {
    const unsigned char c = p[i];
    std::size_t len = 0;
    std::uint32_t min = 0, cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2, min = 0x80, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, min = 0x800, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, min = 0x10000, cp = c & 0x07;
    } else {
      if (bad_at) *bad_at = i;
      return false;
    }
    if (i + len > n) {
      if (bad_at) *bad_at = i;
      return false;
    }
    for (std::size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) {
        if (bad_at) *bad_at = i;
        return false;
      }
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      if (bad_at) *bad_at = i;
      return false;
    }
    i += len;
  }
  return true;
}

}  // namespace roast
