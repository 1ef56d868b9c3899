// Names, parsers and validation of the memory config.
#include <cctype>
#include <cmath>
#include <sstream>

#include "memory/config_check.h"
#include "memory/scheme_types.h"
#include "roast/error.h"

namespace roast {

const char* scheme_name(Scheme scheme) {
  switch (scheme) {
    case Scheme::dense: return "dense";
    case Scheme::roast: return "roast";
    case Scheme::roast_local: return "roast-local";
    case Scheme::hashednet: return "hashednet";
    case Scheme::exact: return "exact";
  }
  return "?";
}

namespace {
void register_builtin_schemes(Registry<SchemeType>& registry) {
  registry.add({"dense", Scheme::dense, "m = n: every virtual parameter its own cell", 1.0, SignMode::tile});
  registry.add({"roast", Scheme::roast, "one region shared by every hashed tensor, tile hash", 10.0, SignMode::tile});
  registry.add({"roast-local", Scheme::roast_local, "one region per hashed tensor, tile hash", 10.0, SignMode::tile});
  registry.add({"hashednet", Scheme::hashednet, "one region per hashed tensor, element hash", 10.0, SignMode::element});
}
}  // namespace

const Registry<SchemeType>& scheme_registry() {
  static Registry<SchemeType> registry("scheme");
  static const bool builtins_added = (register_builtin_schemes(registry), true);
  (void)builtins_added;
  return registry;
}

Scheme parse_scheme(const std::string& text) {
  // "roast_local", the enumerator's spelling, is accepted from C++ (not in configs).
  return scheme_registry().at(text == "roast_local" ? "roast-local" : text, "memory.scheme").scheme;
}

const char* sign_mode_name(SignMode mode) {
  switch (mode) {
    case SignMode::none: return "none";
    case SignMode::tile: return "tile";
    case SignMode::element: return "element";
  }
  return "?";
}

SignMode parse_sign_mode(const std::string& text) {
  if (text == "none") return SignMode::none;
  if (text == "tile") return SignMode::tile;
  if (text == "element") return SignMode::element;
  fail("memory.sign: unknown sign mode \"", text, "\"; valid: none, tile, element");
}

const char* kind_name(TensorKind kind) {
  switch (kind) {
    case TensorKind::matrix: return "matrix";
    case TensorKind::embedding: return "embedding";
    case TensorKind::vector: return "vector";
  }
  return "?";
}

std::int64_t parse_bytes(const std::string& text) {
  const auto bad = [&](const char* why) {
    fail("memory.bytes: cannot read \"", text, "\" as a byte budget (", why,
         "). Examples: \"4MB\", \"512KiB\", \"1.5GB\", \"65536\"");
  };
  std::size_t i = 0;
  while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  const std::size_t number_begin = i;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
  const std::string number = text.substr(number_begin, i - number_begin);
  if (number.empty() || number == ".") bad("no number");
  if (number.find('.') != number.rfind('.')) bad("two decimal points");
  while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  std::size_t unit_end = text.size();
  while (unit_end > i && std::isspace(static_cast<unsigned char>(text[unit_end - 1]))) --unit_end;
  const std::string unit = text.substr(i, unit_end - i);
  long double factor = 0;
  if (unit.empty() || unit == "B") factor = 1;
  else if (unit == "kB" || unit == "KB") factor = 1e3L;
  else if (unit == "MB") factor = 1e6L;
  else if (unit == "GB") factor = 1e9L;
  else if (unit == "TB") factor = 1e12L;
  else if (unit == "KiB") factor = 1024.0L;
  else if (unit == "MiB") factor = 1024.0L * 1024;
  else if (unit == "GiB") factor = 1024.0L * 1024 * 1024;
  else if (unit == "TiB") factor = 1024.0L * 1024 * 1024 * 1024;
  else bad("unknown unit; use B, kB, MB, GB, TB, KiB, MiB, GiB or TiB");
  const long double value = std::strtold(number.c_str(), nullptr) * factor;
  if (!(value < 4.0L * 1024 * 1024 * 1024 * 1024 * 1024)) bad("more than 4 PiB");
  return std::int64_t(std::floor(value));
}

namespace memory_detail {
namespace {
bool hashed(Scheme scheme) { return scheme != Scheme::dense; }

// x rounded down to 3 significant digits, so that "at most x" is a safe bound.
double round_down_3(double x) {
  if (!(x > 0)) return 0;
  const double scale = std::pow(10.0, std::floor(std::log10(x)) - 2);
  return std::floor(x / scale * (1 + 1e-12)) * scale;
}
}  // namespace

void validate_config(const MemoryConfig& config) {
  ROAST_CHECK(config.scheme != Scheme::exact,
              "memory.scheme: \"exact\" is a per-tensor layout, not a memory scheme; valid: dense, roast, roast-local, "
              "hashednet");
  const int n_budgets = int(config.compression.has_value()) + int(config.floats.has_value()) +
                        int(config.bytes.has_value());
  ROAST_CHECK(n_budgets <= 1, "memory: set only one of memory.compression, memory.floats, memory.bytes; got ",
              n_budgets);
  ROAST_CHECK(n_budgets == 1 || !hashed(config.scheme), "memory: scheme ", scheme_name(config.scheme),
              " needs a size: set memory.compression (e.g. 10), memory.floats or memory.bytes (e.g. \"4MB\")");
  if (config.compression) {
    const double c = *config.compression;
    ROAST_CHECK(std::isfinite(c) && c >= 1.0, "memory.compression = ", c,
                " is below 1 (it is n / m, and m may not exceed the n virtual parameters): use a value >= 1, or "
                "memory.scheme = dense for the uncompressed model");
    ROAST_CHECK(hashed(config.scheme) || c == 1.0, "memory.compression = ", c,
                ": scheme dense stores every virtual parameter (compression 1); remove memory.compression or "
                "choose scheme roast, roast-local or hashednet");
  }
  if (config.floats) {
    ROAST_CHECK(*config.floats >= 1 && *config.floats <= kMaxMemoryFloats, "memory.floats = ", *config.floats,
                ": must be in [1, 2^40]");
  }
  if (config.bytes) {
    const std::int64_t n_bytes = parse_bytes(*config.bytes);
    ROAST_CHECK(n_bytes >= 4 && n_bytes / 4 <= kMaxMemoryFloats, "memory.bytes = \"", *config.bytes, "\" is ",
                n_bytes, " bytes: must hold between 1 and 2^40 floats (4 bytes each)");
  }
  ROAST_CHECK(config.tile_rows >= 1 && config.tile_cols >= 1 &&
                  std::int64_t(config.tile_rows) * config.tile_cols <= (std::int64_t(1) << 24),
              "memory.tile: must be two positive integers with a product of at most 2^24, got [", config.tile_rows,
              ", ", config.tile_cols, "]. Example: [32, 64]");
  ROAST_CHECK(config.embedding_chunk >= 1 && config.embedding_chunk <= (1 << 24),
              "memory.embedding_chunk: must be a positive integer (at most 2^24), got ", config.embedding_chunk,
              ". Example: 32");
  ROAST_CHECK(std::isfinite(config.init_scale) && config.init_scale > 0, "memory.init_scale: must be > 0, got ",
              config.init_scale, ". Example: 0.05");
  ROAST_CHECK(config.exact_threshold >= 0, "memory.exact_threshold: must be >= 0 elements, got ",
              config.exact_threshold, ". Example: 4096");
  ROAST_CHECK(!(config.scheme == Scheme::hashednet && config.placement == Placement::fold),
              "memory.mapping = fold: scheme hashednet has no tiles to fold; fold applies to roast and roast-local "
              "(use memory.mapping = \"hash\" with hashednet)");
  ROAST_CHECK(!(config.scheme == Scheme::hashednet && config.sign_mode == SignMode::tile),
              "memory.sign = tile: scheme hashednet has no tiles (each weight is hashed alone); use element or none");
}

SignMode resolved_sign_mode(const MemoryConfig& config) {
  if (config.scheme == Scheme::dense) return SignMode::none;
  if (config.sign_mode) return *config.sign_mode;
  return scheme_registry().at(scheme_name(config.scheme), "memory.scheme").default_sign;
}

std::string budget_text(const MemoryConfig& config) {
  std::ostringstream out;
  if (config.compression) out << "memory.compression = " << *config.compression;
  else if (config.floats) out << "memory.floats = " << *config.floats;
  else if (config.bytes) out << "memory.bytes = \"" << *config.bytes << "\"";
  else out << "memory.scheme = " << scheme_name(config.scheme);
  return out.str();
}

std::int64_t budget_floats(const MemoryConfig& config, std::int64_t n_virtual) {
  if (config.compression) {
    const long double m = std::ceil((long double)n_virtual / (long double)*config.compression);
    return m < 1 ? 1 : std::int64_t(m);
  }
  if (config.floats) return *config.floats;
  if (config.bytes) return parse_bytes(*config.bytes) / 4;
  return n_virtual;
}

std::string budget_fix(const MemoryConfig& config, std::int64_t min_floats, std::int64_t n_virtual) {
  std::ostringstream out;
  if (min_floats > n_virtual) {
    out << "no budget fits (the model has only " << n_virtual << " virtual parameters but needs " << min_floats
        << " cells): use memory.scheme = dense";
  } else if (config.compression) {
    out << "lower memory.compression to at most " << round_down_3(double(n_virtual) / double(min_floats));
  } else if (config.floats) {
    out << "raise memory.floats to at least " << min_floats;
  } else {
    out << "raise memory.bytes to at least " << min_floats * 4 << " bytes";
  }
  return out.str();
}

}  // namespace memory_detail
}  // namespace roast
