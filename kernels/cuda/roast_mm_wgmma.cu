// ROAST-MM on Hopper tensor cores (wgmma, sm_90a), TF32: forward and dX.
//
// Both products are computed transposed, so that W is the MMA's A operand and comes straight
// from the memory into registers, and the plain operand (X or dY) is B, in shared memory:
//   pass 0 (forward)  Y^T [N x M]  = W^T [N x K] * X^T [K x M]
//   pass 1 (dX)       dX^T [K x M] = W [K x N]   * dY^T [N x M]
// Shared memory then only ever holds rows of X / dY (the reduction dimension contiguous, as
// TF32 wgmma requires), copied 16 bytes at a time (cp.async) into 128-byte rows with the
// 128-byte swizzle; W is never transposed through shared memory, and its tile sign is one XOR
// of the sign bit per register. (W's tile starts are not 16-byte aligned, so its elements are
// read 4 bytes at a time either way; in registers that is one load per element.)
//
// A block of 256 threads (two warpgroups) computes 128 W-rows (n for the forward, k for dX)
// x MT rows of X / dY (128, or 256 when the grid stays full), one m64nMTk8 MMA per warpgroup
// and 8-deep slice, in steps of 32 along the reduction. X / dY go through a ring of four
// shared-memory stages; each thread's W fragments rotate through three register sets, loaded
// two steps ahead of the MMAs that read them (the tile lookup one step before that). The MMA
// reads the fp32 bits as TF32 (the low mantissa bits are ignored: truncation, within the TF32
// tolerance; tested). The epilogue writes Y / dX through shared memory in coalesced rows.
// (MT = 256 needs every register: ptxas spills ~190 bytes per thread there.)
//
// Where the time goes (H100, ncu, 4096^3 forward): 0.69 ms under the profiler, 2.1 GB from L2
// at 3.1 TB/s (32% of its peak; cuBLAS: 2.4 GB at 5.7 TB/s), SM throughput 51%, warps
// waiting on the 4-byte W loads. A fragment register spans 4 reduction indices, so each load
// instruction touches 4 tile rows (4-8 cache lines); timing-only builds with one line per
// instruction ran at 0.92x of cuBLAS (512 x 4096^2), so those loads are the gap. Warp
// specialisation, X / dY multicast and W through shared memory were measured and were not
// faster (docs/benchmarks.md, "Tried and not kept").
//
// Fast-path conditions (else the caller runs the mma.sync / FMA kernels): TF32 precision, a
// device and binary with sm_90a, per-tile (or no) signs, the plain operand's rows a multiple
// of 4 floats on a 16-byte aligned base, and W's tiles covering whole steps: tile_rows % 32 == 0
// and tile_cols % 64 (forward) or % 32 (dX) == 0. The default 32 x 64 tiles qualify.
#include <cuda_runtime.h>

#include <cstdint>
#include <mutex>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/roast_mm_tiled.cuh"
#include "roast/backend.h"

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define ROAST_MM_WGMMA 1
#endif

namespace roast {
namespace kernels {
namespace cuda {
namespace rmm {
namespace {

constexpr int kWRows = 128, kBK = 32, kThreads = 256, kStages = 4;

template <int MT>
constexpr int smem_bytes() {
  return kStages * MT * kBK * int(sizeof(float)) + 1024;  // + room to align the ring to 1024 B
}

#if defined(ROAST_MM_WGMMA)  // the device code below exists only in the sm_90a compilation

// Float offset of element (row, k) of a stage: 128-byte rows, the 16-byte chunk index XORed
// with row % 8 (the 128-byte swizzle; stages are 1024-byte aligned).
__device__ __forceinline__ int swz(int row, int k) { return row * kBK + ((((k >> 2) ^ (row & 7))) << 2) + (k & 3); }

// Shared-memory matrix descriptor: start address, leading offset (unused with this swizzle),
// stride 1024 B between groups of 8 rows, 128-byte swizzle.
__device__ __forceinline__ std::uint64_t smem_desc(const float* p) {
  const std::uint32_t a = static_cast<std::uint32_t>(__cvta_generic_to_shared(p));
  return std::uint64_t((a & 0x3FFFF) >> 4) | (std::uint64_t(1) << 16) | (std::uint64_t(1024 >> 4) << 32) |
         (std::uint64_t(1) << 62);
}

__device__ __forceinline__ void wgmma_m64n128k8(float (&d)[64], const std::uint32_t (&a)[16], int s8, std::uint64_t b) {
  asm volatile(
      "wgmma.mma_async.sync.aligned.m64n128k8.f32.tf32.tf32 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, {%64, %65, %66, %67}, %68, 1, 1, 1;\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
      : "r"(a[4 * s8]), "r"(a[4 * s8 + 1]), "r"(a[4 * s8 + 2]), "r"(a[4 * s8 + 3]), "l"(b));
}
__device__ __forceinline__ void wgmma_m64n256k8(float (&d)[128], const std::uint32_t (&a)[16], int s8, std::uint64_t b) {
  asm volatile(
      "wgmma.mma_async.sync.aligned.m64n256k8.f32.tf32.tf32 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, %64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, %80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, %96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, %112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127}, {%128, %129, %130, %131}, %132, 1, 1, 1;\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63]), "+f"(d[64]), "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), "+f"(d[70]), "+f"(d[71]), "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]), "+f"(d[77]), "+f"(d[78]), "+f"(d[79]), "+f"(d[80]), "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), "+f"(d[84]), "+f"(d[85]), "+f"(d[86]), "+f"(d[87]), "+f"(d[88]), "+f"(d[89]), "+f"(d[90]), "+f"(d[91]), "+f"(d[92]), "+f"(d[93]), "+f"(d[94]), "+f"(d[95]), "+f"(d[96]), "+f"(d[97]), "+f"(d[98]), "+f"(d[99]), "+f"(d[100]), "+f"(d[101]), "+f"(d[102]), "+f"(d[103]), "+f"(d[104]), "+f"(d[105]), "+f"(d[106]), "+f"(d[107]), "+f"(d[108]), "+f"(d[109]), "+f"(d[110]), "+f"(d[111]), "+f"(d[112]), "+f"(d[113]), "+f"(d[114]), "+f"(d[115]), "+f"(d[116]), "+f"(d[117]), "+f"(d[118]), "+f"(d[119]), "+f"(d[120]), "+f"(d[121]), "+f"(d[122]), "+f"(d[123]), "+f"(d[124]), "+f"(d[125]), "+f"(d[126]), "+f"(d[127])
      : "r"(a[4 * s8]), "r"(a[4 * s8 + 1]), "r"(a[4 * s8 + 2]), "r"(a[4 * s8 + 3]), "l"(b));
}
template <int MT>
__device__ __forceinline__ void wgmma_step(float (&d)[MT / 2], const std::uint32_t (&a)[16], int s8, std::uint64_t b) {
  if constexpr (MT == 128) wgmma_m64n128k8(d, a, s8, b);
  else wgmma_m64n256k8(d, a, s8, b);
}
__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void wgmma_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
// Keeps the compiler from moving register accesses across the asynchronous MMAs.
template <int N>
__device__ __forceinline__ void fence_registers(float (&d)[N]) {
#pragma unroll
  for (int i = 0; i < N; ++i) asm volatile("" : "+f"(d[i])::"memory");
}
__device__ __forceinline__ void fence_registers(std::uint32_t (&a)[16]) {
#pragma unroll
  for (int i = 0; i < 16; ++i) asm volatile("" : "+r"(a[i])::"memory");
}
// Makes the landed copies visible to the MMAs (the async proxy).
__device__ __forceinline__ void fence_proxy_async() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }

// Accumulator e of this thread as (row of Y / dX, column): the MMA's rows are W-rows (the
// output's columns), its columns the output's rows.
struct TransposedLayout {
  __device__ __forceinline__ static void coord(int e, int* row, int* col) {
    const int t = threadIdx.x, lane = t % 32;
    *col = (t / 128) * 64 + ((t % 128) / 32) * 16 + lane / 4 + ((e & 2) ? 8 : 0);
    *row = (e / 4) * 8 + (lane % 4) * 2 + (e & 1);
  }
};

// This thread's W fragments of one step (4 slices x 4 registers; register 4 s + e of slice s
// is W-row r + 8 (e & 1), reduction index 8 s + 4 (e >> 1) + lane % 4, with r = the warp's
// first W-row + lane / 4) and their tile sign. The step's 32 reduction indices and the warp's
// 16 W-rows lie in one tile, looked up a step before the fragments are loaded (lookup() only
// issues the table read: nothing waits for it until load()).
struct TileRef {
  TileInfo tile;
  std::uint32_t within;  // this thread's first element, relative to the tile's start
};

template <int PASS>
struct WFragments {
  const Operands& op;
  int r;     // this thread's first W-row (n for pass 0, k for pass 1)
  int rows;  // W-rows in all (N or K)
  int red;   // the reduction length (K or N)

  __device__ __forceinline__ TileRef lookup(int k0) const {
    const WeightView& w = op.w;
    const int q = threadIdx.x % 4;
    std::uint32_t tr, tc;
    TileRef ref;
    if (PASS == 0) {  // W[k][n]: W-row n, reduction k
      tr = w.div_rows.div(std::uint32_t(k0));
      tc = w.div_cols.div(std::uint32_t(r < rows ? r : 0));
      ref.within = (std::uint32_t(k0) - tr * w.tile_rows + q) * w.tile_cols + (std::uint32_t(r) - tc * w.tile_cols);
    } else {          // W[k][n]: W-row k, reduction n
      tr = w.div_rows.div(std::uint32_t(r < rows ? r : 0));
      tc = w.div_cols.div(std::uint32_t(k0));
      ref.within = (std::uint32_t(r) - tr * w.tile_rows) * w.tile_cols + (std::uint32_t(k0) - tc * w.tile_cols) + q;
    }
    ref.tile = w.tiles[std::int64_t(tr) * w.n_tile_cols + tc];
    return ref;
  }

  __device__ __forceinline__ void load(int k0, const TileRef& ref, std::uint32_t (&f)[16], std::uint32_t* sign) const {
    const WeightView& w = op.w;
    const int q = threadIdx.x % 4;
    const std::uint32_t stride_e1 = PASS == 0 ? 8 : 8 * w.tile_cols, stride_e2 = PASS == 0 ? 4 * w.tile_cols : 4;
    const std::uint32_t stride_s = PASS == 0 ? 8 * w.tile_cols : 8;
    *sign = (w.sign == kTileSign && (ref.tile.sign_hash >> 63)) ? 0x80000000u : 0u;
    const float* base = op.memory + ref.tile.start + ref.within;
    if (r + 8 < rows && k0 + kBK <= red) {  // the usual case: no bounds checks
#pragma unroll
      for (int s = 0; s < 4; ++s) {
        const float* p = base + s * stride_s;
        f[4 * s] = __float_as_uint(__ldg(p));
        f[4 * s + 1] = __float_as_uint(__ldg(p + stride_e1));
        f[4 * s + 2] = __float_as_uint(__ldg(p + stride_e2));
        f[4 * s + 3] = __float_as_uint(__ldg(p + stride_e1 + stride_e2));
      }
      return;
    }
#pragma unroll
    for (int s = 0; s < 4; ++s)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const bool valid = r + 8 * (e & 1) < rows && k0 + 8 * s + 4 * (e >> 1) + q < red;
        f[4 * s + e] = valid ? __float_as_uint(__ldg(base + s * stride_s + (e & 1) * stride_e1 + (e >> 1) * stride_e2)) : 0u;
      }
  }
};

template <int PASS, int MT>
__global__ void __launch_bounds__(kThreads, 1) wgmma_kernel(Operands op) {
  extern __shared__ unsigned char smem_raw[];
  float* smem = reinterpret_cast<float*>((reinterpret_cast<std::uintptr_t>(smem_raw) + 1023) & ~std::uintptr_t(1023));
  constexpr int kStageFloats = MT * kBK;
  const int t = threadIdx.x, lane = t % 32;
  // 32-bit indices: has_view() keeps K and N below 2^31, and wgmma_gemm() M * (K or N).
  const int red = int(PASS == 0 ? op.K : op.N);    // reduction length
  const int wrows = int(PASS == 0 ? op.N : op.K);  // W-rows (the output's columns)
  const int M = int(op.M);
  const float* __restrict__ P = PASS == 0 ? op.X : op.dY;  // the plain operand, M x red
  const int m0 = int(blockIdx.y) * MT, w0 = int(blockIdx.x) * kWRows;
  const int steps = (red + kBK - 1) / kBK;
  const WFragments<PASS> frags{op, w0 + (t / 128) * 64 + ((t % 128) / 32) * 16 + lane / 4, wrows, red};

  // Rows m0 .. m0 + MT - 1 of P, reduction k0 .. k0 + 31, into stage `step % kStages`.
  // (Rows row + 32 i share row's swizzle: their offsets differ by constants.)
  const int row0 = t / 8, ch = t % 8;
  const float* __restrict__ src0 = P + std::int64_t(m0 + row0) * red + 4 * ch;
  auto copy_p = [&](int step) {
    float* S = smem + (step % kStages) * kStageFloats + swz(row0, 4 * ch);
    const int k0 = step * kBK;
    if (m0 + MT <= M && k0 + kBK <= red) {
#pragma unroll
      for (int i = 0; i < MT / 32; ++i) cp_async16(S + 32 * i * kBK, src0 + std::int64_t(32 * i) * red + k0, 16);
      return;
    }
#pragma unroll
    for (int i = 0; i < MT / 32; ++i) {
      const int r = m0 + row0 + 32 * i, c = k0 + 4 * ch;
      const int n = r < M ? max(0, min(4, red - c)) : 0;
      cp_async16(S + 32 * i * kBK, n > 0 ? src0 + std::int64_t(32 * i) * red + k0 : P, n * 4);
    }
  };

  float acc[MT / 2];
#pragma unroll
  for (int e = 0; e < MT / 2; ++e) acc[e] = 0.0f;
  std::uint32_t f0[16], f1[16], f2[16], s0 = 0, s1 = 0, s2 = 0;
#pragma unroll
  for (int s = 0; s < kStages - 2; ++s) {
    if (s < steps) copy_p(s);
    cp_async_commit();
  }
  frags.load(0, frags.lookup(0), f0, &s0);
  if (steps > 1) frags.load(kBK, frags.lookup(kBK), f1, &s1);
  TileRef ahead = frags.lookup(steps > 2 ? 2 * kBK : 0);  // the tile of step + 2

  // One step: MMAs on `cur` (loaded two steps earlier), then the fragments of step + 2 into
  // `later` once the MMAs that read it (step - 1) have finished, and the tile of step + 3.
  auto step_with = [&](int step, std::uint32_t(&cur)[16], std::uint32_t cs, std::uint32_t(&later)[16],
                       std::uint32_t* ls) {
    cp_async_wait<kStages - 3>();
    fence_proxy_async();
    __syncthreads();  // stage `step` has landed everywhere; every MMA of step - 2 has finished
    if (step + kStages - 2 < steps) copy_p(step + kStages - 2);
    cp_async_commit();
#pragma unroll
    for (int i = 0; i < 16; ++i) cur[i] ^= cs;
    fence_registers(cur);
    const std::uint64_t b = smem_desc(smem + int(step % kStages) * kStageFloats);
    wgmma_fence();
#pragma unroll
    for (int s8 = 0; s8 < kBK / 8; ++s8) wgmma_step<MT>(acc, cur, s8, b + 2 * s8);  // +32 bytes per slice
    wgmma_commit();
    wgmma_wait<1>();
    fence_registers(acc);
    fence_registers(later);
    if (step + 2 < steps) frags.load((step + 2) * kBK, ahead, later, ls);
    if (step + 3 < steps) ahead = frags.lookup((step + 3) * kBK);
  };
  for (int step = 0; step < steps; step += 3) {
    step_with(step, f0, s0, f2, &s2);
    if (step + 1 < steps) step_with(step + 1, f1, s1, f0, &s0);
    if (step + 2 < steps) step_with(step + 2, f2, s2, f1, &s1);
  }
  wgmma_wait<0>();
  fence_registers(acc);
  cp_async_wait<0>();
  __syncthreads();
  epilogue<PASS, TransposedLayout, kThreads, MT / 2, MT>(op, acc, m0, w0, smem);
}

#else  // no sm_90a code: the kernel exists for the host's launch code only

template <int PASS, int MT>
__global__ void wgmma_kernel(Operands op) {
  (void)op;
}

#endif  // ROAST_MM_WGMMA

__global__ void probe_kernel(int* out) {
#if defined(ROAST_MM_WGMMA)
  *out = 1;
#else
  *out = 0;
#endif
}

// Whether the current device runs this file's sm_90a code (asked once per device).
bool wgmma_runs_here() {
  static std::mutex mutex;
  static int known[64];  // 0 unknown, 1 yes, 2 no
  int device = 0;
  check(cudaGetDevice(&device), "cudaGetDevice");
  std::lock_guard<std::mutex> lock(mutex);
  if (device < 0 || device >= 64) return false;
  if (known[device] == 0) {
    int* flag = nullptr;
    int host = 0;
    check(cudaMalloc(&flag, sizeof(int)), "cudaMalloc (wgmma probe)");
    probe_kernel<<<1, 1, 0, stream()>>>(flag);
    check_launch("roast_mm wgmma probe");
    check(cudaMemcpyAsync(&host, flag, sizeof(int), cudaMemcpyDeviceToHost, stream()), "cudaMemcpyAsync (probe)");
    check(cudaStreamSynchronize(stream()), "cudaStreamSynchronize (probe)");
    check(cudaFree(flag), "cudaFree (wgmma probe)");
    known[device] = host == 1 ? 1 : 2;
  }
  return known[device] == 1;
}

bool aligned16(const float* p, std::int64_t ld) {
  return p != nullptr && ld % 4 == 0 && reinterpret_cast<std::uintptr_t>(p) % 16 == 0;
}

template <int PASS, int MT>
void launch(const Operands& op) {
  static const bool attribute_set = [] {
    check(cudaFuncSetAttribute(wgmma_kernel<PASS, MT>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem_bytes<MT>()),
          "cudaFuncSetAttribute (roast_mm wgmma)");
    return true;
  }();
  (void)attribute_set;
  const std::int64_t wrows = PASS == 0 ? op.N : op.K;
  const dim3 grid(unsigned((wrows + kWRows - 1) / kWRows), unsigned((op.M + MT - 1) / MT));
  wgmma_kernel<PASS, MT><<<grid, kThreads, smem_bytes<MT>(), stream()>>>(op);
  check_launch("roast_mm wgmma kernel");
}

template <int PASS>
void launch_pass(const Operands& op) {
  // 256 rows of X / dY per block when that still gives every SM a block, else 128 (measured on
  // the H100: 4096^3 forward 0.57 ms with 256, 0.85 ms with 128; 512 x 4096^2 0.106 ms with 128).
  int device = 0, sms = 0;
  check(cudaGetDevice(&device), "cudaGetDevice");
  check(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device), "cudaDeviceGetAttribute");
  const std::int64_t wblocks = ((PASS == 0 ? op.N : op.K) + kWRows - 1) / kWRows;
  if (wblocks * ((op.M + 255) / 256) >= sms) launch<PASS, 256>(op);
  else launch<PASS, 128>(op);
}

}  // namespace

bool wgmma_gemm(const Operands& op) {
  if (op.pass == 2 || roast::precision() != Precision::tf32) return false;
  const WeightView& w = op.w;
  if (w.sign == kElementSign || w.tile_rows % kBK != 0) return false;
  if (op.pass == 0 && !(w.tile_cols % 64 == 0 && aligned16(op.X, op.K))) return false;
  if (op.pass == 1 && !(w.tile_cols % kBK == 0 && aligned16(op.dY, op.N))) return false;
  const std::int64_t limit = std::int64_t(1) << 31;
  if (op.M >= limit || op.M * (op.pass == 0 ? op.K : op.N) >= limit || (op.M + 127) / 128 > 65535) return false;
  if (!wgmma_runs_here()) return false;
  if (op.pass == 0) launch_pass<0>(op);
  else launch_pass<1>(op);
  return true;
}

}  // namespace rmm
}  // namespace cuda
}  // namespace kernels
}  // namespace roast
