#include "roast/backend.h"

#include "roast/error.h"

namespace roast {

Precision parse_precision(const std::string& text) {
  if (text == "fp32") return Precision::fp32;
  if (text == "tf32") return Precision::tf32;
  if (text == "bf16") return Precision::bf16;
  fail("unknown precision \"", text, "\"; valid: \"fp32\", \"tf32\", \"bf16\"");
}

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::tf32: return "tf32";
    case Precision::bf16: return "bf16";
    case Precision::fp32: break;
  }
  return "fp32";
}

}  // namespace roast
