// ROAST-MM on Hopper tensor cores (wgmma, sm_90a): forward and dX, in TF32, and in fp32 as
// three TF32 products (3xTF32: both operands split into TF32 high and low parts, see
// mma_3xtf32 in roast_mm_tiled.cuh; X / dY's low parts in a second shared-memory ring, W's in
// registers; each step's sum started from zero and added in fp32, see step_sum).
//
// Both products are computed transposed, so that W is the MMA's A operand, held in registers
// (W's tile starts are not 16-byte aligned, so its elements are read 4 bytes at a time), and
// the plain operand (X or dY) is B, in shared memory:
//   pass 0 (forward)  Y^T [N x M]  = W^T [N x K] * X^T [K x M]
//   pass 1 (dX)       dX^T [K x M] = W [K x N]   * dY^T [N x M]
// Shared memory holds rows of X / dY (the reduction dimension contiguous, as TF32 wgmma
// requires), copied 16 bytes at a time (cp.async) into 128-byte rows with the 128-byte
// swizzle, in a ring of four stages. Each tile's sign is one XOR of the sign bit per register.
//
// A block of 256 threads (two warpgroups) computes 128 W-rows (n for the forward, k for dX)
// x MT rows of X / dY (TF32: 128, or 256 when that, with the reduction split, fills the GPU as
// well; fp32: 128, as two rings of 256 rows would not fit), one m64nMTk8 MMA per warpgroup and 8-deep slice (three in fp32),
// in steps of 32 along the reduction. In TF32 the MMA reads the fp32 bits as TF32 (the low
// mantissa bits are ignored: truncation, within the TF32 tolerance; tested); fp32's parts are
// rounded (cvt.rna). The epilogue writes Y / dX through shared memory in coalesced rows. (MT = 256 needs every
// register: ptxas spills ~140-190 bytes per thread, in the epilogue.)
//
// How W reaches the registers differs, because a fragment register spans 4 reduction indices
// and 8 W-rows:
//   forward: straight from the memory (a warp's load touches 4 tile rows, 32 bytes each),
//            in three register sets loaded two steps ahead of the MMAs that read them;
//   dX:      a warp's load would touch 8 tile rows, 16 bytes each. W goes through shared
//            memory instead (WStages): runs of one tile row copied 16 bytes at a time, then
//            conflict-free 4-byte loads into two register sets.
// When a grid would leave SMs idle (few W-rows and rows of X / dY), the reduction is split
// over gridDim.z and the parts are summed in a fixed order: two parts as a cluster, in shared
// memory (sum_over_cluster), more through partial sums in global memory (add_chunks).
// Measured on the H100 (TF32, 512 x 4096^2, docs/benchmarks.md): staging W made dX 8% faster
// (0.133 -> 0.122 ms) and the forward 13% slower (0.106 -> 0.120 ms), so only dX stages it.
//
// Where the time goes (H100, ncu, 4096^3 forward): 0.69 ms under the profiler, 2.1 GB from L2
// at 3.1 TB/s (32% of its peak; cuBLAS: 2.4 GB at 5.7 TB/s), SM throughput 51%, warps
// waiting on the 4-byte W loads; timing-only builds with one cache line per load ran at 0.92x
// of cuBLAS (512 x 4096^2). Staged through shared memory, W's copies, stores and loads cost
// about what the direct loads do (a timing-only build without W's copies ran the forward at
// 0.085 ms). Warp specialisation, X / dY multicast and W as a shared-memory wgmma operand were
// measured and were not faster (docs/benchmarks.md, "Tried and not kept").
//
// Fast-path conditions (else the caller runs the mma.sync / FMA kernels): a device and binary
// with sm_90a, per-tile (or no) signs, the plain operand's rows a multiple
// of 4 floats on a 16-byte aligned base (and, for dX, the memory 16-byte aligned), and W's
// tiles covering whole steps: tile_rows % 32 == 0 and tile_cols % 64 (forward) or % 32 (dX)
// == 0. The default 32 x 64 tiles qualify.
#include <cooperative_groups.h>
#include <cuda_runtime.h>

#include <algorithm>
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

// dX's W ring (see WStages): 4608 floats per stage, plus four run starts and four words.
constexpr int kWStages = 4, kWStageFloats = 4608;

// The X / dY ring (+ room to align it to 1024 B), in fp32 a second ring for the low parts
// after it, and for dX W's ring after those.
template <int PASS, int MT, bool F32>
constexpr int smem_bytes() {
  return (F32 ? 2 : 1) * kStages * MT * kBK * int(sizeof(float)) + 1024 +
         (PASS == 1 ? kWStages * (kWStageFloats * int(sizeof(float)) + 48) : 0);
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

// d = A * B + (add ? d : 0): A is slice s8 of this thread's fragments, B the stage at descriptor b.
__device__ __forceinline__ void wgmma_m64n128k8(float (&d)[64], const std::uint32_t (&a)[16], int s8, std::uint64_t b,
                                                bool add) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k8.f32.tf32.tf32 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, {%64, %65, %66, %67}, %68, p, 1, 1;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
      : "r"(a[4 * s8]), "r"(a[4 * s8 + 1]), "r"(a[4 * s8 + 2]), "r"(a[4 * s8 + 3]), "l"(b), "r"(int(add)));
}
__device__ __forceinline__ void wgmma_m64n256k8(float (&d)[128], const std::uint32_t (&a)[16], int s8, std::uint64_t b,
                                                bool add) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %133, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n256k8.f32.tf32.tf32 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, %64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, %80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, %96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, %112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127}, {%128, %129, %130, %131}, %132, p, 1, 1;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63]), "+f"(d[64]), "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), "+f"(d[70]), "+f"(d[71]), "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]), "+f"(d[77]), "+f"(d[78]), "+f"(d[79]), "+f"(d[80]), "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), "+f"(d[84]), "+f"(d[85]), "+f"(d[86]), "+f"(d[87]), "+f"(d[88]), "+f"(d[89]), "+f"(d[90]), "+f"(d[91]), "+f"(d[92]), "+f"(d[93]), "+f"(d[94]), "+f"(d[95]), "+f"(d[96]), "+f"(d[97]), "+f"(d[98]), "+f"(d[99]), "+f"(d[100]), "+f"(d[101]), "+f"(d[102]), "+f"(d[103]), "+f"(d[104]), "+f"(d[105]), "+f"(d[106]), "+f"(d[107]), "+f"(d[108]), "+f"(d[109]), "+f"(d[110]), "+f"(d[111]), "+f"(d[112]), "+f"(d[113]), "+f"(d[114]), "+f"(d[115]), "+f"(d[116]), "+f"(d[117]), "+f"(d[118]), "+f"(d[119]), "+f"(d[120]), "+f"(d[121]), "+f"(d[122]), "+f"(d[123]), "+f"(d[124]), "+f"(d[125]), "+f"(d[126]), "+f"(d[127])
      : "r"(a[4 * s8]), "r"(a[4 * s8 + 1]), "r"(a[4 * s8 + 2]), "r"(a[4 * s8 + 3]), "l"(b), "r"(int(add)));
}
template <int MT>
__device__ __forceinline__ void wgmma_step(float (&d)[MT / 2], const std::uint32_t (&a)[16], int s8, std::uint64_t b,
                                           bool add = true) {
  if constexpr (MT == 128) wgmma_m64n128k8(d, a, s8, b, add);
  else wgmma_m64n256k8(d, a, s8, b, add);
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
// fp32: this thread's fragments split into TF32 high (in place) and low parts (3xTF32).
__device__ __forceinline__ void split_fragments(std::uint32_t (&hi)[16], std::uint32_t (&lo)[16]) {
#pragma unroll
  for (int i = 0; i < 16; ++i) split_tf32(hi[i], lo[i]);
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

// Rows m0 .. m0 + MT - 1 of the plain operand P (M x red), reduction indices 32 step ..
// 32 step + 31, into a stage; zeros past the ends. (Rows row + 32 i share row's swizzle: their
// offsets differ by constants.)
template <int MT>
struct PlainRows {
  const float* __restrict__ P;
  int M, red, m0, row0, ch;
  const float* __restrict__ src0;

  __device__ __forceinline__ PlainRows(const float* P_, int M_, int red_, int m0_)
      : P(P_), M(M_), red(red_), m0(m0_), row0(int(threadIdx.x) / 8), ch(int(threadIdx.x) % 8),
        src0(P_ + std::int64_t(m0_ + int(threadIdx.x) / 8) * red_ + 4 * (int(threadIdx.x) % 8)) {}

  __device__ __forceinline__ void copy(float* stage, int step) const {
    float* S = stage + swz(row0, 4 * ch);
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
  }

  // fp32: this thread's own copies into `stage` (landed: after its cp_async_wait) split into
  // their TF32 high parts, in place, and low parts, at the same offsets of `lo`.
  __device__ __forceinline__ void split(float* stage, float* lo) const {
    const int at = swz(row0, 4 * ch);
#pragma unroll
    for (int i = 0; i < MT / 32; ++i) {
      float4* h = reinterpret_cast<float4*>(stage + at + 32 * i * kBK);
      float4 v = *h, l;
      split_tf32(v.x, l.x), split_tf32(v.y, l.y), split_tf32(v.z, l.z), split_tf32(v.w, l.w);
      *h = v;
      *reinterpret_cast<float4*>(lo + at + 32 * i * kBK) = l;
    }
  }
};

// MMAs of one step on the stage at `stage` (B) and this thread's fragments `a` (A), added to
// acc. fp32: `a` and `stage` hold the high parts, `a_lo` and `lo` the low parts, the small
// products go first, and the step's sum starts from zero (acc is overwritten; see
// step_sum).
template <int MT, bool F32>
__device__ __forceinline__ void mma_step(float (&acc)[MT / 2], std::uint32_t (&a)[16], std::uint32_t (&a_lo)[16],
                                         const float* stage, const float* lo) {
  fence_registers(a);
  if (F32) fence_registers(a_lo);
  const std::uint64_t b = smem_desc(stage), b_lo = F32 ? smem_desc(lo) : 0;
  wgmma_fence();
#pragma unroll
  for (int s8 = 0; s8 < kBK / 8; ++s8) {  // descriptors: +32 bytes per slice
    if (F32) {
      wgmma_step<MT>(acc, a_lo, s8, b + 2 * s8, s8 > 0);
      wgmma_step<MT>(acc, a, s8, b_lo + 2 * s8);
    }
    wgmma_step<MT>(acc, a, s8, b + 2 * s8);
  }
  wgmma_commit();
}

// fp32: the tensor cores round their sums toward zero, which over a long reduction adds a
// bias of up to an ulp per MMA. So each step's sum (32 reduction indices) starts from zero in
// `part` and is added to acc by round-to-nearest fp32 adds once its MMAs have finished.
// Measured on the H100 (forward, K = 2048, relative RMS error against fp64): one running sum
// 1.4e-5, 66x cuBLAS SGEMM's; step sums 2.8e-7, below SGEMM's 3.7e-7. Waiting for each step's
// MMAs costs 15% (512 x 4096^2: 0.213 -> 0.248 ms; SGEMM 0.385).
template <int NV>
__device__ __forceinline__ void step_sum(float (&acc)[NV], float (&part)[NV]) {
  wgmma_wait<0>();
  fence_registers(part);
#pragma unroll
  for (int e = 0; e < NV; ++e) acc[e] += part[e];
}

// The steps first .. steps - 1 of a reduction of `red` indices that block z of a split over
// gridDim.z runs (possibly none).
__device__ __forceinline__ void split_steps(int red, int* first, int* steps) {
  const int all = (red + kBK - 1) / kBK, per_split = (all + int(gridDim.z) - 1) / int(gridDim.z);
  *first = int(blockIdx.z) * per_split;
  *steps = min(all, *first + per_split);
}

// A reduction split over a cluster of the gridDim.z blocks of one output tile (launched with
// cluster dimensions 1 x 1 x gridDim.z): every block but the first leaves its sums in its
// shared memory (free once the MMAs and copies are done), and the first adds them in the
// order of z (as add_chunks would, bitwise). Returns whether this block writes the tile:
// without a cluster, every block writes its own part.
template <int NV>
__device__ __forceinline__ bool sum_over_cluster(float (&acc)[NV], float* smem) {
  namespace cg = cooperative_groups;
  cg::cluster_group cluster = cg::this_cluster();
  const unsigned n = cluster.num_blocks();
  if (n == 1) return true;
  const unsigned rank = cluster.block_rank();
  if (rank != 0) {
#pragma unroll
    for (int e = 0; e < NV; ++e) smem[e * kThreads + threadIdx.x] = acc[e];
  }
  cluster.sync();
  if (rank == 0)
    for (unsigned r = 1; r < n; ++r) {
      const float* remote = cluster.map_shared_rank(smem, r);
#pragma unroll
      for (int e = 0; e < NV; ++e) acc[e] += remote[e * kThreads + threadIdx.x];
    }
  cluster.sync();  // the others' shared memory stays until the first has read it
  return rank == 0;
}

// The operands the epilogue writes through: op itself, or when the reduction is split
// (gridDim.z > 1) without a cluster, block z's partial sums (n results each, without lambda)
// at op.out + z * n. (A copy: writing op itself would move the kernel's parameters to local
// memory.)
__device__ __forceinline__ Operands partial_sums(const Operands& op, std::int64_t n) {
  Operands result = op;
  if (gridDim.z > 1 && cooperative_groups::this_cluster().num_blocks() == 1) {
    result.out += std::int64_t(blockIdx.z) * n;
    result.w.lambda = 1.0f;
  }
  return result;
}

// One step's MMAs on this thread's fragments `cur` and the stage, added to acc. TF32: returns
// once the MMAs of the step before have finished (their registers may then be reloaded). fp32:
// splits `cur` (high parts in place, low parts in `lo`), sums the step in `part` and adds it
// to acc once all its MMAs have finished.
template <int MT, bool F32>
__device__ __forceinline__ void run_step(float (&acc)[MT / 2], float (&part)[F32 ? MT / 2 : 1],
                                         std::uint32_t (&cur)[16], std::uint32_t (&lo)[16], const float* stage,
                                         const float* lo_stage) {
  if constexpr (F32) {
    split_fragments(cur, lo);
    mma_step<MT, true>(part, cur, lo, stage, lo_stage);
    step_sum(acc, part);
  } else {
    mma_step<MT, false>(acc, cur, lo, stage, nullptr);
    wgmma_wait<1>();
    fence_registers(acc);
  }
}

// ---- forward: W straight from the memory --------------------------------------------------

// This thread's W fragments of one forward step (4 slices x 4 registers; register 4 s + e of
// slice s is W-row (n) r + 8 (e & 1), reduction index (k) 8 s + 4 (e >> 1) + lane % 4, with
// r = the warp's first W-row + lane / 4) and their tile sign. The step's 32 reduction indices
// and the warp's 16 W-rows lie in one tile, looked up a step before the fragments are loaded
// (lookup() only issues the table read: nothing waits for it until load()).
struct TileRef {
  TileInfo tile;
  std::uint32_t within;  // this thread's first element, relative to the tile's start
};

struct WFragments {
  const Operands& op;
  int r;  // this thread's first W-row

  __device__ __forceinline__ TileRef lookup(int k0) const {
    const WeightView& w = op.w;
    const int q = threadIdx.x % 4;
    const std::uint32_t tr = w.div_rows.div(std::uint32_t(k0)), tc = w.div_cols.div(std::uint32_t(r < op.N ? r : 0));
    TileRef ref;
    ref.within = (std::uint32_t(k0) - tr * w.tile_rows + q) * w.tile_cols + (std::uint32_t(r) - tc * w.tile_cols);
    ref.tile = w.tiles[std::int64_t(tr) * w.n_tile_cols + tc];
    return ref;
  }

  __device__ __forceinline__ void load(int k0, const TileRef& ref, std::uint32_t (&f)[16], std::uint32_t* sign) const {
    const WeightView& w = op.w;
    const int q = threadIdx.x % 4;
    const std::uint32_t stride_e2 = 4 * w.tile_cols, stride_s = 8 * w.tile_cols;  // stride_e1 = 8
    *sign = (w.sign == kTileSign && (ref.tile.sign_hash >> 63)) ? 0x80000000u : 0u;
    const float* base = op.memory + ref.tile.start + ref.within;
    if (r + 8 < op.N && k0 + kBK <= op.K) {  // the usual case: no bounds checks
#pragma unroll
      for (int s = 0; s < 4; ++s) {
        const float* p = base + s * stride_s;
        f[4 * s] = __float_as_uint(__ldg(p));
        f[4 * s + 1] = __float_as_uint(__ldg(p + 8));
        f[4 * s + 2] = __float_as_uint(__ldg(p + stride_e2));
        f[4 * s + 3] = __float_as_uint(__ldg(p + 8 + stride_e2));
      }
      return;
    }
#pragma unroll
    for (int s = 0; s < 4; ++s)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const bool valid = r + 8 * (e & 1) < op.N && k0 + 8 * s + 4 * (e >> 1) + q < op.K;
        f[4 * s + e] = valid ? __float_as_uint(__ldg(base + s * stride_s + (e & 1) * 8 + (e >> 1) * stride_e2)) : 0u;
      }
  }
};

template <int MT, bool F32>
__global__ void __launch_bounds__(kThreads, 1) forward_kernel(Operands op) {
  // gridDim.z > 1 splits the reduction, as in backward_input_kernel.
  extern __shared__ unsigned char smem_raw[];
  float* smem = reinterpret_cast<float*>((reinterpret_cast<std::uintptr_t>(smem_raw) + 1023) & ~std::uintptr_t(1023));
  constexpr int kStageFloats = MT * kBK;
  float* lo_ring = smem + kStages * kStageFloats;  // fp32: the low parts of X
  const int t = threadIdx.x, lane = t % 32;
  // 32-bit indices: has_view() keeps K and N below 2^31, and wgmma_gemm() M * K.
  const int K = int(op.K);
  const int m0 = int(blockIdx.y) * MT, w0 = int(blockIdx.x) * kWRows;
  int first, steps;  // this block's steps: first .. steps - 1
  split_steps(K, &first, &steps);
  const WFragments frags{op, w0 + (t / 128) * 64 + ((t % 128) / 32) * 16 + lane / 4};
  const PlainRows<MT> plain(op.X, int(op.M), K, m0);

  float acc[MT / 2];
#pragma unroll
  for (int e = 0; e < MT / 2; ++e) acc[e] = 0.0f;
  // Three register sets of W's fragments (fp32: split into high parts, in place, and low parts
  // in `lo` at the step that uses them).
  std::uint32_t f0[16], f1[16], f2[16], s0 = 0, s1 = 0, s2 = 0;
  // fp32: each step's sum (part) and the low parts of its fragments (lo).
  float part[F32 ? MT / 2 : 1];
  std::uint32_t lo[16];
#pragma unroll
  for (int s = first; s < first + kStages - 2; ++s) {
    if (s < steps) plain.copy(smem + (s % kStages) * kStageFloats, s);
    cp_async_commit();
  }
  // (A split may be empty: it then writes zeros. Lookups past K read step 0's tile, unused.)
  if (first < steps) frags.load(first * kBK, frags.lookup(first * kBK), f0, &s0);
  if (first + 1 < steps) frags.load((first + 1) * kBK, frags.lookup((first + 1) * kBK), f1, &s1);
  TileRef ahead = frags.lookup(first + 2 < steps ? (first + 2) * kBK : 0);  // the tile of step + 2

  // One step: MMAs on `cur` (loaded two steps earlier), then the fragments of step + 2 into
  // `later` once the MMAs that read it (step - 1) have finished, and the tile of step + 3.
  auto step_with = [&](int step, std::uint32_t(&cur)[16], std::uint32_t cs, std::uint32_t(&cur_lo)[16],
                       std::uint32_t(&later)[16], std::uint32_t* ls) {
    float* stage = smem + (step % kStages) * kStageFloats;
    cp_async_wait<kStages - 3>();
    if (F32) plain.split(stage, lo_ring + (step % kStages) * kStageFloats);
    fence_proxy_async();
    __syncthreads();  // stage `step` has landed everywhere; every MMA of step - 2 has finished
    if (step + kStages - 2 < steps) plain.copy(smem + ((step + kStages - 2) % kStages) * kStageFloats, step + kStages - 2);
    cp_async_commit();
#pragma unroll
    for (int i = 0; i < 16; ++i) cur[i] ^= cs;
    run_step<MT, F32>(acc, part, cur, cur_lo, stage, lo_ring + (step % kStages) * kStageFloats);
    fence_registers(later);
    if (step + 2 < steps) frags.load((step + 2) * kBK, ahead, later, ls);
    if (step + 3 < steps) ahead = frags.lookup((step + 3) * kBK);
  };
  for (int step = first; step < steps; step += 3) {
    step_with(step, f0, s0, lo, f2, &s2);
    if (step + 1 < steps) step_with(step + 1, f1, s1, lo, f0, &s0);
    if (step + 2 < steps) step_with(step + 2, f2, s2, lo, f1, &s1);
  }
  wgmma_wait<0>();
  fence_registers(acc);
  cp_async_wait<0>();
  __syncthreads();
  if (!sum_over_cluster(acc, smem)) return;
  epilogue<0, TransposedLayout, kThreads, MT / 2, MT>(partial_sums(op, op.M * op.N), acc, m0, w0, smem);
}

// ---- dX: W through shared memory ------------------------------------------------------------
//
// Each step's W block (128 W-rows k x 32 reduction indices n) is copied into shared memory as
// runs of one tile row (32 floats), 16 bytes per cp.async, and read from there into this
// thread's fragments with conflict-free 4-byte loads. Runs start anywhere, so each copy covers
// its run widened to 16-byte bounds (8 or 9 chunks) into a slot of 36 floats (rows 4 banks
// apart), and the run's offset in its slot is kept with the stage. The 32 runs of a band of
// 32 W-rows lie in one tile, so a band has one offset and one sign. The table reads run a
// step ahead of the copies: thread g < 4 reads band g's tile (fetch) and publishes its first
// run, offset and sign (publish) for the copies (issue) and loads (load) of later steps.
struct WStages {
  static constexpr int kRun = 32, kSlot = 36, kBands = 4;

  const Operands& op;
  float* ring;           // kWStages x kWStageFloats
  std::int64_t* starts;  // per stage and band: the memory cell of the band's first run
  std::uint32_t* info;   // per stage and band: run offset (bits 0-1), sign bit (bit 31)
  int w0;

  __device__ __forceinline__ bool has_band(int g) const { return w0 + 32 * g < op.K; }

  // Where band g's first run at step `step` lies: its tile's index in the table, and the
  // run's offset within the tile.
  __device__ __forceinline__ std::int64_t locate(int step, int g, std::int64_t* first) const {
    const WeightView& w = op.w;
    const std::uint32_t n0 = std::uint32_t(step * kBK), k0 = std::uint32_t(w0 + 32 * g);
    const std::uint32_t tr = w.div_rows.div(k0), tc = w.div_cols.div(n0);
    *first = std::int64_t(k0 - tr * w.tile_rows) * w.tile_cols + (n0 - tc * w.tile_cols);
    return std::int64_t(tr) * w.n_tile_cols + tc;
  }
  // Thread g: band g's table read for step `step`, a step before publish() needs it.
  __device__ __forceinline__ TileInfo fetch(int step, int g) const {
    std::int64_t first;
    return op.w.tiles[locate(step, g, &first)];
  }
  // Thread g: band g's first run, offset and sign for step `step`, read after the next barrier.
  __device__ __forceinline__ void publish(int step, int g, const TileInfo& tile) const {
    std::int64_t first;
    locate(step, g, &first);
    const std::int64_t start = tile.start + first;
    const int at = (step % kWStages) * 4 + g;
    starts[at] = start;
    info[at] = std::uint32_t(start & 3) | ((op.w.sign == kTileSign && (tile.sign_hash >> 63)) ? 0x80000000u : 0u);
  }

  // All threads: the copies of step `step` into its stage, in the caller's commit group.
  // Round j copies chunk t % 8 of run t / 8 + 32 j (band j); a fifth copies the 9th chunk of
  // the runs that straddle one more (only its floats of the run: none past the memory's end).
  // Bands wholly past the last W-row are skipped (their results are never stored).
  __device__ __forceinline__ void issue(int step) const {
    const int t = threadIdx.x, stage = step % kWStages;
    float* slots = ring + stage * kWStageFloats;
    const std::int64_t ld = op.w.tile_cols;
#pragma unroll
    for (int g = 0; g < kBands; ++g) {
      if (!has_band(g)) break;
      const int run = t / 8 + 32 * g, chunk = t % 8;
      const std::int64_t at = (starts[stage * 4 + g] & ~std::int64_t(3)) + (run % 32) * ld + 4 * chunk;
      cp_async16(slots + run * kSlot + 4 * chunk, op.memory + at, 16);
    }
    if (t < kBands * 32 && has_band(t / 32)) {
      const std::int64_t start = starts[stage * 4 + t / 32];
      const int tail = int(start & 3);  // the run's floats in its 9th chunk (read no further)
      if (tail) cp_async16(slots + t * kSlot + kRun, op.memory + (start & ~std::int64_t(3)) + (t % 32) * ld + kRun, 4 * tail);
    }
  }

  // This thread's fragments of step `step` (register 4 s + e of slice s is W-row (k) r +
  // 8 (e & 1), reduction index (n) 8 s + 4 (e >> 1) + lane % 4, with r = the warp's first
  // W-row + lane / 4), signed; reduction indices past N read 0.
  __device__ __forceinline__ void load(int step, std::uint32_t (&f)[16]) const {
    const int t = threadIdx.x, lane = t % 32, stage = step % kWStages;
    const int local = (t / 128) * 64 + ((t % 128) / 32) * 16 + lane / 4;  // W-row within the block
    const int q = lane % 4;
    const std::uint32_t word = info[stage * 4 + local / 32], sign = word & 0x80000000u;
    const float* base = ring + stage * kWStageFloats + int(word & 3u) + local * kSlot + q;
    const bool edge = (step + 1) * kBK > op.N;
#pragma unroll
    for (int s = 0; s < 4; ++s)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int red_off = 8 * s + 4 * (e >> 1);
        std::uint32_t v = __float_as_uint(base[8 * (e & 1) * kSlot + red_off]) ^ sign;
        if (edge && step * kBK + red_off + q >= op.N) v = 0u;
        f[4 * s + e] = v;
      }
  }
};

template <int MT, bool F32>
__global__ void __launch_bounds__(kThreads, 1) backward_input_kernel(Operands op) {
  // gridDim.z > 1 splits the reduction: block z runs its share of the steps and writes its
  // partial sums (without lambda) to op.out + z * M * K, summed in order afterwards.
  extern __shared__ unsigned char smem_raw[];
  float* smem = reinterpret_cast<float*>((reinterpret_cast<std::uintptr_t>(smem_raw) + 1023) & ~std::uintptr_t(1023));
  constexpr int kStageFloats = MT * kBK;
  float* lo_ring = smem + kStages * kStageFloats;  // fp32: the low parts of dY
  float* wring = lo_ring + (F32 ? kStages * kStageFloats : 0);
  std::int64_t* starts = reinterpret_cast<std::int64_t*>(wring + kWStages * kWStageFloats);
  std::uint32_t* info = reinterpret_cast<std::uint32_t*>(starts + kWStages * 4);
  const int t = threadIdx.x;
  // 32-bit indices: has_view() keeps K and N below 2^31, and wgmma_gemm() M * N.
  const int N = int(op.N);
  const int m0 = int(blockIdx.y) * MT, w0 = int(blockIdx.x) * kWRows;
  int first, steps;  // this block's steps: first .. steps - 1
  split_steps(N, &first, &steps);
  const WStages W{op, wring, starts, info, w0};
  const PlainRows<MT> plain(op.dY, int(op.M), N, m0);

  // Thread g < 4 publishes band g of step + 4 at step, from `pending`, read at step - 1.
  TileInfo pending{};
  if (t < WStages::kBands && W.has_band(t)) {
    for (int s = first; s < first + kWStages && s < steps; ++s) W.publish(s, t, W.fetch(s, t));
    if (first + kWStages < steps) pending = W.fetch(first + kWStages, t);
  }
  __syncthreads();
  float acc[MT / 2];
#pragma unroll
  for (int e = 0; e < MT / 2; ++e) acc[e] = 0.0f;
  // Commit group s holds dY of step s and W of step s + 1 (group 0 also W of step 0).
  if (first < steps) W.issue(first);  // (a split may be empty: it then writes zeros)
  for (int s = first; s < first + kStages - 2; ++s) {
    if (s < steps) plain.copy(smem + (s % kStages) * kStageFloats, s);
    if (s + 1 < steps) W.issue(s + 1);
    cp_async_commit();
  }
  std::uint32_t fa[16], fb[16], lo[16];  // fp32: high parts in fa / fb, low parts in lo
  float part[F32 ? MT / 2 : 1];          // fp32: each step's sum
  cp_async_wait<kStages - 3>();
  __syncthreads();
  if (first < steps) W.load(first, fa);

  // One step: MMAs on `cur` (loaded at the end of the previous step); once the MMAs of
  // step - 1 have finished with `next`, the copies of dY for step + 2 and of W for step + 3,
  // the tables of step + 4 and 5, and the fragments of step + 1.
  auto step_with = [&](int step, std::uint32_t(&cur)[16], std::uint32_t(&cur_lo)[16], std::uint32_t(&next)[16]) {
    float* stage = smem + (step % kStages) * kStageFloats;
    cp_async_wait<kStages - 3>();
    if (F32) plain.split(stage, lo_ring + (step % kStages) * kStageFloats);
    fence_proxy_async();
    __syncthreads();  // stage `step` has landed everywhere; every MMA of step - 2 has finished
    run_step<MT, F32>(acc, part, cur, cur_lo, stage, lo_ring + (step % kStages) * kStageFloats);
    fence_registers(next);
    if (step + kStages - 2 < steps) plain.copy(smem + ((step + kStages - 2) % kStages) * kStageFloats, step + kStages - 2);
    if (step + kStages - 1 < steps) W.issue(step + kStages - 1);
    cp_async_commit();
    if (t < WStages::kBands && W.has_band(t)) {
      if (step + kWStages < steps) W.publish(step + kWStages, t, pending);
      if (step + kWStages + 1 < steps) pending = W.fetch(step + kWStages + 1, t);
    }
    if (step + 1 < steps) W.load(step + 1, next);
  };
  for (int step = first; step < steps; step += 2) {
    step_with(step, fa, lo, fb);
    if (step + 1 < steps) step_with(step + 1, fb, lo, fa);
  }
  wgmma_wait<0>();
  fence_registers(acc);
  cp_async_wait<0>();
  __syncthreads();
  if (!sum_over_cluster(acc, smem)) return;
  epilogue<1, TransposedLayout, kThreads, MT / 2, MT>(partial_sums(op, op.M * op.K), acc, m0, w0, smem);
}

#else  // no sm_90a code: the kernels exist for the host's launch code only

template <int MT, bool F32>
__global__ void forward_kernel(Operands op) {
  (void)op;
}
template <int MT, bool F32>
__global__ void backward_input_kernel(Operands op) {
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

// Launches the kernel over `splits` parts of the reduction; `cluster`: the parts of an output
// tile as one cluster, summed in shared memory (sum_over_cluster).
template <int PASS, int MT, bool F32>
auto kernel_of() {
  void (*kernel)(Operands) = PASS == 0 ? forward_kernel<MT, F32> : backward_input_kernel<MT, F32>;
  static const bool attribute_set = [kernel] {
    check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem_bytes<PASS, MT, F32>()),
          "cudaFuncSetAttribute (roast_mm wgmma)");
    return true;
  }();
  (void)attribute_set;
  return kernel;
}

template <int PASS, int MT, bool F32>
void launch(const Operands& op, int splits = 1, bool cluster = false) {
  void (*kernel)(Operands) = kernel_of<PASS, MT, F32>();
  const std::int64_t wrows = PASS == 0 ? op.N : op.K;
  const dim3 grid(unsigned((wrows + kWRows - 1) / kWRows), unsigned((op.M + MT - 1) / MT), unsigned(splits));
  if (!cluster) {
    kernel<<<grid, kThreads, smem_bytes<PASS, MT, F32>(), stream()>>>(op);
    check_launch("roast_mm wgmma kernel");
    return;
  }
  cudaLaunchConfig_t config = {};
  config.gridDim = grid;
  config.blockDim = dim3(kThreads);
  config.dynamicSmemBytes = smem_bytes<PASS, MT, F32>();
  config.stream = stream();
  cudaLaunchAttribute attribute = {};
  attribute.id = cudaLaunchAttributeClusterDimension;
  attribute.val.clusterDim.x = 1;
  attribute.val.clusterDim.y = 1;
  attribute.val.clusterDim.z = unsigned(splits);
  config.attrs = &attribute;
  config.numAttrs = 1;
  check(cudaLaunchKernelEx(&config, kernel, op), "roast_mm wgmma kernel (cluster)");
}

// The largest cluster of blocks of the kernel that the device can run at once (one block per
// SM: bounded by the SMs of a GPC); asked once per kernel.
template <int PASS, int MT, bool F32>
int max_cluster() {
  static const int size = [] {
    void (*kernel)(Operands) = kernel_of<PASS, MT, F32>();
    cudaLaunchConfig_t config = {};
    config.gridDim = dim3(1, 1, 2);
    config.blockDim = dim3(kThreads);
    config.dynamicSmemBytes = smem_bytes<PASS, MT, F32>();
    int n = 0;
    if (cudaOccupancyMaxPotentialClusterSize(&n, kernel, &config) != cudaSuccess) {
      cudaGetLastError();
      n = 0;
    }
    return n;
  }();
  return size;
}

// The reduction split over `splits` parts of MT-row blocks, the parts added in order: two
// parts as a cluster (where the device can run one), more through partial sums in global
// memory and add_chunks. Measured on the H100 (TF32, against add_chunks): two parts 512 x
// 4096^2 forward 0.094 -> 0.084 ms, dX 0.103 -> 0.096, 1024 x 1024^2 forward 0.0265 ->
// 0.0232; four or five parts, 256 x 4096^2 forward 0.061 -> 0.099 and 512 x 768 x 3072 dX
// 0.033 -> 0.062 (a cluster of one-SM blocks must fit one GPC: larger ones leave SMs idle).
template <int PASS, int MT, bool F32>
void launch_split(const Operands& op, std::int64_t splits) {
  if (splits == 2 && max_cluster<PASS, MT, F32>() >= 2) {
    launch<PASS, MT, F32>(op, int(splits), true);
    return;
  }
  const std::int64_t outputs = op.M * (PASS == 0 ? op.N : op.K);
  DeviceBuffer partial(std::size_t(splits * outputs) * sizeof(float));
  Operands part = op;
  part.out = partial.as<float>();
  launch<PASS, MT, F32>(part, int(splits));
  add_chunks(part.out, splits, outputs, op.w.lambda, op.out);
}

template <int PASS, bool F32>
void launch_pass(const Operands& op) {
  const std::int64_t wblocks = ((PASS == 0 ? op.N : op.K) + kWRows - 1) / kWRows, sms = sm_count();
  const std::int64_t steps = ((PASS == 0 ? op.K : op.N) + kBK - 1) / kBK;
  if constexpr (!F32) {
    // Blocks of 256 rows of X / dY read each W fragment for twice the MMAs of 128-row blocks,
    // and the kernels are bound by what they read from L2. So TF32 takes 256 rows, with the
    // reduction split in up to four parts of at least 32 steps, whenever some split keeps the
    // SMs busy: at least 85% of the blocks' slots in the waves of the grid, times the share
    // of the blocks' rows that are rows of X / dY. Measured on the H100 against 128-row
    // blocks: 512 x 4096^2 (64 blocks, two parts) forward 0.107 -> 0.085 ms, dX 0.127 ->
    // 0.097; 4096^3 forward 0.57 ms against 0.85. Shorter parts lose more to the pipeline's
    // fill and the parts' sum than they gain (512 x 768 x 3072: 0.026 -> 0.040 ms in two).
    // fp32 always 128 rows: two rings of 256 rows would not fit shared memory.
    constexpr std::int64_t kMinSplitSteps = 32;
    const std::int64_t blocks256 = wblocks * ((op.M + 255) / 256);
    const double rows_used = double(op.M) / double(((op.M + 255) / 256) * 256);
    std::int64_t best = 0;
    double best_busy = 0.0;
    for (std::int64_t parts = 1; parts <= 4 && (parts == 1 || steps / parts >= kMinSplitSteps); ++parts) {
      const std::int64_t grid = blocks256 * parts, waves = (grid + sms - 1) / sms;
      const double busy = rows_used * double(grid) / double(waves * sms);
      if (busy > best_busy + 1e-9) best = parts, best_busy = busy;
    }
    if (best_busy >= 0.85) {
      if (best == 1) launch<PASS, 256, F32>(op);
      else launch_split<PASS, 256, F32>(op, best);
      return;
    }
  }
  // 128-row blocks; a grid that leaves SMs idle (few W-rows and rows of X / dY, a long
  // reduction) splits the reduction into as many parts as fit beside it, at least two steps
  // each.
  const std::int64_t blocks = wblocks * ((op.M + 127) / 128);
  const std::int64_t splits = std::min(sms / blocks, steps / 2);
  if (splits < 2) launch<PASS, 128, F32>(op);
  else launch_split<PASS, 128, F32>(op, splits);
}

}  // namespace

bool wgmma_fits(const WeightView& w, int pass) {
  if (pass == 2 || w.sign == kElementSign || w.tile_rows % kBK != 0) return false;
  if (w.tile_cols % (pass == 0 ? 64 : kBK) != 0) return false;
  return wgmma_runs_here();
}

bool wgmma_gemm(const Operands& op) {
  if (!wgmma_fits(op.w, op.pass)) return false;
  if (op.pass == 0 && !aligned16(op.X, op.K)) return false;
  if (op.pass == 1 && !(aligned16(op.dY, op.N) && aligned16(op.memory, 0))) return false;
  const std::int64_t limit = std::int64_t(1) << 31;
  if (op.M >= limit || op.M * (op.pass == 0 ? op.K : op.N) >= limit || (op.M + 127) / 128 > 65535) return false;
  const bool f32 = roast::precision() == Precision::fp32;
  if (op.pass == 0) f32 ? launch_pass<0, true>(op) : launch_pass<0, false>(op);
  else f32 ? launch_pass<1, true>(op) : launch_pass<1, false>(op);
  return true;
}

}  // namespace rmm
}  // namespace cuda
}  // namespace kernels
}  // namespace roast
