// Memory schemes by name: what memory.scheme may say. Engine code; the list is registered in
// one place (memory/config.cpp). A scheme's mapping itself is part of the planner and the
// kernels (mapping.h), so a new scheme needs code there too.
#pragma once

#include <string>

#include "roast/plan.h"
#include "roast/registry.h"

namespace roast {

struct SchemeType {
  std::string name;
  Scheme scheme = Scheme::roast;
  std::string description;
  // Config defaults: memory.compression when no budget is given, and memory.sign.
  double default_compression = 10.0;
  SignMode default_sign = SignMode::tile;
};
const Registry<SchemeType>& scheme_registry();

}  // namespace roast
