// ROAST-MM on Hopper tensor cores (wgmma, sm_90a; the building blocks are in
// roast_mm_wgmma_core.cuh, the dX kernel in roast_mm_wgmma_dx.cuh): forward and dX, in TF32, and in fp32 as
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
//            in three register sets loaded two steps ahead of the MMAs that read them,
//            addressed through the block's tile table in shared memory (fill_table);
//   dX:      a warp's load would touch 8 tile rows, 16 bytes each. W goes through shared
//            memory instead (WStages): runs of one tile row copied 16 bytes at a time, then
//            conflict-free 4-byte loads into two register sets.
// Block x of a launch computes output tile TileOrder::first + x. More tiles than SMs: full
// waves of whole tiles, then the tiles left over with the reduction split in up to four
// parts (launch_waves_and_rest). Fewer (few W-rows and rows of X / dY): every tile's
// reduction split over gridDim.z (launch_split). The parts are summed in a fixed order: as a
// cluster, in shared memory, each block summing and writing its share of the tile
// (sum_over_cluster), where the clusters fit in as few waves as the blocks alone; else
// through partial sums in global memory (add_chunks).
// Measured on the H100 (TF32, 512 x 4096^2, docs/benchmarks.md): staging W made dX 8% faster
// (0.133 -> 0.122 ms) and the forward 13% slower (0.106 -> 0.120 ms), so only dX stages it.
//
// Where the time goes (H100, ncu, 4096^3 forward, after the tile table): L2 serves the kernel
// 3.2 GB, as it does cuBLAS (which takes 0.70x the time); 193 instructions per warp and step
// (232 before the table); warps stall most on the first use of W's fragments, loaded two
// steps earlier (31% of the samples), and on fixed-latency waits (26%). Timing-only builds of
// an earlier session with one cache line per W load ran at 0.92x of cuBLAS (512 x 4096^2).
// Staged through shared memory, W's copies, stores and loads cost about what the direct loads
// do. Warp specialisation, X / dY multicast, W as a shared-memory wgmma operand, prefetching
// W into L1 (or into L2 by every lane) and the tile sign as the MMA's scale were measured and
// were not faster (docs/benchmarks.md, "Tried and not kept"); with memories larger than L2 a
// lighter prefetch into L2, a line per thread of half of each warpgroup, is (prefetch_w).
//
// Fast-path conditions (else the caller runs the mma.sync / FMA kernels): a device and binary
// with sm_90a, per-tile (or no) signs, the plain operand's rows a multiple
// of 4 floats on a 16-byte aligned base (and, for dX, the memory 16-byte aligned), and W's
// tiles covering whole steps: tile_rows % 32 == 0 and tile_cols % 64 (forward) or % 32 (dX)
// == 0. The default 32 x 64 tiles qualify.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <mutex>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/roast_mm_tiled.cuh"
#include "kernels/cuda/roast_mm_wgmma_core.cuh"
#include "kernels/cuda/roast_mm_wgmma_dx.cuh"
#include "roast/backend.h"

namespace roast {
namespace kernels {
namespace cuda {
namespace rmm {
namespace {

#if defined(ROAST_MM_WGMMA)  // the device code below exists only in the sm_90a compilation

// ---- forward: W straight from the memory --------------------------------------------------

// The block's tile table, built once in shared memory before its steps: for each of its
// steps and each warpgroup, the memory cell of the warpgroup's first W-row (n) at the step's
// first reduction index (k), with the tile's sign in bit 63 (0 where the warpgroup's W-rows
// lie past N). A warpgroup's 64 W-rows and a step's 32 reduction indices lie in one tile
// (tile_cols % 64 == 0, tile_rows % 32 == 0), so one entry serves all its loads of the step.
// Measured on the H100 (TF32) against a table read per warp and step from global memory, a
// step ahead of its loads (that read waited on L2 and held registers across the step): 4096^3
// forward 0.556 -> 0.486 ms, 512 x 4096^2 0.084 -> 0.078, 512 x 768 x 3072 0.0254 -> 0.0228,
// 512 x 10240^2 (1M floats) 0.513 -> 0.458; fp32 512 x 4096^2 0.260 -> 0.238. (Prefetching
// W's lines into L1 a few steps ahead through the table was slower: 4096^3 0.51 -> 0.59 ms.)
__device__ __forceinline__ void fill_table(const Operands& op, int w0, int first, int steps, std::uint64_t* table) {
  const WeightView& w = op.w;
  if (steps - first > kMaxTableSteps) __trap();  // launch_pass splits longer reductions: a bug
  for (int i = int(threadIdx.x); i < 2 * (steps - first); i += kThreads) {
    const std::uint32_t k0 = std::uint32_t((first + i / 2) * kBK), n0 = std::uint32_t(w0 + 64 * (i % 2));
    std::uint64_t entry = 0;
    if (n0 < op.N) {
      const std::uint32_t tr = w.div_rows.div(k0), tc = w.div_cols.div(n0);
      const TileInfo tile = w.tiles[std::int64_t(tr) * w.n_tile_cols + tc];
      entry = std::uint64_t(tile.start + std::int64_t(k0 - tr * w.tile_rows) * w.tile_cols + (n0 - tc * w.tile_cols));
      if (w.sign == kTileSign && (tile.sign_hash >> 63)) entry |= std::uint64_t(1) << 63;
    }
    table[i] = entry;
  }
}

// With a memory larger than L2, W's lines of a step kWPrefetchSteps ahead into L2
// (`prefetch.global.L2`): in each warpgroup 64 threads, one per half tile row (128 bytes) of
// its 32 x 64 block, through the tile table. Measured on the H100 (TF32, two runs each
// against the same code without): 512 x 10240^2 forward with 16M floats 0.405 -> 0.388-0.393
// ms, 128M 0.417-0.419 -> 0.398, 512 x 4096^2 with 16M 0.083 -> 0.081; 4 steps ahead the
// same within noise. (Two prefetches per lane and step, into L1 or L2, were slower: "Tried
// and not kept" in docs/benchmarks.md.)
constexpr int kWPrefetchSteps = 8;
__device__ __forceinline__ void prefetch_w(const Operands& op, const std::uint64_t* table, int first, int step) {
  const int u = threadIdx.x % 128;
  if (u >= 64) return;
  const std::uint64_t e = table[2 * (step - first) + threadIdx.x / 128];
  const float* p = op.memory + std::int64_t(e & ~(std::uint64_t(1) << 63)) + (u / 2) * op.w.tile_cols + 32 * (u % 2);
  asm volatile("prefetch.global.L2 [%0];" ::"l"(p));
}

// This thread's W fragments of one forward step (4 slices x 4 registers; register 4 s + e of
// slice s is W-row (n) r + 8 (e & 1), reduction index (k) 8 s + 4 (e >> 1) + lane % 4, with
// r = the warp's first W-row + lane / 4) and their tile sign, addressed through the table.
struct WFragments {
  const Operands& op;
  std::uint32_t table;     // shared-memory address of this warpgroup's entry of step `first`
  int first;
  int K;
  int r;                   // this thread's first W-row
  std::uint32_t offset;    // this thread's first element relative to its warpgroup's entry

  __device__ __forceinline__ WFragments(const Operands& op_, const std::uint64_t* table_, int first_, int w0)
      : op(op_), first(first_), K(int(op_.K)) {
    const int t = threadIdx.x, lane = t % 32;
    const int local = ((t % 128) / 32) * 16 + lane / 4;  // this thread's first W-row in its warpgroup
    table = std::uint32_t(__cvta_generic_to_shared(table_)) + 8 * (t / 128);
    r = w0 + (t / 128) * 64 + local;
    offset = std::uint32_t(lane % 4) * std::uint32_t(op.w.tile_cols) + std::uint32_t(local);
  }

  __device__ __forceinline__ std::uint64_t entry(int step) const {
    std::uint64_t e;
    asm volatile("ld.shared.u64 %0, [%1];\n" : "=l"(e) : "r"(table + 16 * (step - first)));
    return e;
  }

  // The 16 loads from `base` (this thread's first element); TC: tile_cols when known at
  // compile time (then every load is one register plus an immediate offset), else 0.
  template <int TC>
  __device__ __forceinline__ static void load_all(const float* base, std::uint32_t tile_cols, std::uint32_t (&f)[16]) {
    const std::uint32_t cols = TC ? std::uint32_t(TC) : tile_cols;
#pragma unroll
    for (int s = 0; s < 4; ++s) {
      const float* p = base + s * 8 * cols;
      f[4 * s] = __float_as_uint(__ldg(p));
      f[4 * s + 1] = __float_as_uint(__ldg(p + 8));
      f[4 * s + 2] = __float_as_uint(__ldg(p + 4 * cols));
      f[4 * s + 3] = __float_as_uint(__ldg(p + 8 + 4 * cols));
    }
  }

  __device__ __forceinline__ void load(int step, std::uint32_t (&f)[16], std::uint32_t* sign) const {
    const std::uint32_t cols = std::uint32_t(op.w.tile_cols);
    const int k0 = step * kBK;
    const std::uint64_t e = entry(step);
    *sign = std::uint32_t(e >> 32) & 0x80000000u;
    const float* base = op.memory + std::int64_t(e & ~(std::uint64_t(1) << 63)) + offset;
    if (r + 8 < int(op.N) && k0 + kBK <= K) {  // the usual case: no bounds checks
      if (cols == 64) load_all<64>(base, cols, f);
      else load_all<0>(base, cols, f);
      return;
    }
    const int q = threadIdx.x % 4;
#pragma unroll
    for (int s = 0; s < 4; ++s)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const bool valid = r + 8 * (e & 1) < int(op.N) && k0 + 8 * s + 4 * (e >> 1) + q < K;
        f[4 * s + e] = valid ? __float_as_uint(__ldg(base + s * 8 * cols + (e & 1) * 8 + (e >> 1) * 4 * cols)) : 0u;
      }
  }
};

template <int MT, bool F32>
__global__ void __launch_bounds__(kThreads, 1) forward_kernel(Operands op, TileOrder order) {
  // gridDim.z > 1 splits the reduction, as in backward_input_kernel.
  extern __shared__ unsigned char smem_raw[];
  float* smem = ring_base(smem_raw);
  constexpr int kStageFloats = MT * kBK;
  float* lo_ring = smem + kStages * kStageFloats;  // fp32: the low parts of X
  std::uint64_t* table = reinterpret_cast<std::uint64_t*>(smem + (F32 ? 2 : 1) * kStages * kStageFloats);
  // 32-bit indices: has_view() keeps K and N below 2^31, and wgmma_gemm() M * K.
  const int K = int(op.K);
  int m0, w0;
  block_origin<MT>(order, &m0, &w0);
  int first, steps;  // this block's steps: first .. steps - 1
  split_steps(K, &first, &steps);
  const PlainRows<MT> plain(op.X, int(op.M), K, m0);
#pragma unroll
  for (int s = first; s < first + kStages - 2; ++s) {
    if (s < steps) plain.copy(smem + (s % kStages) * kStageFloats, s);
    cp_async_commit();
  }
  fill_table(op, w0, first, steps, table);
  __syncthreads();
  const WFragments frags(op, table, first, w0);

  float acc[MT / 2];
#pragma unroll
  for (int e = 0; e < MT / 2; ++e) acc[e] = 0.0f;
  // Three register sets of W's fragments (fp32: split into high parts, in place, and low parts
  // in `lo` at the step that uses them).
  std::uint32_t f0[16], f1[16], f2[16], s0 = 0, s1 = 0, s2 = 0;
  // fp32: each step's sum (part) and the low parts of its fragments (lo).
  float part[F32 ? MT / 2 : 1];
  std::uint32_t lo[16];
  // (A split may be empty: it then writes zeros.)
  if (first < steps) frags.load(first, f0, &s0);
  if (first + 1 < steps) frags.load(first + 1, f1, &s1);

  // One step: MMAs on `cur` (loaded two steps earlier), then the fragments of step + 2 into
  // `later` once the MMAs that read it (step - 1) have finished.
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
    if (step + 2 < steps) frags.load(step + 2, later, ls);
    if (order.prefetch && step + kWPrefetchSteps < steps) prefetch_w(op, table, first, step + kWPrefetchSteps);
  };
  for (int step = first; step < steps; step += 3) {
    step_with(step, f0, s0, lo, f2, &s2);
    if (step + 1 < steps) step_with(step + 1, f1, s1, lo, f0, &s0);
    if (step + 2 < steps) step_with(step + 2, f2, s2, lo, f1, &s1);
  }
  finish<0, MT>(op, acc, m0, w0, smem);
}

// ---- dX: backward_input_kernel, in roast_mm_wgmma_dx.cuh ----------------------------------

#else  // no sm_90a code: the kernels exist for the host's launch code only

template <int MT, bool F32>
__global__ void forward_kernel(Operands op, TileOrder order) {
  (void)op, (void)order;
}
template <int MT, bool F32>
__global__ void backward_input_kernel(Operands op, TileOrder order) {
  (void)op, (void)order;
}

#endif  // ROAST_MM_WGMMA

__global__ void probe_kernel(int* out) {
#if defined(ROAST_MM_WGMMA)
  *out = 1;
#else
  *out = 0;
#endif
}

// Whether the current device runs this file's sm_90a code (a probe of the device context).
bool wgmma_runs_here() {
  return context().fact(reinterpret_cast<const void*>(&probe_kernel), 0, [] {
    int* flag = nullptr;
    int host = 0;
    check(cudaMalloc(&flag, sizeof(int)), "cudaMalloc (wgmma probe)");
    probe_kernel<<<1, 1, 0, stream()>>>(flag);
    check_launch("roast_mm wgmma probe");
    check(cudaMemcpyAsync(&host, flag, sizeof(int), cudaMemcpyDeviceToHost, stream()), "cudaMemcpyAsync (probe)");
    check(cudaStreamSynchronize(stream()), "cudaStreamSynchronize (probe)");
    check(cudaFree(flag), "cudaFree (wgmma probe)");
    return host == 1 ? 1 : 0;
  }) == 1;
}

bool aligned16(const float* p, std::int64_t ld) {
  return p != nullptr && ld % 4 == 0 && reinterpret_cast<std::uintptr_t>(p) % 16 == 0;
}

// The kernel of a pass, with its shared-memory size allowed once per device (a fact of the
// device context).
template <int PASS, int MT, bool F32>
auto kernel_of() {
  void (*kernel)(Operands, TileOrder) = PASS == 0 ? forward_kernel<MT, F32> : backward_input_kernel<MT, F32>;
  context().fact(reinterpret_cast<const void*>(kernel), 0, [kernel] {
    check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem_bytes<PASS, MT, F32>()),
          "cudaFuncSetAttribute (roast_mm wgmma)");
    return 1;
  });
  return kernel;
}

// The launch of a grid of the pass's kernel on the engine's stream; `cluster`: the gridDim.z
// parts of each output tile as one cluster (summed in shared memory, sum_over_cluster).
template <int PASS, int MT, bool F32>
struct Launch {
  cudaLaunchConfig_t config = {};
  cudaLaunchAttribute attribute = {};
  Launch(dim3 grid, bool cluster, int smem = smem_bytes<PASS, MT, F32>()) {
    config.gridDim = grid;
    config.blockDim = dim3(kThreads);
    config.dynamicSmemBytes = smem;
    config.stream = stream();
    attribute.id = cudaLaunchAttributeClusterDimension;
    attribute.val.clusterDim.x = 1;
    attribute.val.clusterDim.y = 1;
    attribute.val.clusterDim.z = grid.z;
    config.attrs = &attribute;
    config.numAttrs = cluster ? 1 : 0;
  }
};

// The tiles of MT rows of X / dY x kWRows W-rows of a pass, in the order that reads the
// least from DRAM: along the rows of X / dY first where X / dY is no larger than the memory
// cells the weight reads (those blocks share W, read once from DRAM even when the memory is
// larger than L2), else along the W-rows (X / dY streams through once while the memory stays
// in L2). Measured on the H100 (TF32, 512 x 10240^2 forward): rows first with 128M floats
// 0.552 -> 0.536 ms, 16M 0.526 -> 0.519; 1M (W first) unchanged.
template <int PASS, int MT>
TileOrder tile_order(const Operands& op) {
  TileOrder order;
  order.mblocks = int((op.M + MT - 1) / MT);
  order.wblocks = int(((PASS == 0 ? op.N : op.K) + kWRows - 1) / kWRows);
  const std::int64_t plain = op.M * (PASS == 0 ? op.K : op.N), weight = std::min(op.w.cells, op.K * op.N);
  order.rows_first = plain <= weight ? 1 : 0;
  order.prefetch = larger_than_l2(op.w.cells) ? 1 : 0;
  return order;
}

// Tiles first .. first + tiles - 1 of `order`, each in `splits` parts of the reduction
// (gridDim.z), as one cluster per tile or with partial sums in op.out (see partial_sums).
template <int PASS, int MT, bool F32>
void launch(const Operands& op, TileOrder order, std::int64_t first, std::int64_t tiles, int splits = 1,
            bool cluster = false) {
  order.first = int(first);
  const std::int64_t steps = ((PASS == 0 ? op.K : op.N) + kBK - 1) / kBK;
  Launch<PASS, MT, F32> l(dim3(unsigned(tiles), 1, unsigned(splits)), cluster,
                          smem_bytes<PASS, MT, F32>(int((steps + splits - 1) / splits)));
  check(cudaLaunchKernelEx(&l.config, kernel_of<PASS, MT, F32>(), op, order), "roast_mm wgmma kernel");
}

// How many of the kernel's blocks run at once as clusters of `parts` blocks (one block per
// SM, a cluster within one GPC): the clusters that fit times `parts`, 0 where none does;
// asked once per device and size.
template <int PASS, int MT, bool F32>
std::int64_t cluster_slots(std::int64_t parts) {
  if (parts < 2 || parts > kMaxClusterParts) return 0;
  void (*kernel)(Operands, TileOrder) = kernel_of<PASS, MT, F32>();
  const int clusters = context().fact(reinterpret_cast<const void*>(kernel), int(parts), [kernel, parts] {
    Launch<PASS, MT, F32> l(dim3(1, 1, unsigned(parts)), true);
    int n = 0;
    if (cudaOccupancyMaxActiveClusters(&n, kernel, &l.config) != cudaSuccess) {
      cudaGetLastError();
      n = 0;
    }
    return n;
  });
  return std::int64_t(clusters) * parts;
}

// How a split of the reduction in `parts` runs a grid of `blocks` output tiles: whether its
// parts form clusters (summed on the chip, sum_over_cluster) or write partial sums (summed
// by add_chunks), and in how many waves. Clusters are taken where they need no more waves:
// a cluster's blocks must share one GPC, which can leave SMs idle (measured on the H100
// before this rule, TF32 in clusters of four and five: 256 x 4096^2 forward 0.061 -> 0.099 ms
// and 512 x 768 x 3072 dX 0.033 -> 0.062, each grid a wave more than without).
struct SplitPlan {
  bool cluster = false;
  std::int64_t waves = 1;
};
template <int PASS, int MT, bool F32>
SplitPlan plan_split(std::int64_t blocks, std::int64_t parts) {
  const std::int64_t grid = blocks * parts, sms = sm_count();
  SplitPlan plan;
  plan.waves = (grid + sms - 1) / sms;
  const std::int64_t slots = cluster_slots<PASS, MT, F32>(parts);
  if (slots > 0 && (grid + slots - 1) / slots <= plan.waves) {
    plan.cluster = true;
    plan.waves = (grid + slots - 1) / slots;
  }
  return plan;
}

// The reduction split over `splits` parts of MT-row blocks, the parts added in order, as
// plan_split says. Measured on the H100 (TF32): two parts as a cluster against add_chunks,
// 512 x 4096^2 forward 0.094 -> 0.084 ms, dX 0.103 -> 0.096, 1024 x 1024^2 forward 0.0265 ->
// 0.0232; for clusters of up to four see docs/benchmarks.md.
template <int PASS, int MT, bool F32>
void launch_split(const Operands& op, const TileOrder& order, std::int64_t splits, bool cluster) {
  const std::int64_t tiles = std::int64_t(order.mblocks) * order.wblocks;
  if (splits < 2 || cluster) {
    launch<PASS, MT, F32>(op, order, 0, tiles, int(splits), cluster);
    return;
  }
  const std::int64_t outputs = op.M * (PASS == 0 ? op.N : op.K);
  DeviceBuffer partial(std::size_t(splits * outputs) * sizeof(float));
  Operands part = op;
  part.out = partial.as<float>();
  launch<PASS, MT, F32>(part, order, 0, tiles, int(splits));
  add_chunks(part.out, splits, outputs, op.w.lambda, op.out);
}

// Whole tiles in full waves, and the tiles left over (too few for a wave of their own) in
// `parts` parts each, as clusters: one wave of parts / parts-long blocks instead of a wave of
// mostly idle SMs. False (nothing launched) where the leftover tiles' clusters do not fit in
// one wave.
template <int PASS, int MT, bool F32>
bool launch_waves_and_rest(const Operands& op, const TileOrder& order, std::int64_t parts) {
  const std::int64_t tiles = std::int64_t(order.mblocks) * order.wblocks, sms = sm_count();
  const std::int64_t whole = tiles / sms * sms, rest = tiles - whole;
  if (whole == 0 || rest == 0 || rest * parts > cluster_slots<PASS, MT, F32>(parts)) return false;
  launch<PASS, MT, F32>(op, order, 0, whole);
  launch<PASS, MT, F32>(op, order, whole, rest, int(parts), true);
  return true;
}

template <int PASS, bool F32>
void launch_pass(const Operands& op) {
  const std::int64_t sms = sm_count();
  const std::int64_t steps = ((PASS == 0 ? op.K : op.N) + kBK - 1) / kBK;
  // The forward's tile table holds at most kMaxTableSteps steps per block.
  const std::int64_t min_parts = PASS == 0 ? (steps + kMaxTableSteps - 1) / kMaxTableSteps : 1;
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
    // A split of every tile competes with whole tiles in full waves and the rest split
    // (launch_waves_and_rest), which at equal use of the SMs is taken: it sums fewer parts.
    constexpr std::int64_t kMinSplitSteps = 32;
    const TileOrder order = tile_order<PASS, 256>(op);
    const std::int64_t tiles = std::int64_t(order.mblocks) * order.wblocks;
    const double rows_used = double(op.M) / double(std::int64_t(order.mblocks) * 256);
    std::int64_t best = 0;
    SplitPlan best_plan;
    double best_busy = 0.0;
    for (std::int64_t parts = min_parts; parts <= 4 && (parts == 1 || steps / parts >= kMinSplitSteps); ++parts) {
      const SplitPlan plan = plan_split<PASS, 256, F32>(tiles, parts);
      const double busy = rows_used * double(tiles * parts) / double(plan.waves * sms);
      if (busy > best_busy + 1e-9) best = parts, best_plan = plan, best_busy = busy;
    }
    if (min_parts == 1)
      for (std::int64_t parts = kMaxClusterParts; parts >= 2; --parts) {
        if (steps / parts < kMinSplitSteps) continue;
        const double waves = double(tiles / sms) + 1.0 / double(parts);
        if (rows_used * double(tiles) / (waves * double(sms)) >= std::max(best_busy - 1e-3, 0.85) &&
            launch_waves_and_rest<PASS, 256, F32>(op, order, parts))
          return;
      }
    if (best_busy >= 0.85) {
      launch_split<PASS, 256, F32>(op, order, best, best_plan.cluster);
      return;
    }
  }
  // 128-row blocks; a grid that leaves SMs idle (few W-rows and rows of X / dY, a long
  // reduction) splits the reduction into as many parts as fit beside it, at least two steps
  // each.
  // More tiles than SMs: whole tiles in full waves and the rest split, where that fits.
  const TileOrder order = tile_order<PASS, 128>(op);
  const std::int64_t tiles = std::int64_t(order.mblocks) * order.wblocks;
  const std::int64_t splits = std::max(min_parts, std::min(sms / tiles, steps / 2));
  if (splits < 2 && min_parts == 1)
    for (std::int64_t parts = kMaxClusterParts; parts >= 2; --parts)
      if (steps / parts >= 2 && launch_waves_and_rest<PASS, 128, F32>(op, order, parts)) return;
  launch_split<PASS, 128, F32>(op, order, splits, splits >= 2 && plan_split<PASS, 128, F32>(tiles, splits).cluster);
}

}  // namespace

bool wgmma_available() { return wgmma_runs_here(); }

bool wgmma_fits(const WeightView& w, int pass) {
  if (pass == 2 || w.sign == kElementSign || w.tile_rows % kBK != 0) return false;
  if (w.tile_cols % (pass == 0 ? 64 : kBK) != 0) return false;
  return wgmma_runs_here();
}

bool wgmma_gemm(const Operands& op) {
  if (op.pass == 2) return wgmma_backward_memory(op);  // roast_mm_wgmma_dm.cu
  if (!wgmma_fits(op.w, op.pass)) return false;
  if (op.pass == 0 && !aligned16(op.X, op.K)) return false;
  if (op.pass == 1 && !(aligned16(op.dY, op.N) && aligned16(op.memory, 0))) return false;
  const std::int64_t limit = std::int64_t(1) << 31;
  const std::int64_t tiles = (op.M + 127) / 128 * (((op.pass == 0 ? op.N : op.K) + kWRows - 1) / kWRows);
  if (op.M >= limit || op.M * (op.pass == 0 ? op.K : op.N) >= limit || tiles >= limit) return false;
  const bool f32 = !op.tf32;
  if (op.pass == 0) f32 ? launch_pass<0, true>(op) : launch_pass<0, false>(op);
  else f32 ? launch_pass<1, true>(op) : launch_pass<1, false>(op);
  return true;
}

}  // namespace rmm
}  // namespace cuda
}  // namespace kernels
}  // namespace roast
