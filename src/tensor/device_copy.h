// Byte copies between devices; the CUDA side exists only in builds with the backend.
#pragma once

#include <cstddef>

#include "roast/tensor.h"

namespace roast {

void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, std::size_t n_bytes);
void fill_bytes_zero(void* dst, Device device, std::size_t n_bytes);

}  // namespace roast
