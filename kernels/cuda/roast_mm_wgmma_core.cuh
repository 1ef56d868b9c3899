// The building blocks of the wgmma ROAST-MM kernels (roast_mm_wgmma.cu with its dX kernel in
// roast_mm_wgmma_dx.cuh, and roast_mm_wgmma_dm.cu, which alone include this file): block and ring sizes, the
// shared-memory layout and descriptors, the warpgroup MMA wrappers and fences, the copies of X / dY rows (PlainRows), one step's MMAs (fp32 as
// 3xTF32 with step sums), the split of the reduction over gridDim.z and the sum of its parts
// (in a cluster's shared memory, or as partial sums), and the block's last step (finish).
#pragma once

#include <cooperative_groups.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/roast_mm_tiled.cuh"

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

// The forward's tile table (fill_table): two 8-byte entries per step, for at most this many
// steps per block (launch_pass splits longer reductions).
constexpr int kMaxTableSteps = 2048;

// The X / dY ring (+ room to align it to 1024 B), in fp32 a second ring for the low parts
// after it, and after those, for dX W's ring, for the forward the tile table of a block of
// `steps` steps.
template <int PASS, int MT, bool F32>
constexpr int smem_bytes(int steps = kMaxTableSteps) {
  return (F32 ? 2 : 1) * kStages * MT * kBK * int(sizeof(float)) + 1024 +
         (PASS == 1 ? kWStages * (kWStageFloats * int(sizeof(float)) + 48) : 16 * steps);
}

// At most this many parts of a split reduction are summed in a cluster (launch_split).
constexpr int kMaxClusterParts = 4;

// The output tiles of a forward or dX kernel (MT rows of X / dY x kWRows W-rows): block x
// computes tile first + x, numbered along the rows of X / dY first (rows_first: the blocks
// that read the same W-rows run side by side) or along the W-rows first (see tile_order()).
struct TileOrder {
  int first = 0;
  int mblocks = 1, wblocks = 1;  // tiles along the rows of X / dY and along the W-rows
  int rows_first = 0;
  int prefetch = 0;  // the memory is larger than L2
};

#if defined(ROAST_MM_WGMMA)  // the device code below exists only in the sm_90a compilation

// The start of the X / dY ring in a kernel's dynamic shared memory: aligned to 1024 bytes,
// as the 128-byte swizzle needs (smem_bytes() reserves the room). Offset from `raw` by
// pointer arithmetic, not through an integer, so that the compiler still knows the pointers
// derived from it are shared memory and accesses them with shared loads and stores (through
// an integer it emitted generic ones, whose latency sat on dX's path: see WStages).
__device__ __forceinline__ float* ring_base(unsigned char* raw) {
  const std::uint32_t at = static_cast<std::uint32_t>(__cvta_generic_to_shared(raw));
  return reinterpret_cast<float*>(raw + ((1024u - (at & 1023u)) & 1023u));
}

// This block's first row of X / dY (m0) and first W-row (w0).
template <int MT>
__device__ __forceinline__ void block_origin(const TileOrder& order, int* m0, int* w0) {
  const int t = order.first + int(blockIdx.x);
  *m0 = (order.rows_first ? t % order.mblocks : t / order.wblocks) * MT;
  *w0 = (order.rows_first ? t / order.mblocks : t % order.wblocks) * kWRows;
}

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
// cluster dimensions 1 x 1 x gridDim.z): every block leaves its sums in its shared memory
// (free once the MMAs and copies are done); then block `rank` sums, in the order of z (as
// add_chunks would, bitwise), the 32-row parts [*begin, *end) of the tile from all the
// blocks' shared memory, and writes those. Without a cluster the range stays all parts and
// the block writes its own sums (or its partial sums, see partial_sums).
// (Block 0 summing and writing the whole tile, as before the parts were shared out, read
// 3 x 128 KB through the cluster on one SM per tile: see docs/benchmarks.md.)
template <int NV>
__device__ __forceinline__ void sum_over_cluster(float (&acc)[NV], float* smem, int* begin, int* end) {
  namespace cg = cooperative_groups;
  cg::cluster_group cluster = cg::this_cluster();
  const int n = int(cluster.num_blocks());
  if (n == 1) return;
  if (n != int(gridDim.z) || n > kMaxClusterParts) __trap();  // launch() makes the cluster all of z: a bug
  const int rank = int(cluster.block_rank());
  constexpr int kParts = NV / 16;  // TransposedLayout: acc[e] lies in the tile's 32-row part e / 16
  *begin = rank * kParts / n;
  *end = (rank + 1) * kParts / n;
#pragma unroll
  for (int e = 0; e < NV; ++e) smem[e * kThreads + threadIdx.x] = acc[e];
  cluster.sync();
  // Rank by rank, so that each rank's loads are all in flight at once.
  for (int r = 0; r < n; ++r) {
    const float* part = cluster.map_shared_rank(smem, r) + threadIdx.x;
#pragma unroll
    for (int e = 0; e < NV; ++e)
      if (e / 16 >= *begin && e / 16 < *end) acc[e] = r == 0 ? part[e * kThreads] : acc[e] + part[e * kThreads];
  }
  cluster.sync();  // every block's shared memory stays until all have read it
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

// After a block's last step: waits for its MMAs and copies, sums a cluster's parts, and
// writes the block's results (or its part of a split reduction).
template <int PASS, int MT>
__device__ __forceinline__ void finish(const Operands& op, float (&acc)[MT / 2], int m0, int w0, float* smem) {
  static_assert(MT / 2 * kThreads <= kStages * MT * kBK, "a cluster's sums must fit the X / dY ring");
  wgmma_wait<0>();
  fence_registers(acc);
  cp_async_wait<0>();
  __syncthreads();
  int begin = 0, end = MT / 32;  // the 32-row parts of the tile this block writes
  sum_over_cluster(acc, smem, &begin, &end);
  epilogue<PASS, TransposedLayout, kThreads, MT / 2, MT>(partial_sums(op, op.M * (PASS == 0 ? op.N : op.K)), acc, m0,
                                                         w0, smem, begin, end);
}

#endif  // ROAST_MM_WGMMA

}  // namespace
}  // namespace rmm
}  // namespace cuda
}  // namespace kernels
}  // namespace roast
