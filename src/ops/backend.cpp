#include "roast/backend.h"

#include "roast/error.h"

namespace roast {

Precision parse_precision(const std::string& text) {
  if (text == "fp32") return Precision::fp32;
  if (text == "tf32") return Precision::tf32;
  fail("unknown precision \"", text, "\"; valid: \"fp32\", \"tf32\"");
}

const char* precision_name(Precision p) { return p == Precision::tf32 ? "tf32" : "fp32"; }

}  // namespace roast
