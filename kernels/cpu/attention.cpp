// Fused self-attention on the CPU (kernels/kernel_list.inc, section "attention").
//
// q, k, v, out and the gradients are token-major [B, T, H * dh]: one head's rows are Eigen maps
// with an outer stride of H * dh (rows_of), read and written in place. Q_s below is a head's
// query rows copied into thread-local scratch and multiplied by q_scale (the rounding of
// (q * q_scale) that the unfused reference does too).
//
// Forward: one task per (bh, block of kAttentionRowBlock query rows), OpenMP over the tasks. A task
// holds one block of scores at a time, [rows, kKeyBlock] (the T x T matrix never exists), and
// runs the online softmax over the key blocks: S = Q_s K_blk^T (Eigen), row maxima m and
// sums l rescaled as new blocks raise the maximum, P = exp(S - m) with padded keys exactly 0,
// the dropout mask applied to P after the sum, O += P V_blk (Eigen). At the end out = O / l and
// lse = m + log l. Key blocks whose keys are all padded are skipped.
//
// Backward: one task per bh (each of its gk / gv rows is summed by one thread, in a fixed
// order: deterministic for any thread count). D_i = <gout_i, out_i> first; then per (query
// block, key block): P = exp(Q_s K^T - lse) recomputed, dP = gout V^T, the dropout mask z
// redrawn from the hash, gv += (P z)^T gout, dS = P (dP z - D), gq += dS K, gk += dS^T Q_s;
// at the end gq *= q_scale (so gq and gk are the gradients of the unscaled q).
#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/backend.h"
#include "kernels/dropout_hash.h"

namespace roast {
namespace kernels {
namespace cpu {
namespace {
using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Mat = Eigen::Map<RowMat, Eigen::Unaligned, Eigen::OuterStride<>>;
using ConstMat = Eigen::Map<const RowMat, Eigen::Unaligned, Eigen::OuterStride<>>;
using RowArray = Eigen::Map<Eigen::Array<float, 1, Eigen::Dynamic>>;

constexpr i64 kAttentionRowBlock = 64;           // query rows per forward task / backward block
constexpr i64 kKeyBlock = 256;          // keys per forward score block
constexpr i64 kBackwardKeyBlock = 128;  // keys per backward block
constexpr i64 kAttentionParallelMin = 1 << 16;   // BH * T * T below this: one thread

constexpr std::uint32_t kNoDropout = 1u << 24;  // dropout_bits are 24 bits: all below

// Rows [first, first + n) of one head whose row t starts at head + t * ld (ld = H * dh for the
// token-major arrays, dh for contiguous scratch).
ConstMat rows_of(const float* head, i64 first, i64 n, i64 dh, i64 ld) {
  return ConstMat(head + first * ld, n, dh, Eigen::OuterStride<>(ld));
}
Mat rows_of(float* head, i64 first, i64 n, i64 dh, i64 ld) {
  return Mat(head + first * ld, n, dh, Eigen::OuterStride<>(ld));
}

// Where the head bh = b * heads + h starts in a token-major [B, T, heads * dh] array.
i64 head_offset(i64 bh, i64 heads, i64 T, i64 dh) { return ((bh / heads) * T * heads + bh % heads) * dh; }

// Per batch element: whether every key is padded (then each query attends uniformly over all
// T keys, its scores constant).
std::vector<char> dead_sequences(const float* key_mask, i64 batch, i64 T) {
  std::vector<char> dead(std::size_t(batch), 0);
  if (key_mask == nullptr) return dead;
  for (i64 b = 0; b < batch; ++b) {
    bool any = false;
    for (i64 j = 0; j < T && !any; ++j) any = key_mask[b * T + j] != 0.0f;
    dead[std::size_t(b)] = !any;
  }
  return dead;
}

// The keys [c0, c0 + n) of one sequence: 0 for kept, -inf for padded, in `bias`; returns
// whether any is kept.
bool key_bias(const float* mask_row, i64 c0, i64 n, float* bias) {
  bool any = false;
  for (i64 j = 0; j < n; ++j) {
    const bool keep = mask_row[c0 + j] != 0.0f;
    bias[j] = keep ? 0.0f : -INFINITY;
    any = any || keep;
  }
  return any;
}

// Thread-local scratch, grown on demand (no allocation in a steady state). Aligned as Eigen's
// packets: Eigen's vectorised sums (a row's s.sum()) start their packets at the first aligned
// element, so their order of additions depends on the address modulo the packet size; with
// every thread's scratch aligned alike, the results are the same on every thread.
using Scratch = std::vector<float, Eigen::aligned_allocator<float>>;
float* scratch(Scratch& buffer, std::size_t n) {
  if (buffer.size() < n) buffer.resize(n);
  return buffer.data();
}
}  // namespace

void attention_forward(const float* q, const float* k, const float* v, const float* key_mask, float* out, float* lse,
                       i64 batch, i64 heads, i64 T, i64 dh, float q_scale, std::uint32_t keep_below,
                       float drop_scale, DropoutSeed dropout_seed_of) {
  const std::uint64_t seed = dropout_seed(dropout_seed_of.salt, dropout_seed_of.step);
  const i64 bh_count = batch * heads;
  if (bh_count == 0 || T == 0) return;
  const std::vector<char> dead = dead_sequences(key_mask, batch, T);
  const i64 row_blocks = (T + kAttentionRowBlock - 1) / kAttentionRowBlock;
  const i64 key_block = std::min(T, kKeyBlock);
  const bool dropout = keep_below < kNoDropout;
  const i64 n_tasks = bh_count * row_blocks;
  const i64 ld = heads * dh;  // between consecutive tokens of one head
#pragma omp parallel for schedule(dynamic, 1) if (bh_count * T * T >= kAttentionParallelMin)
  for (i64 task = 0; task < n_tasks; ++task) {
    thread_local Scratch buffer;
    const i64 bh = task / row_blocks, r0 = (task % row_blocks) * kAttentionRowBlock;
    const i64 rows = std::min(kAttentionRowBlock, T - r0);
    const i64 b = bh / heads;
    const bool is_dead = dead[std::size_t(b)] != 0;
    const float* mask_row = (key_mask != nullptr && !is_dead) ? key_mask + b * T : nullptr;
    float* S_data = scratch(buffer, std::size_t(kAttentionRowBlock * (key_block + dh) + 3 * kAttentionRowBlock +
                                                key_block));
    float* m = S_data + kAttentionRowBlock * key_block;  // running row maxima
    float* l = m + kAttentionRowBlock;                    // running row sums (before dropout)
    float* alpha = l + kAttentionRowBlock;
    float* bias = alpha + kAttentionRowBlock;
    float* Qs_data = bias + key_block;                    // [rows, dh]: q_scale * Q
    const i64 base = bh * T;                              // row bh * T + i of lse and the dropout index
    const i64 head = head_offset(bh, heads, T, dh);
    const float *kh = k + head, *vh = v + head;
    Mat Q_s = rows_of(Qs_data, 0, rows, dh, dh);
    Q_s.noalias() = rows_of(q + head, r0, rows, dh, ld) * q_scale;
    Mat O = rows_of(out + head, r0, rows, dh, ld);
    O.setZero();
    std::fill(m, m + rows, -INFINITY);
    std::fill(l, l + rows, 0.0f);
    for (i64 c0 = 0; c0 < T; c0 += key_block) {
      const i64 cols = std::min(key_block, T - c0);
      if (mask_row != nullptr && !key_bias(mask_row, c0, cols, bias)) continue;  // every key padded
      Mat S(S_data, rows, cols, Eigen::OuterStride<>(key_block));
      if (is_dead) {
        S.setZero();  // constant scores: uniform weights
      } else {
        S.noalias() = Q_s * rows_of(kh, c0, cols, dh, ld).transpose();
      }
      for (i64 i = 0; i < rows; ++i) {
        RowArray s(S_data + i * key_block, cols);
        if (mask_row != nullptr) s += Eigen::Map<const Eigen::Array<float, 1, Eigen::Dynamic>>(bias, cols);
        const float mx = std::max(m[i], s.maxCoeff());  // finite: this block has a kept key
        alpha[i] = std::exp(m[i] - mx);                  // 0 while m[i] = -inf
        m[i] = mx;
        s = (s - mx).exp();
        if (mask_row != nullptr)
          for (i64 j = 0; j < cols; ++j)
            if (bias[j] != 0.0f) s[j] = 0.0f;  // exactly 0 (Eigen's exp of -inf is ~3e-39)
        l[i] = l[i] * alpha[i] + s.sum();
        if (dropout) {
          const i64 at = (base + r0 + i) * T + c0;
          for (i64 j = 0; j < cols; ++j) s[j] *= dropout_bits(seed, at + j) < keep_below ? drop_scale : 0.0f;
        }
        if (alpha[i] != 1.0f) O.row(i) *= alpha[i];
      }
      O.noalias() += S * rows_of(vh, c0, cols, dh, ld);
    }
    for (i64 i = 0; i < rows; ++i) {
      O.row(i) *= 1.0f / l[i];
      lse[base + r0 + i] = m[i] + std::log(l[i]);
    }
  }
}

void attention_backward(const float* q, const float* k, const float* v, const float* key_mask, const float* out,
                        const float* lse, const float* gout, float* gq, float* gk, float* gv, i64 batch, i64 heads,
                        i64 T, i64 dh, float q_scale, std::uint32_t keep_below, float drop_scale,
                        DropoutSeed dropout_seed_of) {
  const std::uint64_t seed = dropout_seed(dropout_seed_of.salt, dropout_seed_of.step);
  const i64 bh_count = batch * heads;
  if (bh_count == 0 || T == 0) return;
  const std::vector<char> dead = dead_sequences(key_mask, batch, T);
  const i64 key_block = std::min(T, kBackwardKeyBlock);
  const bool dropout = keep_below < kNoDropout;
  const i64 ld = heads * dh;  // between consecutive tokens of one head
#pragma omp parallel for schedule(dynamic, 1) if (bh_count * T * T >= kAttentionParallelMin)
  for (i64 bh = 0; bh < bh_count; ++bh) {
    thread_local Scratch buffer;
    const i64 b = bh / heads, base = bh * T;  // row bh * T + i of lse and the dropout index
    const i64 head = head_offset(bh, heads, T, dh);
    const bool is_dead = dead[std::size_t(b)] != 0;
    const float* mask_row = (key_mask != nullptr && !is_dead) ? key_mask + b * T : nullptr;
    const std::size_t block = std::size_t(kAttentionRowBlock * key_block);
    float* P_data = scratch(buffer, 3 * block + std::size_t(T + key_block + T * dh));
    float* dP_data = P_data + block;
    float* Pd_data = dP_data + block;  // P z (dropout applied)
    float* D = Pd_data + block;        // [T]
    float* bias = D + T;               // [key_block]
    float* Qs_data = bias + key_block;  // [T, dh]: q_scale * Q
    const float *gout_h = gout + head, *out_h = out + head;
    for (i64 i = 0; i < T; ++i)
      D[i] = rows_of(gout_h, i, 1, dh, ld).cwiseProduct(rows_of(out_h, i, 1, dh, ld)).sum();
    Mat Q_s = rows_of(Qs_data, 0, T, dh, dh);
    Q_s.noalias() = rows_of(q + head, 0, T, dh, ld) * q_scale;
    const float* Q_all = Qs_data;
    Mat GQ = rows_of(gq + head, 0, T, dh, ld), GK = rows_of(gk + head, 0, T, dh, ld),
        GV = rows_of(gv + head, 0, T, dh, ld);
    GQ.setZero();
    GK.setZero();
    GV.setZero();
    for (i64 c0 = 0; c0 < T; c0 += key_block) {
      const i64 cols = std::min(key_block, T - c0);
      if (mask_row != nullptr && !key_bias(mask_row, c0, cols, bias)) continue;  // P = 0 on the block
      const ConstMat K = rows_of(k + head, c0, cols, dh, ld), V = rows_of(v + head, c0, cols, dh, ld);
      for (i64 r0 = 0; r0 < T; r0 += kAttentionRowBlock) {
        const i64 rows = std::min(kAttentionRowBlock, T - r0);
        const ConstMat Q = rows_of(Q_all, r0, rows, dh, dh), dO = rows_of(gout_h, r0, rows, dh, ld);
        Mat P(P_data, rows, cols, Eigen::OuterStride<>(key_block));
        Mat dP(dP_data, rows, cols, Eigen::OuterStride<>(key_block));
        Mat Pd(Pd_data, rows, cols, Eigen::OuterStride<>(key_block));
        if (is_dead) {
          P.setZero();
        } else {
          P.noalias() = Q * K.transpose();
        }
        dP.noalias() = dO * V.transpose();
        for (i64 i = 0; i < rows; ++i) {
          RowArray p(P_data + i * key_block, cols), dp(dP_data + i * key_block, cols);
          if (mask_row != nullptr) p += Eigen::Map<const Eigen::Array<float, 1, Eigen::Dynamic>>(bias, cols);
          p = (p - lse[base + r0 + i]).exp();
          if (mask_row != nullptr)
            for (i64 j = 0; j < cols; ++j)
              if (bias[j] != 0.0f) p[j] = 0.0f;
          if (dropout) {
            RowArray pd(Pd_data + i * key_block, cols);
            const i64 at = (base + r0 + i) * T + c0;
            for (i64 j = 0; j < cols; ++j) {
              const float z = dropout_bits(seed, at + j) < keep_below ? drop_scale : 0.0f;
              pd[j] = p[j] * z;
              dp[j] *= z;
            }
          }
          dp = p * (dp - D[r0 + i]);  // dS
        }
        GV.middleRows(c0, cols).noalias() += (dropout ? Pd : P).transpose() * dO;
        if (is_dead) continue;  // constant scores: no gradient to q or k
        GQ.middleRows(r0, rows).noalias() += dP * K;
        GK.middleRows(c0, cols).noalias() += dP.transpose() * Q;
      }
    }
    if (!is_dead) GQ *= q_scale;  // dS k was the gradient of q_scale * q
  }
}

}  // namespace cpu
}  // namespace kernels
}  // namespace roast
