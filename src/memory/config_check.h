// Memory config validation shared by the planner; engine code only.
#pragma once

#include <cstdint>
#include <string>

#include "roast/plan.h"

namespace roast {
namespace memory_detail {

// Throws roast::Error for any invalid value (names the memory.* key, the value, the fix).
// Does not judge the budget against the model; the planner does that.
void validate_config(const MemoryConfig& config);

// The sign mode the config resolves to for its scheme (unset: tile for tiled schemes,
// element for hashednet, none for dense).
SignMode resolved_sign_mode(const MemoryConfig& config);

// The budget as the user wrote it, e.g. "memory.compression = 1000" or
// "memory.bytes = \"4MB\"".
std::string budget_text(const MemoryConfig& config);

// The memory size m a hashed-scheme budget asks for, given n virtual parameters:
// ceil(n / compression), floats, or bytes / 4.
std::int64_t budget_floats(const MemoryConfig& config, std::int64_t n_virtual);

// What to change so that the memory holds at least min_floats cells of n_virtual.
std::string budget_fix(const MemoryConfig& config, std::int64_t min_floats, std::int64_t n_virtual);

}  // namespace memory_detail
}  // namespace roast
