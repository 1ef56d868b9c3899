// The one dispatch point of every op: ROAST_KERNEL(device, fn, args...) calls
// kernels::cpu::fn(args...) for a CPU device and kernels::cuda::fn(args...) (same signature,
// declared in kernels/cuda/*.h) for a CUDA device. In builds without the CUDA backend a CUDA
// tensor cannot exist (its allocation already fails), and the CUDA branch says so clearly.
#pragma once

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/nn_kernels.h"
#include "ops/internal.h"
#include "roast/config.h"
#if ROAST_WITH_CUDA
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/nn_kernels.h"
#endif

#if ROAST_WITH_CUDA
#define ROAST_KERNEL(device, fn, ...) \
  ((device).is_cpu() ? ::roast::kernels::cpu::fn(__VA_ARGS__) : ::roast::kernels::cuda::fn(__VA_ARGS__))
#else
#define ROAST_KERNEL(device, fn, ...) \
  ((device).is_cpu() ? ::roast::kernels::cpu::fn(__VA_ARGS__) \
                     : (::roast::ops::no_cuda_kernel(#fn), ::roast::kernels::cpu::fn(__VA_ARGS__)))
#endif
