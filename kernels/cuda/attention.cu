// Fused self-attention on CUDA (kernels/kernel_list.inc, section "attention"): flash-attention
// 2 style in fp32 FMA, head dims up to 128 (padded to 16, 32, 64 or 128 in shared memory).
//
// Every kernel runs 128 threads as a 16 x 8 grid (ty, tx) over a tile of 16 * RM "own" rows
// (ty owns rows ty * RM + r) and 8 * CN "other" columns (tx owns columns tx + 8 c), so that a
// row's 8 owners are 8 consecutive lanes of one warp (row reductions are 3 shuffles), and the
// products with the head dimension give tx the columns d = tx + 8 c of its rows.
//
// forward:   one block per (bh, query tile); loops over key tiles: S = Q K^T, online softmax
//            (running max m and sum l per row, rescaling the accumulator), dropout applied to
//            P after the sum, P staged in shared memory, O += P V. Writes out = O / l and
//            lse = m + log l.
// backward:  D = rowsum(gout * out) (one warp per row), then two kernels, each output element
//            summed by one thread in a fixed order (deterministic, no atomics):
//            dkdv:   one block per (bh, key tile), looping over query tiles: recomputes
//                    P^T = exp(K Q^T - lse) and dP^T = V gout^T, gv += (P z)^T gout,
//                    gk += dS^T Q with dS = P (dP z - D);
//            dq:     one block per (bh, query tile), looping over key tiles: gq += dS K.
//            S and dP are computed twice (once per kernel): the price of no atomics.
// Key tiles whose keys are all padded are skipped; a sequence whose keys are all padded
// attends uniformly over its T keys (scores taken as 0), and passes no gradient to q or k.
//
// Layout: q, k, v, out, gout, gq, gk, gv are token-major [B, T, H * dh]; the head bh = b * H +
// h starts at head_offset(bh) = (b * T * H + h) * dh and its row t is the dh floats at
// head_offset + t * ld, ld = H * dh (load_tile reads a tile row by row, each row coalesced).
// lse, D and the dropout index use base = bh * T ([BH, T] rows). The q tile is multiplied by
// q_scale as it is loaded (S = (q_scale q) k^T, and gk = dS^T (q_scale q)); gq = q_scale dS k
// is scaled when it is stored.
#include <cmath>

#include "kernels/backend.h"
#include "kernels/cuda/common.cuh"
#include "kernels/dropout_hash.h"

namespace roast {
namespace kernels {
namespace cuda {

namespace {
constexpr int kThreads = 128;
constexpr std::uint32_t kNoDropout = 1u << 24;

struct Geometry {
  const float* q;
  const float* k;
  const float* v;
  const float* key_mask;  // [batch, T] or null
  i64 heads, T, dh;
  i64 ld;                 // heads * dh: from one token's row of a head to the next
  float q_scale;          // scores = q_scale * q k^T
  std::uint32_t keep_below;
  float drop_scale;
  std::uint64_t seed;                // the salt until resolve_seed, then the seed itself
  const std::uint64_t* seed_step;    // DropoutSeed::step (on the device) or null
};

// Every kernel starts with this: the seed of the call from its salt and the step's word
// (kernels/dropout_hash.h), read once per thread.
__device__ __forceinline__ void resolve_seed(Geometry& g) { g.seed = dropout_seed(g.seed, g.seed_step); }

// Where the head bh = b * heads + h starts in a token-major [B, T, heads * dh] array.
__device__ __forceinline__ i64 head_offset(const Geometry& g, i64 bh) {
  return ((bh / g.heads) * g.T * g.heads + bh % g.heads) * g.dh;
}

// rows [row0, row0 + ROWS) of one head (row t at head[t * ld], dh floats) into dst
// [ROWS][DH + 1], times `scale`, zero beyond T and dh. Consecutive threads read consecutive
// floats of a row (coalesced per row; the whole tile is one run only when ld == dh == DH).
template <int ROWS, int DH>
__device__ __forceinline__ void load_tile(float* dst, const float* head, i64 row0, i64 T, i64 dh, i64 ld,
                                          float scale = 1.0f) {
  constexpr int LD = DH + 1;
  for (int e = threadIdx.x; e < ROWS * DH; e += kThreads) {
    const int r = e / DH, d = e % DH;
    const i64 row = row0 + r;
    dst[r * LD + d] = (row < T && d < dh) ? __ldg(head + row * ld + d) * scale : 0.0f;
  }
}

// Whether every key of the sequence is padded (all threads get the answer; a barrier).
__device__ __forceinline__ bool dead_sequence(const float* mask_row, i64 T) {
  if (mask_row == nullptr) return false;
  int any = 0;
  for (i64 j = threadIdx.x; j < T && !any; j += kThreads) any = __ldg(mask_row + j) != 0.0f;
  return !__syncthreads_or(any);
}

__device__ __forceinline__ bool key_kept(const float* mask_row, i64 j, i64 T) {
  return j < T && (mask_row == nullptr || __ldg(mask_row + j) != 0.0f);
}

__device__ __forceinline__ float dropout_factor(const Geometry& g, i64 index) {
  return dropout_bits(g.seed, index) < g.keep_below ? g.drop_scale : 0.0f;
}

// Two products of shared-memory tiles at once, over the (padded) head dim: for this thread's
// rows ty * RM + r of A1 / A2 and columns tx + 8 c of B1 / B2 (rows of [.][LD] tiles),
// p1[r][c] = <A1 row, B1 row> and p2[r][c] = <A2 row, B2 row>, summed in order of d.
template <int DH, int RM, int CN, int LD>
__device__ __forceinline__ void tile_products2(const float* A1, const float* B1, const float* A2, const float* B2,
                                               int ty, int tx, float (&p1)[RM][CN], float (&p2)[RM][CN]) {
#pragma unroll
  for (int r = 0; r < RM; ++r)
#pragma unroll
    for (int c = 0; c < CN; ++c) p1[r][c] = p2[r][c] = 0.0f;
#pragma unroll 4
  for (int d = 0; d < DH; ++d) {
    float a1[RM], a2[RM], b1[CN], b2[CN];
#pragma unroll
    for (int r = 0; r < RM; ++r) {
      a1[r] = A1[(ty * RM + r) * LD + d];
      a2[r] = A2[(ty * RM + r) * LD + d];
    }
#pragma unroll
    for (int c = 0; c < CN; ++c) {
      b1[c] = B1[(tx + 8 * c) * LD + d];
      b2[c] = B2[(tx + 8 * c) * LD + d];
    }
#pragma unroll
    for (int r = 0; r < RM; ++r)
#pragma unroll
      for (int c = 0; c < CN; ++c) {
        p1[r][c] = fmaf(a1[r], b1[c], p1[r][c]);
        p2[r][c] = fmaf(a2[r], b2[c], p2[r][c]);
      }
  }
}

// Max / sum over the 8 lanes that share a row (consecutive lanes, tx = lane % 8).
__device__ __forceinline__ float row_max8(float x) {
  x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 4));
  x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 2));
  return fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 1));
}
__device__ __forceinline__ float row_sum8(float x) {
  x += __shfl_xor_sync(0xffffffffu, x, 4);
  x += __shfl_xor_sync(0xffffffffu, x, 2);
  return x + __shfl_xor_sync(0xffffffffu, x, 1);
}

template <int DH, int RM, int CN>
struct Shape {
  static constexpr int kOwn = 16 * RM, kOther = 8 * CN, LD = DH + 1, LDP = 8 * CN + 1;
};

// ---- forward --------------------------------------------------------------------------------
template <int DH, int RM, int CN>
constexpr std::size_t forward_smem() {
  using S = Shape<DH, RM, CN>;
  return sizeof(float) * (S::kOwn * S::LD + 2 * S::kOther * S::LD + S::kOwn * S::LDP + S::kOther);
}

template <int DH, int RM, int CN>
__global__ void __launch_bounds__(kThreads) attention_forward_kernel(Geometry g, float* out, float* lse, i64 tiles) {
  resolve_seed(g);
  using S = Shape<DH, RM, CN>;
  constexpr int BR = S::kOwn, BC = S::kOther, LD = S::LD, LDP = S::LDP;
  extern __shared__ float smem[];
  float* Qs = smem;
  float* Ks = Qs + BR * LD;
  float* Vs = Ks + BC * LD;
  float* Ps = Vs + BC * LD;
  float* keep = Ps + BR * LDP;
  const int ty = threadIdx.x >> 3, tx = threadIdx.x & 7;
  const i64 bh = i64(blockIdx.x) / tiles, r0 = (i64(blockIdx.x) % tiles) * BR;
  const i64 T = g.T, dh = g.dh, ld = g.ld, base = bh * T, head = head_offset(g, bh);
  const float* mask_row = g.key_mask != nullptr ? g.key_mask + (bh / g.heads) * T : nullptr;
  const bool dead = dead_sequence(mask_row, T);
  if (dead) mask_row = nullptr;  // every key kept, scores 0: uniform weights
  const bool dropout = g.keep_below < kNoDropout;
  load_tile<BR, DH>(Qs, g.q + head, r0, T, dh, ld, g.q_scale);

  float acc[RM][DH / 8];
  float m[RM], l[RM];
#pragma unroll
  for (int r = 0; r < RM; ++r) {
    m[r] = -INFINITY;
    l[r] = 0.0f;
#pragma unroll
    for (int c = 0; c < DH / 8; ++c) acc[r][c] = 0.0f;
  }
  for (i64 c0 = 0; c0 < T; c0 += BC) {
    __syncthreads();  // the previous tile's readers are done
    int kept = 0;
    if (threadIdx.x < BC) {
      kept = key_kept(mask_row, c0 + threadIdx.x, T);
      keep[threadIdx.x] = kept ? 1.0f : 0.0f;
    }
    if (!__syncthreads_or(kept)) continue;  // every key of the tile padded
    load_tile<BC, DH>(Ks, g.k + head, c0, T, dh, ld);
    load_tile<BC, DH>(Vs, g.v + head, c0, T, dh, ld);
    __syncthreads();
    float s[RM][CN];
#pragma unroll
    for (int r = 0; r < RM; ++r)
#pragma unroll
      for (int c = 0; c < CN; ++c) s[r][c] = 0.0f;
    if (!dead) {
#pragma unroll 8
      for (int d = 0; d < DH; ++d) {
        float a[RM], b[CN];
#pragma unroll
        for (int r = 0; r < RM; ++r) a[r] = Qs[(ty * RM + r) * LD + d];
#pragma unroll
        for (int c = 0; c < CN; ++c) b[c] = Ks[(tx + 8 * c) * LD + d];
#pragma unroll
        for (int r = 0; r < RM; ++r)
#pragma unroll
          for (int c = 0; c < CN; ++c) s[r][c] = fmaf(a[r], b[c], s[r][c]);
      }
    }
#pragma unroll
    for (int r = 0; r < RM; ++r) {
      float mx = -INFINITY;
#pragma unroll
      for (int c = 0; c < CN; ++c)
        if (keep[tx + 8 * c] != 0.0f) mx = fmaxf(mx, s[r][c]);
      mx = fmaxf(m[r], row_max8(mx));  // finite: the tile has a kept key
      const float alpha = expf(m[r] - mx);  // 0 while m = -inf
      m[r] = mx;
      float sum = 0.0f;
      const i64 row = r0 + ty * RM + r;
#pragma unroll
      for (int c = 0; c < CN; ++c) {
        const int j = tx + 8 * c;
        float p = keep[j] != 0.0f ? expf(s[r][c] - mx) : 0.0f;
        sum += p;
        if (dropout && p != 0.0f && row < T) p *= dropout_factor(g, (base + row) * T + c0 + j);
        Ps[(ty * RM + r) * LDP + j] = p;
      }
      l[r] = l[r] * alpha + row_sum8(sum);
#pragma unroll
      for (int c = 0; c < DH / 8; ++c) acc[r][c] *= alpha;
    }
    __syncthreads();
#pragma unroll 4
    for (int j = 0; j < BC; ++j) {
      float p[RM], vv[DH / 8];
#pragma unroll
      for (int r = 0; r < RM; ++r) p[r] = Ps[(ty * RM + r) * LDP + j];
#pragma unroll
      for (int c = 0; c < DH / 8; ++c) vv[c] = Vs[j * LD + tx + 8 * c];
#pragma unroll
      for (int r = 0; r < RM; ++r)
#pragma unroll
        for (int c = 0; c < DH / 8; ++c) acc[r][c] = fmaf(p[r], vv[c], acc[r][c]);
    }
  }
#pragma unroll
  for (int r = 0; r < RM; ++r) {
    const i64 row = r0 + ty * RM + r;
    if (row >= T) continue;
    const float inv = 1.0f / l[r];
#pragma unroll
    for (int c = 0; c < DH / 8; ++c) {
      const int d = tx + 8 * c;
      if (d < dh) out[head + row * ld + d] = acc[r][c] * inv;
    }
    if (tx == 0) lse[base + row] = m[r] + logf(l[r]);
  }
}

// ---- backward -------------------------------------------------------------------------------
// D[bh * T + t] = <gout row, out row> of head bh's token t, one warp per row, fixed lane
// order; rows = BH * T, the rows read from the token-major arrays.
__global__ void attention_rowdot_kernel(const float* gout, const float* out, float* D, i64 rows, i64 T, i64 heads,
                                        i64 dh) {
  const i64 row = (i64(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x & 31;
  if (row >= rows) return;
  const i64 bh = row / T, t = row % T;
  const i64 at = ((bh / heads) * T + t) * heads * dh + (bh % heads) * dh;  // ((b T + t) H + h) dh
  float acc = 0.0f;
  for (i64 d = lane; d < dh; d += 32) acc = fmaf(gout[at + d], out[at + d], acc);
  for (int off = 16; off > 0; off >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, off);
  if (lane == 0) D[row] = acc;
}

template <int DH, int RM, int CN>
constexpr std::size_t dkdv_smem() {
  using S = Shape<DH, RM, CN>;
  return sizeof(float) * (2 * S::kOwn * S::LD + 2 * S::kOther * S::LD + 2 * S::kOwn * S::LDP + 2 * S::kOther);
}

// One block per (bh, key tile of 16 RM keys); own rows are keys, columns are queries.
template <int DH, int RM, int CN>
__global__ void __launch_bounds__(kThreads)
    attention_dkdv_kernel(Geometry g, const float* gout, const float* lse, const float* D, float* gk, float* gv,
                          i64 tiles) {
  resolve_seed(g);
  using S = Shape<DH, RM, CN>;
  constexpr int BK = S::kOwn, BQ = S::kOther, LD = S::LD, LDP = S::LDP;
  extern __shared__ float smem[];
  float* Ks = smem;
  float* Vs = Ks + BK * LD;
  float* Qs = Vs + BK * LD;
  float* dOs = Qs + BQ * LD;
  float* PdT = dOs + BQ * LD;  // [BK][LDP]: P z
  float* dST = PdT + BK * LDP;  // [BK][LDP]: dS
  float* lse_s = dST + BK * LDP;
  float* D_s = lse_s + BQ;
  const int ty = threadIdx.x >> 3, tx = threadIdx.x & 7;
  const i64 bh = i64(blockIdx.x) / tiles, c0 = (i64(blockIdx.x) % tiles) * BK;
  const i64 T = g.T, dh = g.dh, ld = g.ld, base = bh * T, head = head_offset(g, bh);
  const float* mask_row = g.key_mask != nullptr ? g.key_mask + (bh / g.heads) * T : nullptr;
  const bool dead = dead_sequence(mask_row, T);
  if (dead) mask_row = nullptr;
  const bool dropout = g.keep_below < kNoDropout;
  bool kept[RM];
  int any = 0;
#pragma unroll
  for (int r = 0; r < RM; ++r) {
    kept[r] = key_kept(mask_row, c0 + ty * RM + r, T);
    any |= kept[r];
  }
  float adk[RM][DH / 8], adv[RM][DH / 8];
#pragma unroll
  for (int r = 0; r < RM; ++r)
#pragma unroll
    for (int c = 0; c < DH / 8; ++c) adk[r][c] = adv[r][c] = 0.0f;
  if (__syncthreads_or(any)) {  // else every key of the tile is padded: zero gradients
    load_tile<BK, DH>(Ks, g.k + head, c0, T, dh, ld);
    load_tile<BK, DH>(Vs, g.v + head, c0, T, dh, ld);
    for (i64 q0 = 0; q0 < T; q0 += BQ) {
      __syncthreads();
      load_tile<BQ, DH>(Qs, g.q + head, q0, T, dh, ld, g.q_scale);  // scaled: S and gk = dS^T (q_scale q)
      load_tile<BQ, DH>(dOs, gout + head, q0, T, dh, ld);
      if (threadIdx.x < BQ) {
        const i64 i = q0 + threadIdx.x;
        lse_s[threadIdx.x] = i < T ? lse[base + i] : 0.0f;
        D_s[threadIdx.x] = i < T ? D[base + i] : 0.0f;
      }
      __syncthreads();
      float st[RM][CN], dpt[RM][CN];
      tile_products2<DH, RM, CN, LD>(Ks, Qs, Vs, dOs, ty, tx, st, dpt);
#pragma unroll
      for (int r = 0; r < RM; ++r) {
        const i64 key = c0 + ty * RM + r;
#pragma unroll
        for (int c = 0; c < CN; ++c) {
          const int qi = tx + 8 * c;
          const i64 i = q0 + qi;
          float p = 0.0f, pd = 0.0f, ds = 0.0f;
          if (kept[r] && i < T) {
            p = expf((dead ? 0.0f : st[r][c]) - lse_s[qi]);
            const float z = dropout ? dropout_factor(g, (base + i) * T + key) : 1.0f;
            pd = p * z;
            ds = dead ? 0.0f : p * (dpt[r][c] * z - D_s[qi]);
          }
          PdT[(ty * RM + r) * LDP + qi] = pd;
          dST[(ty * RM + r) * LDP + qi] = ds;
        }
      }
      __syncthreads();
#pragma unroll 4
      for (int qi = 0; qi < BQ; ++qi) {
        float pr[RM], sr[RM], o[DH / 8], x[DH / 8];
#pragma unroll
        for (int r = 0; r < RM; ++r) {
          pr[r] = PdT[(ty * RM + r) * LDP + qi];
          sr[r] = dST[(ty * RM + r) * LDP + qi];
        }
#pragma unroll
        for (int c = 0; c < DH / 8; ++c) {
          o[c] = dOs[qi * LD + tx + 8 * c];
          x[c] = Qs[qi * LD + tx + 8 * c];
        }
#pragma unroll
        for (int r = 0; r < RM; ++r)
#pragma unroll
          for (int c = 0; c < DH / 8; ++c) {
            adv[r][c] = fmaf(pr[r], o[c], adv[r][c]);
            adk[r][c] = fmaf(sr[r], x[c], adk[r][c]);
          }
      }
    }
  }
#pragma unroll
  for (int r = 0; r < RM; ++r) {
    const i64 key = c0 + ty * RM + r;
    if (key >= T) continue;
#pragma unroll
    for (int c = 0; c < DH / 8; ++c) {
      const int d = tx + 8 * c;
      if (d < dh) {
        gk[head + key * ld + d] = adk[r][c];
        gv[head + key * ld + d] = adv[r][c];
      }
    }
  }
}

template <int DH, int RM, int CN>
constexpr std::size_t dq_smem() {
  using S = Shape<DH, RM, CN>;
  return sizeof(float) * (2 * S::kOwn * S::LD + 2 * S::kOther * S::LD + S::kOwn * S::LDP + S::kOther);
}

// One block per (bh, query tile of 16 RM queries); own rows are queries, columns are keys.
template <int DH, int RM, int CN>
__global__ void __launch_bounds__(kThreads)
    attention_dq_kernel(Geometry g, const float* gout, const float* lse, const float* D, float* gq, i64 tiles) {
  resolve_seed(g);
  using S = Shape<DH, RM, CN>;
  constexpr int BQ = S::kOwn, BK = S::kOther, LD = S::LD, LDP = S::LDP;
  extern __shared__ float smem[];
  float* Qs = smem;
  float* dOs = Qs + BQ * LD;
  float* Ks = dOs + BQ * LD;
  float* Vs = Ks + BK * LD;
  float* dSs = Vs + BK * LD;  // [BQ][LDP]
  float* keep = dSs + BQ * LDP;
  const int ty = threadIdx.x >> 3, tx = threadIdx.x & 7;
  const i64 bh = i64(blockIdx.x) / tiles, r0 = (i64(blockIdx.x) % tiles) * BQ;
  const i64 T = g.T, dh = g.dh, ld = g.ld, base = bh * T, head = head_offset(g, bh);
  const float* mask_row = g.key_mask != nullptr ? g.key_mask + (bh / g.heads) * T : nullptr;
  const bool dead = dead_sequence(mask_row, T);
  const bool dropout = g.keep_below < kNoDropout;
  float acc[RM][DH / 8];
#pragma unroll
  for (int r = 0; r < RM; ++r)
#pragma unroll
    for (int c = 0; c < DH / 8; ++c) acc[r][c] = 0.0f;
  float row_lse[RM], row_D[RM];
#pragma unroll
  for (int r = 0; r < RM; ++r) {
    const i64 row = r0 + ty * RM + r;
    row_lse[r] = row < T ? lse[base + row] : 0.0f;
    row_D[r] = row < T ? D[base + row] : 0.0f;
  }
  if (!dead) {  // a dead sequence's scores are constants: gq = 0
    load_tile<BQ, DH>(Qs, g.q + head, r0, T, dh, ld, g.q_scale);
    load_tile<BQ, DH>(dOs, gout + head, r0, T, dh, ld);
    for (i64 c0 = 0; c0 < T; c0 += BK) {
      __syncthreads();
      int kept = 0;
      if (threadIdx.x < BK) {
        kept = key_kept(mask_row, c0 + threadIdx.x, T);
        keep[threadIdx.x] = kept ? 1.0f : 0.0f;
      }
      if (!__syncthreads_or(kept)) continue;
      load_tile<BK, DH>(Ks, g.k + head, c0, T, dh, ld);
      load_tile<BK, DH>(Vs, g.v + head, c0, T, dh, ld);
      __syncthreads();
      float s[RM][CN], dp[RM][CN];
      tile_products2<DH, RM, CN, LD>(Qs, Ks, dOs, Vs, ty, tx, s, dp);
#pragma unroll
      for (int r = 0; r < RM; ++r) {
        const i64 row = r0 + ty * RM + r;
#pragma unroll
        for (int c = 0; c < CN; ++c) {
          const int j = tx + 8 * c;
          float ds = 0.0f;
          if (keep[j] != 0.0f && row < T) {
            const float p = expf(s[r][c] - row_lse[r]);
            const float z = dropout ? dropout_factor(g, (base + row) * T + c0 + j) : 1.0f;
            ds = p * (dp[r][c] * z - row_D[r]);
          }
          dSs[(ty * RM + r) * LDP + j] = ds;
        }
      }
      __syncthreads();
#pragma unroll 4
      for (int j = 0; j < BK; ++j) {
        float sr[RM], kk[DH / 8];
#pragma unroll
        for (int r = 0; r < RM; ++r) sr[r] = dSs[(ty * RM + r) * LDP + j];
#pragma unroll
        for (int c = 0; c < DH / 8; ++c) kk[c] = Ks[j * LD + tx + 8 * c];
#pragma unroll
        for (int r = 0; r < RM; ++r)
#pragma unroll
          for (int c = 0; c < DH / 8; ++c) acc[r][c] = fmaf(sr[r], kk[c], acc[r][c]);
      }
    }
  }
#pragma unroll
  for (int r = 0; r < RM; ++r) {
    const i64 row = r0 + ty * RM + r;
    if (row >= T) continue;
#pragma unroll
    for (int c = 0; c < DH / 8; ++c) {
      const int d = tx + 8 * c;
      if (d < dh) gq[head + row * ld + d] = acc[r][c] * g.q_scale;  // dS k was for q_scale * q
    }
  }
}

// Opts a kernel into `bytes` of dynamic shared memory once per device (above the 48 KB default).
template <typename Kernel>
void allow_smem(Kernel* kernel, std::size_t bytes, const char* what) {
  context().fact(reinterpret_cast<const void*>(kernel), 0, [&] {
    check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)), what);
    return 1;
  });
}

i64 ceil_div(i64 a, i64 b) { return (a + b - 1) / b; }

// Tile shapes per padded head dim (RM rows per thread, CN columns per thread): the
// accumulators (RM * DH / 8 per output, one or two outputs) and the micro tiles (RM * CN,
// one or two) stay in registers.
template <int DH>
void forward_dh(const Geometry& g, i64 bh_count, float* out, float* lse) {
  constexpr int RM = 4, CN = DH >= 128 ? 4 : 8;
  constexpr std::size_t smem = forward_smem<DH, RM, CN>();
  const i64 tiles = ceil_div(g.T, 16 * RM);
  allow_smem(attention_forward_kernel<DH, RM, CN>, smem, "cudaFuncSetAttribute (attention_forward)");
  attention_forward_kernel<DH, RM, CN><<<unsigned(bh_count * tiles), kThreads, smem, stream()>>>(g, out, lse, tiles);
  check_launch("attention_forward");
}

template <int DH>
void backward_dh(const Geometry& g, i64 bh_count, const float* gout, const float* lse, const float* D, float* gq,
                 float* gk, float* gv) {
  {
    constexpr int RM = DH >= 64 ? 2 : 4, CN = DH >= 128 ? 4 : 8;
    constexpr std::size_t smem = dkdv_smem<DH, RM, CN>();
    const i64 tiles = ceil_div(g.T, 16 * RM);
    allow_smem(attention_dkdv_kernel<DH, RM, CN>, smem, "cudaFuncSetAttribute (attention_backward dk dv)");
    attention_dkdv_kernel<DH, RM, CN><<<unsigned(bh_count * tiles), kThreads, smem, stream()>>>(g, gout, lse, D, gk,
                                                                                                 gv, tiles);
    check_launch("attention_backward (dk dv)");
  }
  {
    constexpr int RM = 4, CN = DH >= 128 ? 4 : 8;
    constexpr std::size_t smem = dq_smem<DH, RM, CN>();
    const i64 tiles = ceil_div(g.T, 16 * RM);
    allow_smem(attention_dq_kernel<DH, RM, CN>, smem, "cudaFuncSetAttribute (attention_backward dq)");
    attention_dq_kernel<DH, RM, CN><<<unsigned(bh_count * tiles), kThreads, smem, stream()>>>(g, gout, lse, D, gq,
                                                                                               tiles);
    check_launch("attention_backward (dq)");
  }
}

Geometry geometry(const float* q, const float* k, const float* v, const float* key_mask, i64 heads, i64 T, i64 dh,
                  float q_scale, std::uint32_t keep_below, float drop_scale, DropoutSeed seed, const char* op) {
  if (dh < 1 || dh > 128)
    fail(op, ": the CUDA kernel serves head dims 1..128, got ", dh, " (nn::attention falls back to the unfused path)");
  return Geometry{q, k, v, key_mask, heads, T, dh, heads * dh, q_scale, keep_below, drop_scale, seed.salt, seed.step};
}
}  // namespace

void attention_forward(const float* q, const float* k, const float* v, const float* key_mask, float* out, float* lse,
                       i64 batch, i64 heads, i64 T, i64 dh, float q_scale, std::uint32_t keep_below,
                       float drop_scale, DropoutSeed seed) {
  const i64 bh_count = batch * heads;
  if (bh_count == 0 || T == 0) return;
  const Geometry g =
      geometry(q, k, v, key_mask, heads, T, dh, q_scale, keep_below, drop_scale, seed, "attention_forward");
  if (dh <= 16) forward_dh<16>(g, bh_count, out, lse);
  else if (dh <= 32) forward_dh<32>(g, bh_count, out, lse);
  else if (dh <= 64) forward_dh<64>(g, bh_count, out, lse);
  else forward_dh<128>(g, bh_count, out, lse);
}

void attention_backward(const float* q, const float* k, const float* v, const float* key_mask, const float* out,
                        const float* lse, const float* gout, float* gq, float* gk, float* gv, i64 batch, i64 heads,
                        i64 T, i64 dh, float q_scale, std::uint32_t keep_below, float drop_scale, DropoutSeed seed) {
  const i64 bh_count = batch * heads;
  if (bh_count == 0 || T == 0) return;
  const Geometry g =
      geometry(q, k, v, key_mask, heads, T, dh, q_scale, keep_below, drop_scale, seed, "attention_backward");
  const i64 rows = bh_count * T;
  DeviceBuffer D(std::size_t(rows) * sizeof(float));  // [BH, T]
  attention_rowdot_kernel<<<unsigned(ceil_div(rows * 32, 256)), 256, 0, stream()>>>(gout, out, D.as<float>(), rows,
                                                                                    T, heads, dh);
  check_launch("attention_backward (rowdot)");
  const float* Dp = D.as<float>();
  if (dh <= 16) backward_dh<16>(g, bh_count, gout, lse, Dp, gq, gk, gv);
  else if (dh <= 32) backward_dh<32>(g, bh_count, gout, lse, Dp, gq, gk, gv);
  else if (dh <= 64) backward_dh<64>(g, bh_count, gout, lse, Dp, gq, gk, gv);
  else backward_dh<128>(g, bh_count, gout, lse, Dp, gq, gk, gv);
}

}  // namespace cuda
}  // namespace kernels
}  // namespace roast
