// The TF32 / 3xTF32 wgmma dX kernel (sm_90a): W staged through shared memory in tile-row
// runs (WStages), dY through the shared ring of roast_mm_wgmma_core.cuh. Included by
// roast_mm_wgmma.cu alone, which launches it beside the forward kernel (see that file's notes
// for the design and measurements both kernels share).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/roast_mm_tiled.cuh"
#include "kernels/cuda/roast_mm_wgmma_core.cuh"

namespace roast {
namespace kernels {
namespace cuda {
namespace rmm {
namespace {

#if defined(ROAST_MM_WGMMA)  // the device code below exists only in the sm_90a compilation

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
  int bands;             // the bands with W-rows (those wholly past the last are skipped)
  std::int64_t lane_cell;  // this thread's copy in every band: row t / 8 of the run, chunk t % 8

  __device__ __forceinline__ WStages(const Operands& op_, float* ring_, std::int64_t* starts_, std::uint32_t* info_,
                                     int w0_)
      : op(op_), ring(ring_), starts(starts_), info(info_), w0(w0_),
        bands(int(min(std::int64_t(kBands), (op_.K - w0_ + 31) / 32))),
        lane_cell(std::int64_t(threadIdx.x / 8) * op_.w.tile_cols + 4 * (threadIdx.x % 8)) {}

  __device__ __forceinline__ bool has_band(int g) const { return g < bands; }

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
  // Round g copies chunk t % 8 of run t / 8 of band g; a fifth copies the 9th chunk of the
  // runs that straddle one more (only its floats of the run: none past the memory's end).
  // The four run starts are read before any copy, so that their loads wait once, not once
  // per band (measured on the H100, TF32 dX at 512 x 10240^2: see the kernel's notes).
  __device__ __forceinline__ void issue(int step) const {
    const int t = threadIdx.x, stage = step % kWStages;
    float* slot = ring + stage * kWStageFloats + (t / 8) * kSlot + 4 * (t % 8);
    std::int64_t first[kBands];  // (entries of bands past the last W-row are never used)
#pragma unroll
    for (int g = 0; g < kBands; ++g) first[g] = starts[stage * kBands + g] & ~std::int64_t(3);
#pragma unroll
    for (int g = 0; g < kBands; ++g)
      if (g < bands) cp_async16(slot + 32 * g * kSlot, op.memory + first[g] + lane_cell, 16);
    if (t < bands * 32) {
      const std::int64_t start = starts[stage * kBands + t / 32];
      const int tail = int(start & 3);  // the run's floats in its 9th chunk (read no further)
      if (tail)
        cp_async16(ring + stage * kWStageFloats + t * kSlot + kRun,
                   op.memory + (start & ~std::int64_t(3)) + (t % 32) * op.w.tile_cols + kRun, 4 * tail);
    }
  }

  // This thread's fragments of step `step` (register 4 s + e of slice s is W-row (k) r +
  // 8 (e & 1), reduction index (n) 8 s + 4 (e >> 1) + lane % 4, with r = the warp's first
  // W-row + lane / 4), signed; reduction indices past N read 0.
  __device__ __forceinline__ void load(int step, std::uint32_t (&f)[16]) const {
    const int t = threadIdx.x, lane = t % 32, stage = step % kWStages;
    const int local = (t / 128) * 64 + ((t % 128) / 32) * 16 + lane / 4;  // W-row within the block
    const int q = lane % 4;
    const std::uint32_t word = info[stage * kBands + local / 32], sign = word & 0x80000000u;
    const float* base = ring + stage * kWStageFloats + int(word & 3u) + local * kSlot + q;
    if ((step + 1) * kBK <= int(op.N)) {  // the usual case: every reduction index below N
#pragma unroll
      for (int s = 0; s < 4; ++s)
#pragma unroll
        for (int e = 0; e < 4; ++e) f[4 * s + e] = __float_as_uint(base[8 * (e & 1) * kSlot + 8 * s + 4 * (e >> 1)]) ^ sign;
      return;
    }
#pragma unroll
    for (int s = 0; s < 4; ++s)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int red_off = 8 * s + 4 * (e >> 1);
        const std::uint32_t v = __float_as_uint(base[8 * (e & 1) * kSlot + red_off]) ^ sign;
        f[4 * s + e] = step * kBK + red_off + q < int(op.N) ? v : 0u;
      }
  }
};

template <int MT, bool F32>
__global__ void __launch_bounds__(kThreads, 1) backward_input_kernel(Operands op, TileOrder order) {
  // gridDim.z > 1 splits the reduction: block z runs its share of the steps (see finish()
  // for how the parts are summed).
  extern __shared__ unsigned char smem_raw[];
  float* smem = ring_base(smem_raw);
  constexpr int kStageFloats = MT * kBK;
  float* lo_ring = smem + kStages * kStageFloats;  // fp32: the low parts of dY
  float* wring = lo_ring + (F32 ? kStages * kStageFloats : 0);
  std::int64_t* starts = reinterpret_cast<std::int64_t*>(wring + kWStages * kWStageFloats);
  std::uint32_t* info = reinterpret_cast<std::uint32_t*>(starts + kWStages * 4);
  const int t = threadIdx.x;
  // 32-bit indices: has_view() keeps K and N below 2^31, and wgmma_gemm() M * N.
  const int N = int(op.N);
  int m0, w0;
  block_origin<MT>(order, &m0, &w0);
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
  finish<1, MT>(op, acc, m0, w0, smem);
}

#endif  // ROAST_MM_WGMMA

}  // namespace
}  // namespace rmm
}  // namespace cuda
}  // namespace kernels
}  // namespace roast
