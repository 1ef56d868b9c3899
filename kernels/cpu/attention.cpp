// Fused self-attention on the CPU (kernels/kernel_list.inc, section "attention").
//
// Forward: one task per (bh, block of kAttentionRowBlock query rows), OpenMP over the tasks. A task
// holds one block of scores at a time, [rows, kKeyBlock] (the T x T matrix never exists), and
// runs the online softmax over the key blocks: S = Q_blk K_blk^T (Eigen), row maxima m and
// sums l rescaled as new blocks raise the maximum, P = exp(S - m) with padded keys exactly 0,
// the dropout mask applied to P after the sum, O += P V_blk (Eigen). At the end out = O / l and
// lse = m + log l. Key blocks whose keys are all padded are skipped.
//
// Backward: one task per bh (each of its gk / gv rows is summed by one thread, in a fixed
// order: deterministic for any thread count). D_i = <gout_i, out_i> first; then per (query
// block, key block): P = exp(Q K^T - lse) recomputed, dP = gout V^T, the dropout mask z
// redrawn from the hash, gv += (P z)^T gout, dS = P (dP z - D), gq += dS K, gk += dS^T Q.
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

ConstMat rows_of(const float* base, i64 first, i64 n, i64 dh) { return ConstMat(base + first * dh, n, dh, Eigen::OuterStride<>(dh)); }
Mat rows_of(float* base, i64 first, i64 n, i64 dh) { return Mat(base + first * dh, n, dh, Eigen::OuterStride<>(dh)); }

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

// Thread-local scratch, grown on demand (no allocation in a steady state).
float* scratch(std::vector<float>& buffer, std::size_t n) {
  if (buffer.size() < n) buffer.resize(n);
  return buffer.data();
}
}  // namespace

void attention_forward(const float* q, const float* k, const float* v, const float* key_mask, float* out, float* lse,
                       i64 batch, i64 heads, i64 T, i64 dh, std::uint32_t keep_below, float drop_scale,
                       DropoutSeed dropout_seed_of) {
  const std::uint64_t seed = dropout_seed(dropout_seed_of.salt, dropout_seed_of.step);
  const i64 bh_count = batch * heads;
  if (bh_count == 0 || T == 0) return;
  const std::vector<char> dead = dead_sequences(key_mask, batch, T);
  const i64 row_blocks = (T + kAttentionRowBlock - 1) / kAttentionRowBlock;
  const i64 key_block = std::min(T, kKeyBlock);
  const bool dropout = keep_below < kNoDropout;
  const i64 n_tasks = bh_count * row_blocks;
#pragma omp parallel for schedule(dynamic, 1) if (bh_count * T * T >= kAttentionParallelMin)
  for (i64 task = 0; task < n_tasks; ++task) {
    thread_local std::vector<float> buffer;
    const i64 bh = task / row_blocks, r0 = (task % row_blocks) * kAttentionRowBlock;
    const i64 rows = std::min(kAttentionRowBlock, T - r0);
    const i64 b = bh / heads;
    const bool is_dead = dead[std::size_t(b)] != 0;
    const float* mask_row = (key_mask != nullptr && !is_dead) ? key_mask + b * T : nullptr;
    float* S_data = scratch(buffer, std::size_t(kAttentionRowBlock * key_block + 3 * kAttentionRowBlock + key_block));
    float* m = S_data + kAttentionRowBlock * key_block;  // running row maxima
    float* l = m + kAttentionRowBlock;                    // running row sums (before dropout)
    float* alpha = l + kAttentionRowBlock;
    float* bias = alpha + kAttentionRowBlock;
    const i64 base = bh * T;
    const ConstMat Q = rows_of(q, base + r0, rows, dh);
    Mat O = rows_of(out, base + r0, rows, dh);
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
        S.noalias() = Q * rows_of(k, base + c0, cols, dh).transpose();
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
      O.noalias() += S * rows_of(v, base + c0, cols, dh);
    }
    for (i64 i = 0; i < rows; ++i) {
      O.row(i) *= 1.0f / l[i];
      lse[base + r0 + i] = m[i] + std::log(l[i]);
    }
  }
}

void attention_backward(const float* q, const float* k, const float* v, const float* key_mask, const float* out,
                        const float* lse, const float* gout, float* gq, float* gk, float* gv, i64 batch, i64 heads,
                        i64 T, i64 dh, std::uint32_t keep_below, float drop_scale, DropoutSeed dropout_seed_of) {
  const std::uint64_t seed = dropout_seed(dropout_seed_of.salt, dropout_seed_of.step);
  const i64 bh_count = batch * heads;
  if (bh_count == 0 || T == 0) return;
  const std::vector<char> dead = dead_sequences(key_mask, batch, T);
  const i64 key_block = std::min(T, kBackwardKeyBlock);
  const bool dropout = keep_below < kNoDropout;
#pragma omp parallel for schedule(dynamic, 1) if (bh_count * T * T >= kAttentionParallelMin)
  for (i64 bh = 0; bh < bh_count; ++bh) {
    thread_local std::vector<float> buffer;
    const i64 b = bh / heads, base = bh * T;
    const bool is_dead = dead[std::size_t(b)] != 0;
    const float* mask_row = (key_mask != nullptr && !is_dead) ? key_mask + b * T : nullptr;
    const std::size_t block = std::size_t(kAttentionRowBlock * key_block);
    float* P_data = scratch(buffer, 3 * block + std::size_t(T + key_block));
    float* dP_data = P_data + block;
    float* Pd_data = dP_data + block;  // P z (dropout applied)
    float* D = Pd_data + block;        // [T]
    float* bias = D + T;               // [key_block]
    for (i64 i = 0; i < T; ++i)
      D[i] = rows_of(gout, base + i, 1, dh).cwiseProduct(rows_of(out, base + i, 1, dh)).sum();
    Mat GQ = rows_of(gq, base, T, dh), GK = rows_of(gk, base, T, dh), GV = rows_of(gv, base, T, dh);
    GQ.setZero();
    GK.setZero();
    GV.setZero();
    for (i64 c0 = 0; c0 < T; c0 += key_block) {
      const i64 cols = std::min(key_block, T - c0);
      if (mask_row != nullptr && !key_bias(mask_row, c0, cols, bias)) continue;  // P = 0 on the block
      const ConstMat K = rows_of(k, base + c0, cols, dh), V = rows_of(v, base + c0, cols, dh);
      for (i64 r0 = 0; r0 < T; r0 += kAttentionRowBlock) {
        const i64 rows = std::min(kAttentionRowBlock, T - r0);
        const ConstMat Q = rows_of(q, base + r0, rows, dh), dO = rows_of(gout, base + r0, rows, dh);
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
  }
}

}  // namespace cpu
}  // namespace kernels
}  // namespace roast
