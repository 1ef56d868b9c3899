// ROAST-MM on CUDA: entry points, the per-mapping cache (tile tables), the materialize path
// and the per-shape choice between fused and materialize (the deterministic memory gradient:
// roast_mm_owned.cu).
//
// Two paths compute each product:
//   fused        the weight is never materialised. Large products run a tiled GEMM (wgmma on
//                sm_90, else 128 x 128 mma.sync / FMA blocks) whose loader reads W straight
//                from the memory through the mapping's table of tile starts and signs (kept in
//                the MappingCache of the memory that owns the mapping). Small products (M <=
//                32) run GEMV-style kernels (roast_mm_small*.cu).
//   materialize  W = lambda * sign .* M[loc] is built (kernel), then cuBLAS; dM builds dW =
//                X^T dY with cuBLAS and scatters it back. Under Precision::bf16 every product
//                takes this path (materialized_bf16: W built in bf16, X or dY converted, cuBLAS
//                with fp32 accumulation; dW in fp32, scattered as in fp32).
// numerics.matmul_path picks one; auto_select times both once per shape on each device and
// keeps the faster in the device context (with numerics.deterministic a fixed rule instead,
// since a timing-based choice could differ between runs). dM accumulates with atomics unless
// numerics.deterministic: then dW is built densely and each memory cell sums its weights in a
// fixed order (owner computes for tiled mappings, a sort by cell otherwise).
#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <utility>
#include <vector>

#include "kernels/backend.h"
#include "kernels/cuda/bf16.cuh"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/mapping_cache.cuh"
#include "kernels/cuda/ops_common.cuh"
#include "kernels/cuda/roast_mm_device.cuh"
#include "roast/backend.h"

namespace roast {
namespace kernels {
namespace cuda {

using rmm::TileInfo;
using rmm::WeightView;

}  // namespace cuda

namespace cuda {

std::shared_ptr<MappingCache> make_mapping_cache(int index) {
  check_device(index);
  return std::make_shared<MappingCache>(index);
}

namespace rmm {
namespace {

bool dense_layout(const Mapping& map) { return map.scheme == Scheme::dense || map.scheme == Scheme::exact; }


__global__ void tile_table_kernel(Mapping map, std::int64_t n_tr, std::int64_t n_tc, bool dense, bool signed_tiles,
                                  TileInfo* out) {
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < n_tr * n_tc;
       i += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t tr = i / n_tc;
    out[i] = tile_info(map, tr, i - tr * n_tc, dense, signed_tiles);
  }
}

}  // namespace

MappingCache::Key key_of(const Mapping& m, int kind) {
  return MappingCache::Key{int(m.scheme), int(m.sign_mode), m.seed,         m.layer,       m.rows, m.cols,
                           m.region_base, m.region_size,    m.tile_rows, m.tile_cols,
                           m.fold_offset, m.fold_piece,     m.fold_granule, kind};
}

bool has_view(const Mapping& map) {
  const std::int64_t limit = std::int64_t(1) << 31;
  if (map.rows >= limit || map.cols >= limit) return false;
  if (map.tiled()) return true;
  return dense_layout(map) && (map.sign_mode != SignMode::element || map.scheme == Scheme::exact);
}

WeightView view_of(const Mapping& map, MappingCache& cache) {
  const bool dense = dense_layout(map);
  WeightView v;
  v.tile_rows = dense ? 1 : map.tile_rows;
  v.tile_cols = dense ? std::int32_t(map.cols) : map.tile_cols;
  v.div_rows = FastDiv(std::uint32_t(v.tile_rows));
  v.div_cols = FastDiv(std::uint32_t(v.tile_cols));
  const std::int64_t n_tr = (map.rows + v.tile_rows - 1) / v.tile_rows;
  v.n_tile_cols = (map.cols + v.tile_cols - 1) / v.tile_cols;
  v.rows = map.rows;
  v.cols = map.cols;
  v.cells = map.region_size;
  v.lambda = map.lambda;
  const bool signed_tiles = !dense && map.sign_mode != SignMode::none;
  v.sign = !signed_tiles ? kNoSign : (map.sign_mode == SignMode::tile ? kTileSign : kElementSign);

  const MappingCache::Entry table = cache.get(key_of(map, 0), [&] {
    const std::int64_t n = n_tr * v.n_tile_cols;
    TileInfo* t = static_cast<TileInfo*>(device_malloc(std::size_t(n) * sizeof(TileInfo)));
    tile_table_kernel<<<blocks_for(n), 256, 0, stream()>>>(map, n_tr, v.n_tile_cols, dense, signed_tiles, t);
    check_launch("roast_mm tile table");
    // Built on the side stream of run_beside, the table must be there before work on the
    // other stream reads it.
    if (on_side_stream()) check(cudaStreamSynchronize(stream()), "cudaStreamSynchronize (tile table)");
    return MappingCache::Entry{t, n};
  });
  v.tiles = static_cast<const TileInfo*>(table.data);
  return v;
}

}  // namespace rmm

namespace {

// The mapping's weight is the memory itself, row-major: dense or exact cells without signs.
bool identity_layout(const Mapping& map) {
  return (map.scheme == Scheme::dense || map.scheme == Scheme::exact) &&
         (map.sign_mode != SignMode::element || map.scheme == Scheme::exact);
}

// A built weight's element: fp32, or rounded to bf16 (round to nearest even) for bf16 products.
__device__ __forceinline__ void store_weight(float* p, float v) { *p = v; }
__device__ __forceinline__ void store_weight(bf16_t* p, float v) { *p = __float2bfloat16_rn(v); }

// Rows k0 + blockIdx.y of W, threads along n: no 64-bit division per element, and a warp's
// reads are runs of one tile row. Out: float, or bf16_t (the fp32 value, then rounded).
template <class Out>
__global__ void materialize_view_kernel(WeightView w, const float* __restrict__ memory, Out* __restrict__ W,
                                        std::int64_t k0) {
  const std::int64_t k = k0 + blockIdx.y;
  Out* row = W + k * w.cols;
  for (std::int64_t n = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; n < w.cols;
       n += std::int64_t(gridDim.x) * blockDim.x)
    store_weight(row + n, w.lambda * w.load(memory, std::uint32_t(k), std::uint32_t(n)));
}

// Four consecutive columns per thread (they share a tile when the tile width is a multiple
// of 4): one tile lookup and one 16-byte store per 4 weights. Needs cols % 4 == 0 and a
// 16-byte aligned W.
__global__ void materialize_view4_kernel(WeightView w, const float* __restrict__ memory, float* __restrict__ W,
                                         std::int64_t k0) {
  const std::int64_t k = k0 + blockIdx.y;
  const std::uint32_t tr = w.div_rows.div(std::uint32_t(k)), kr = std::uint32_t(k) - tr * w.tile_rows;
  const TileInfo* row_tiles = w.tiles + std::int64_t(tr) * w.n_tile_cols;
  float4* row = reinterpret_cast<float4*>(W + k * w.cols);
  for (std::int64_t q = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; q < w.cols / 4;
       q += std::int64_t(gridDim.x) * blockDim.x) {
    const std::uint32_t n = std::uint32_t(4 * q), tc = w.div_cols.div(n);
    const std::uint32_t w0 = kr * std::uint32_t(w.tile_cols) + (n - tc * std::uint32_t(w.tile_cols));
    const TileInfo t = row_tiles[tc];
    const float* p = memory + t.start + w0;
    float4 v;
    v.x = w.lambda * w.sign_of(t.sign_hash, w0) * __ldg(p);
    v.y = w.lambda * w.sign_of(t.sign_hash, w0 + 1) * __ldg(p + 1);
    v.z = w.lambda * w.sign_of(t.sign_hash, w0 + 2) * __ldg(p + 2);
    v.w = w.lambda * w.sign_of(t.sign_hash, w0 + 3) * __ldg(p + 3);
    row[q] = v;
  }
}

template <class Out>
__global__ void materialize_hashed_kernel(Mapping map, const float* __restrict__ memory, Out* __restrict__ W) {
  const std::int64_t total = map.rows * map.cols;
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < total;
       i += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t k = i / map.cols, n = i - k * map.cols;
    store_weight(W + i, map.lambda * map.sign(k, n) * __ldg(memory + map.loc(k, n)));
  }
}

// dM += dW by 16-byte atomic adds (sm_90; four scalar ones before it). Each row of a tile
// is a run of consecutive cells; a thread adds the run's values that fall in one 16-byte
// aligned group of cells (a chunk): chunks inside the run in one atomic, the partial ones at
// its ends cell by cell. A run of tile_cols cells meets at most ceil(tile_cols / 4) + 1 chunks.
__global__ void accumulate_view_kernel(WeightView w, const float* __restrict__ dW, float* __restrict__ dM,
                                       std::int64_t k0) {
  const std::int64_t k = k0 + blockIdx.y;
  const std::uint32_t tr = w.div_rows.div(std::uint32_t(k)), kr = std::uint32_t(k) - tr * w.tile_rows;
  const TileInfo* row_tiles = w.tiles + std::int64_t(tr) * w.n_tile_cols;
  const float* row = dW + k * w.cols;
  const std::uint32_t per_run = (std::uint32_t(w.tile_cols) + 3) / 4 + 1;
  const std::int64_t chunks = w.n_tile_cols * per_run;
  for (std::int64_t q = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; q < chunks;
       q += std::int64_t(gridDim.x) * blockDim.x) {
    const std::uint32_t tc = std::uint32_t(q) / per_run, j = std::uint32_t(q) - tc * per_run;
    const std::int64_t n0 = std::int64_t(tc) * w.tile_cols;
    const int len = int(min(std::int64_t(w.tile_cols), w.cols - n0));
    const TileInfo t = row_tiles[tc];
    float* run = dM + t.start + std::int64_t(kr) * w.tile_cols;  // the run's first cell
    const int i0 = int(4 * j) - int((reinterpret_cast<std::uintptr_t>(run) >> 2) & 3);  // the chunk's first run index
    if (i0 >= len) continue;
    float v[4];
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int i = i0 + e;
      v[e] = (i >= 0 && i < len) ? w.lambda * w.sign_of(t.sign_hash, kr * std::uint32_t(w.tile_cols) + std::uint32_t(i)) *
                                       __ldg(row + n0 + i)
                                 : 0.0f;
    }
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    if (i0 >= 0 && i0 + 4 <= len) {
      atomicAdd(reinterpret_cast<float4*>(run + i0), make_float4(v[0], v[1], v[2], v[3]));
      continue;
    }
#endif
#pragma unroll
    for (int e = 0; e < 4; ++e)
      if (i0 + e >= 0 && i0 + e < len) atomicAdd(run + i0 + e, v[e]);
  }
}

// Launches a row-wise view kernel over all rows of W, at most 65535 rows (grid.y) per launch.
template <class Kernel, class Data, class Out>
void launch_rows(Kernel kernel, const WeightView& w, Data data, Out out, int cols_per_thread = 1) {
  const std::int64_t threads = (w.cols + cols_per_thread - 1) / cols_per_thread;
  const unsigned col_blocks = unsigned(std::min<std::int64_t>((threads + 255) / 256, 64));
  for (std::int64_t k0 = 0; k0 < w.rows; k0 += 65535) {
    const unsigned rows = unsigned(std::min<std::int64_t>(65535, w.rows - k0));
    kernel<<<dim3(col_blocks, rows), 256, 0, stream()>>>(w, data, out, k0);
  }
}

__global__ void accumulate_hashed_kernel(Mapping map, const float* __restrict__ dW, float* __restrict__ dM) {
  const std::int64_t total = map.rows * map.cols;
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < total;
       i += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t k = i / map.cols, n = i - k * map.cols;
    atomicAdd(dM + map.loc(k, n), map.lambda * map.sign(k, n) * dW[i]);
  }
}

// ---- the two paths ---------------------------------------------------------------------

// One ROAST-MM call: the mapping, the caller's numeric options and the mapping's cache.
struct Call {
  const Mapping& map;
  const Numerics& numerics;
  MappingCache& cache;
  bool tf32() const { return numerics.precision == Precision::tf32; }
};

void fused(int pass, const Call& c, const float* a, const float* b, std::int64_t M, float* out) {
  const WeightView w = rmm::view_of(c.map, c.cache);
  const bool small = M <= rmm::kSmallM, tf32 = c.tf32();
  if (pass == 0) small ? rmm::small_forward(w, tf32, a, b, M, out) : rmm::gemm_forward(w, tf32, a, b, M, out);
  else if (pass == 1)
    small ? rmm::small_backward_input(w, tf32, a, b, M, out) : rmm::gemm_backward_input(w, tf32, a, b, M, out);
  else rmm::gemm_backward_memory(w, tf32, a, b, M, out);
}

// pass 0: a = memory, b = X, out = Y; pass 1: a = memory, b = dY, out = dX; pass 2: a = X, b = dY, out = dM.
void materialized(int pass, const Call& c, const float* a, const float* b, std::int64_t M, float* out) {
  const Mapping& map = c.map;
  const std::int64_t K = map.rows, N = map.cols;
  const Precision p = c.numerics.precision;
  if (pass == 2) {
    DeviceBuffer dW(std::size_t(K * N) * sizeof(float));
    gemm(p, true, false, K, N, M, 1.0f, a, K, b, N, 0.0f, dW.as<float>(), N);
    roast_mm_accumulate_dense(map, c.numerics, &c.cache, dW.as<float>(), out);
    return;
  }
  // The weight: the memory itself for identity layouts (lambda as alpha), else built.
  const bool identity = identity_layout(map);
  DeviceBuffer built(identity ? 0 : std::size_t(K * N) * sizeof(float));
  const float* W = identity ? a + map.region_base : built.as<float>();
  if (!identity) roast_mm_materialize(map, &c.cache, a, built.as<float>());
  const float alpha = identity ? map.lambda : 1.0f;
  if (pass == 0) gemm(p, false, false, M, N, K, alpha, b, K, W, N, 0.0f, out, N);
  else gemm(p, false, true, M, K, N, alpha, b, N, W, N, 0.0f, out, K);
}

// W[K, N] = bf16(lambda * sign(k, n) * memory[loc(k, n)]): the fp32 weight, rounded once.
void materialize_bf16(const Mapping& map, MappingCache& cache, const float* memory, bf16_t* W) {
  if (rmm::has_view(map)) {
    launch_rows(materialize_view_kernel<bf16_t>, rmm::view_of(map, cache), memory, W);
  } else {
    const std::int64_t n = map.rows * map.cols;
    materialize_hashed_kernel<bf16_t><<<blocks_for(n), 256, 0, stream()>>>(map, memory, W);
  }
  check_launch("roast_mm materialize (bf16)");
}

// The materialize path in bf16 (Precision::bf16), same passes and operands as materialized:
// the layer's weight is built in bf16 in scratch (transient, one layer at a time), X or dY is
// converted, and cuBLAS multiplies with fp32 accumulation and output. dM: dW = X^T dY from
// bf16 copies, in fp32, then the fp32 scatter of roast_mm_accumulate_dense (lambda * sign
// applied in fp32, deterministic or atomic as numerics says).
void materialized_bf16(int pass, const Call& c, const float* a, const float* b, std::int64_t M, float* out) {
  require_bf16("roast_mm");
  const Mapping& map = c.map;
  const std::int64_t K = map.rows, N = map.cols;
  if (pass == 2) {
    const Bf16Operand x(a, 1, 0, M, K, K), dy(b, 1, 0, M, N, N);
    DeviceBuffer dW(std::size_t(K * N) * sizeof(float));
    gemm_bf16(true, false, K, N, M, 1.0f, x.data(), K, 0, dy.data(), N, 0, 0.0f, dW.as<float>(), N, 0, 1);
    roast_mm_accumulate_dense(map, c.numerics, &c.cache, dW.as<float>(), out);
    return;
  }
  DeviceBuffer W(std::size_t(K * N) * sizeof(bf16_t));
  materialize_bf16(map, c.cache, a, W.as<bf16_t>());
  if (pass == 0) {  // Y[M, N] = X[M, K] W[K, N]
    const Bf16Operand x(b, 1, 0, M, K, K);
    gemm_bf16(false, false, M, N, K, 1.0f, x.data(), K, 0, W.as<bf16_t>(), N, 0, 0.0f, out, N, 0, 1);
  } else {  // dX[M, K] = dY[M, N] W^T
    const Bf16Operand dy(b, 1, 0, M, N, N);
    gemm_bf16(false, true, M, K, N, 1.0f, dy.data(), N, 0, W.as<bf16_t>(), N, 0, 0.0f, out, K, 0, 1);
  }
}

// Three warm runs of `work` back to back, as training runs them (the host queues the next
// launches while the GPU works), timed on the GPU: ms per run.
template <class Work>
float time_runs(const Work& work) {
  constexpr int kRuns = 3;
  cudaEvent_t start, stop;
  check(cudaEventCreate(&start), "cudaEventCreate");
  check(cudaEventCreate(&stop), "cudaEventCreate");
  check(cudaEventRecord(start, stream()), "cudaEventRecord");
  for (int r = 0; r < kRuns; ++r) work();
  check(cudaEventRecord(stop, stream()), "cudaEventRecord");
  check(cudaEventSynchronize(stop), "cudaEventSynchronize");
  float ms = 0.0f;
  cudaEventElapsedTime(&ms, start, stop);
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return ms / kRuns;
}

// The fastest of a few ways to compute the same thing: each run once untimed, then rounds of
// three timed runs of each (at least three rounds, and more for short work, until 2 ms have
// been timed or 30 rounds run); returns the index of the best round's way. (Short products
// are within a few microseconds of each other, where one round picked by the noise: 512 x
// 768 x 3072 dX, fused 0.033 ms, was once taken over materialize's 0.025. Single runs timed
// apart favour the one-launch fused path: the host's work for the others' launches is not
// hidden.)
template <class Way>
std::size_t fastest(const std::vector<Way>& ways) {
  for (const Way& way : ways) way();
  std::vector<float> best(ways.size(), 1e30f);
  float timed = 0.0f;
  for (int round = 0; round < 30 && (round < 3 || timed < 2.0f); ++round)
    for (std::size_t i = 0; i < ways.size(); ++i) {
      const float ms = time_runs(ways[i]);
      best[i] = std::min(best[i], ms);
      timed += 3.0f * ms;
    }
  return std::size_t(std::min_element(best.begin(), best.end()) - best.begin());
}

bool time_fused_wins(int pass, const Call& c, const float* a, const float* b, std::int64_t M, float* out) {
  const std::vector<std::function<void()>> ways = {[&] { fused(pass, c, a, b, M, out); },
                                                   [&] { materialized(pass, c, a, b, M, out); }};
  return fastest(ways) == 0;
}

// The key of a product in the device context's choices: shape, tiles, pass and precision.
DeviceContext::PathKey choice_key(const Mapping& map, const Numerics& numerics, std::int64_t M, int pass) {
  return DeviceContext::PathKey{int(map.scheme), int(map.sign_mode), map.rows,      map.cols, M,
                                map.tile_rows,   map.tile_cols,      pass,          int(numerics.precision)};
}

// Times both paths on this product once (dM into a scratch copy of the region) and
// remembers the faster in the device context.
bool fused_wins(int pass, const Call& c, const float* a, const float* b, std::int64_t M, float* out) {
  const DeviceContext::PathKey key = choice_key(c.map, c.numerics, M, pass);
  DeviceContext& ctx = context();
  const int known = ctx.path_choice(key);
  if (known >= 0) return known == 1;
  bool wins;
  if (pass == 2) {
    DeviceBuffer region(std::size_t(c.map.region_size) * sizeof(float));
    float* shifted = region.as<float>() - c.map.region_base;  // cells are absolute indices
    wins = time_fused_wins(pass, c, a, b, M, shifted);
  } else {
    wins = time_fused_wins(pass, c, a, b, M, out);
  }
  ctx.set_path_choice(key, wins);
  return wins;
}

// The path of auto_select in deterministic mode, a fixed rule: the fused kernels for small M
// (where they win at every measured shape) and, in fp32, for the forward and dX that the
// wgmma kernels serve (3xTF32: 1.1-1.6x cuBLAS SGEMM at M >= 512); materialize-then-cuBLAS
// otherwise.
bool deterministic_choice(int pass, const Call& c, std::int64_t M) {
  if (M <= rmm::kSmallM) return true;
  return !c.tf32() && rmm::has_view(c.map) && rmm::wgmma_fits(rmm::view_of(c.map, c.cache), pass);
}

void run(int pass, const Call& c, const float* a, const float* b, std::int64_t M, float* out) {
  if (M <= 0) return;
  // The fused kernels have no bf16 form: bf16 products always materialise.
  if (c.numerics.precision == Precision::bf16) return materialized_bf16(pass, c, a, b, M, out);
  const bool deterministic = c.numerics.deterministic;
  // Deterministic dM sums per cell in a fixed order, which needs the dense gradient.
  bool use_fused = rmm::has_view(c.map) && !(pass == 2 && deterministic);
  if (use_fused) {
    switch (c.numerics.matmul_path) {
      case MatmulPath::fused: break;
      case MatmulPath::materialize: use_fused = false; break;
      case MatmulPath::auto_select:
        // Timing could pick differently from run to run, and the two paths round
        // differently: deterministic runs use a fixed rule instead.
        use_fused = deterministic ? deterministic_choice(pass, c, M) : fused_wins(pass, c, a, b, M, out);
        break;
    }
  }
  (use_fused ? fused : materialized)(pass, c, a, b, M, out);
}

// The caller's cache, or one for this call alone (freed, stream-ordered, when the call ends).
struct CacheOrLocal {
  std::unique_ptr<MappingCache> local;
  MappingCache& cache;
  explicit CacheOrLocal(MappingCache* given)
      : local(given ? nullptr : new MappingCache(context().device())), cache(given ? *given : *local) {}
};

}  // namespace

void roast_mm_check(const Mapping& map, const char* op) { cpu::roast_mm_check(map, op); }

void roast_mm_forward(const Mapping& map, const Numerics& numerics, MappingCache* cache, const float* memory,
                      const float* X, std::int64_t M, float* Y) {
  CacheOrLocal c(cache);
  run(0, Call{map, numerics, c.cache}, memory, X, M, Y);
}

void roast_mm_backward_input(const Mapping& map, const Numerics& numerics, MappingCache* cache, const float* memory,
                             const float* dY, std::int64_t M, float* dX) {
  CacheOrLocal c(cache);
  run(1, Call{map, numerics, c.cache}, memory, dY, M, dX);
}

void roast_mm_backward_memory(const Mapping& map, const Numerics& numerics, MappingCache* cache, const float* X,
                              const float* dY, std::int64_t M, float* dM) {
  CacheOrLocal c(cache);
  run(2, Call{map, numerics, c.cache}, X, dY, M, dM);
}

void roast_mm_backward(const Mapping& map, const Numerics& numerics, MappingCache* cache, const float* memory,
                       const float* X, const float* dY, std::int64_t M, float* dX, float* dM) {
  CacheOrLocal owner(cache);
  const Call c{map, numerics, owner.cache};
  // The two products run beside each other, where the faster pair of paths need not be the
  // faster path of each product alone (TF32 512 x 768 x 3072: both materialized 0.072 ms,
  // materialized dX beside the fused dM 0.082, though the fused dM alone is as fast). So the
  // first call of a shape under auto_select, with neither product's path chosen yet, times the
  // four pairs as they run (dM into a scratch copy of the region) and keeps the fastest; with
  // one chosen (by a call of one product alone), the other is timed alone.
  const auto untimed = [&](int pass) {
    return std::strcmp(roast_mm_selected_path(map, numerics, M, pass), "untimed") == 0;
  };
  if (untimed(1) && untimed(2)) {
    DeviceBuffer region(std::size_t(map.region_size) * sizeof(float));
    float* shifted = region.as<float>() - map.region_base;  // cells are absolute indices
    std::vector<std::function<void()>> pairs;
    for (int i = 0; i < 4; ++i)
      pairs.push_back([&, i] {
        run_beside([&] { ((i & 2) ? fused : materialized)(2, c, X, dY, M, shifted); },
                   [&] { ((i & 1) ? fused : materialized)(1, c, memory, dY, M, dX); });
      });
    const std::size_t best = fastest(pairs);
    DeviceContext& ctx = context();
    ctx.set_path_choice(choice_key(map, numerics, M, 1), (best & 1) != 0);
    ctx.set_path_choice(choice_key(map, numerics, M, 2), (best & 2) != 0);
  } else if (untimed(1) || untimed(2)) {
    run(1, c, memory, dY, M, dX);
    run(2, c, X, dY, M, dM);
    return;
  }
  run_beside([&] { run(2, c, X, dY, M, dM); }, [&] { run(1, c, memory, dY, M, dX); });
}

void roast_mm_materialize(const Mapping& map, MappingCache* cache, const float* memory, float* W) {
  const std::int64_t n = map.rows * map.cols;
  if (!rmm::has_view(map)) {
    materialize_hashed_kernel<float><<<blocks_for(n), 256, 0, stream()>>>(map, memory, W);
  } else {
    CacheOrLocal c(cache);
    const WeightView w = rmm::view_of(map, c.cache);
    const bool by4 = w.cols % 4 == 0 && w.tile_cols % 4 == 0 && reinterpret_cast<std::uintptr_t>(W) % 16 == 0;
    if (by4) launch_rows(materialize_view4_kernel, w, memory, W, 4);
    else launch_rows(materialize_view_kernel<float>, w, memory, W);
  }
  check_launch("roast_mm materialize");
}

void roast_mm_accumulate_dense(const Mapping& map, const Numerics& numerics, MappingCache* cache, const float* dW,
                               float* dM) {
  CacheOrLocal c(cache);
  if (numerics.deterministic) {
    if (!rmm::accumulate_owned(map, c.cache, dW, dM)) rmm::accumulate_deterministic(map, dW, dM);
    return;
  }
  // A memory larger than L2 takes each cell's sum in one pass (accumulate_owned) rather than
  // atomic adds, which then read and write HBM. Measured on the H100 (TF32, 512 x 10240^2,
  // materialised dM): 16M floats 1.055 -> 0.865 ms, f+b 2.13 -> 1.95; with the memory in L2
  // the atomics are as fast or faster (1M floats 0.836 against 0.901).
  if (larger_than_l2(map.region_size) && rmm::accumulate_owned(map, c.cache, dW, dM)) return;
  const std::int64_t n = map.rows * map.cols;
  if (rmm::has_view(map)) launch_rows(accumulate_view_kernel, rmm::view_of(map, c.cache), dW, dM, 4);
  else accumulate_hashed_kernel<<<blocks_for(n), 256, 0, stream()>>>(map, dW, dM);
  check_launch("roast_mm accumulate");
}

void roast_mm_forget_paths() { context().forget_path_choices(); }

const char* roast_mm_selected_path(const Mapping& map, const Numerics& numerics, std::int64_t M, int pass) {
  if (numerics.precision == Precision::bf16) return "materialize";
  if (!rmm::has_view(map) || (pass == 2 && numerics.deterministic)) return "materialize";
  if (numerics.matmul_path != MatmulPath::auto_select)
    return numerics.matmul_path == MatmulPath::fused ? "fused" : "materialize";
  if (numerics.deterministic) {
    CacheOrLocal c(nullptr);
    return deterministic_choice(pass, Call{map, numerics, c.cache}, M) ? "fused" : "materialize";
  }
  const int known = context().path_choice(choice_key(map, numerics, M, pass));
  return known < 0 ? "untimed" : known == 1 ? "fused" : "materialize";
}

}  // namespace cuda
}  // namespace kernels
}  // namespace roast
