// roast::Error: the one exception type the engine throws for bad input or misuse.
//
// Contract: every message names what was wrong (the op and its shapes, the file and
// record, or the key path), what was expected, and, where one exists, the fix.
// The roast-train CLI maps roast::Error to exit code 2 and anything else to 1.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace roast {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

namespace detail {
template <typename... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}
}  // namespace detail

// Throws roast::Error with the message built from the streamed parts.
template <typename... Parts>
[[noreturn]] void fail(const Parts&... parts) {
  throw Error(detail::concat(parts...));
}

}  // namespace roast

// ROAST_CHECK(cond, parts...): throws roast::Error(parts...) when cond is false.
#define ROAST_CHECK(cond, ...)                 \
  do {                                         \
    if (!(cond)) ::roast::fail(__VA_ARGS__);   \
  } while (0)
