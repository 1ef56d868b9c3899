// Mapping: where each virtual weight of one tensor lives in the memory.
//
// A Mapping is a plain value (copyable to a GPU kernel by value) plus pure functions of
// it. Virtual weight (r, c) of a tensor reads
//     w(r, c) = lambda * sign(r, c) * M[loc(r, c)].
// Shapes: a matrix is K x N (rows = fan-in, cols = fan-out; Y = X * W), an embedding is
// V x D (rows = tokens), an exact tensor is n x 1 or any flat vector (rows = n, cols = 1).
//
// Schemes (docs/roast.md has the formulas and test vectors):
//   dense      identity, row-major: loc = base + r * cols + c
//   roast      tile hash into a region (shared by all roast tensors of a model):
//              tile (r / BR, c / BC) starts at base + H(seed, layer, tr, tc) mod (size - BR*BC + 1)
//              and element (r, c) reads start + (r % BR) * BC + (c % BC). Embeddings use
//              ROBE-Z chunks: BR = 1, BC = Z.
//   roast_local  same formula, one region per tensor
//   hashednet  element hash into one region per tensor: base + H(seed, layer, r, c) mod size
//   exact      (small tensors) loc = base + r * cols + c, unshared cells
// Tiled schemes have two tile placements (memory.mapping):
//   hash       the tile start above (the paper's ROAST)
//   fold       STABLE-RPS's RANDOMFOLD at tile granularity: the region's tiles are laid out
//              in a sequence, largest unit first (tile (tr, tc) of this tensor at sequence cell
//              v = fold_offset + (tr * n_tile_cols + tc) * BR*BC), the sequence is cut into
//              pieces of P = fold_piece = q * G cells (G = fold_granule, this tensor's unit,
//              q = floor(region_size / G)), and piece p > 0 puts its q blocks of G cells in
//              a hashed rotation into q of the q + 1 slots [j G, j G + G) (j < hole(p)) and
//              [j G + s, j G + G + s) (j >= hole(p)), s = region_size - P: every cell of
//              the region is used (fold_cell). Piece 0 is the identity, so a region of at
//              least the sequence's length (then P = region_size) is the identity map.
//              Tiles stay contiguous, so every kernel, which finds tiles only through
//              tile_start, serves it unchanged.
// Tiles never wrap: a tile lies wholly inside its region. Edge tiles of a matrix whose
// dimensions are not multiples of the tile are padded; the padding is never read.
// All arithmetic is 64-bit: regions up to 2^40 floats and dimensions up to 2^31 work.
#pragma once

#include <cstdint>

#include "roast/hash.h"

namespace roast {

enum class Scheme : std::uint8_t { dense, roast, roast_local, hashednet, exact };
enum class SignMode : std::uint8_t { none, tile, element };
enum class TensorKind : std::uint8_t { matrix, embedding, vector };

struct Mapping {
  Scheme scheme = Scheme::dense;
  SignMode sign_mode = SignMode::none;
  TensorKind kind = TensorKind::matrix;
  std::uint64_t seed = 0;
  std::uint32_t layer = 0;       // the tensor's id in declaration order: part of every hash key
  std::int64_t rows = 0;         // K (matrix), V (embedding), n (vector)
  std::int64_t cols = 1;         // N (matrix), D (embedding), 1 (vector)
  std::int64_t region_base = 0;  // first cell of the region this tensor maps into
  std::int64_t region_size = 0;  // cells in that region
  std::int32_t tile_rows = 1;    // BR: BK for matrices, 1 for embeddings
  std::int32_t tile_cols = 1;    // BC: BN for matrices, Z for embeddings
  float lambda = 1.0f;           // per-tensor scale
  // memory.mapping = fold (tiled schemes only): this tensor's first sequence cell, the piece
  // length P and the block G (this tensor's unit; G divides P unless one piece holds the
  // whole sequence, P = region_size). fold_offset < 0 is the hash placement.
  std::int64_t fold_offset = -1;
  std::int64_t fold_piece = 0;
  std::int64_t fold_granule = 0;

  ROAST_HD bool tiled() const { return scheme == Scheme::roast || scheme == Scheme::roast_local; }
  ROAST_HD std::int64_t tile_size() const { return std::int64_t(tile_rows) * tile_cols; }
  ROAST_HD std::int64_t n_tile_rows() const { return (rows + tile_rows - 1) / tile_rows; }
  ROAST_HD std::int64_t n_tile_cols() const { return (cols + tile_cols - 1) / tile_cols; }
  // Cells of a dense row-major layout (dense and exact schemes): rows * cols.
  ROAST_HD std::int64_t n_virtual() const { return rows * cols; }

  // ---- the parts of loc() and sign(), each defined once here and called by every kernel ----
  // Sign hash of tile (tr, tc) of a tiled scheme: the tile's sign (SignMode::tile) is its top
  // bit; element signs expand it (element_sign_in_tile).
  ROAST_HD std::uint64_t tile_sign_hash(std::int64_t tr, std::int64_t tc) const {
    return hash::hash3(seed ^ hash::kSignSalt, layer, std::uint64_t(tr), std::uint64_t(tc));
  }
  // SignMode::element of a tiled scheme: bit i of sign_word(th, j) is the sign (1: -1) of
  // in-tile weight w = 64 j + i, w = (r % BR) * BC + c % BC, of a tile whose sign hash is th.
  ROAST_HD static std::uint64_t sign_word(std::uint64_t th, std::uint64_t j) { return hash::mix64(th ^ j); }
  ROAST_HD static float element_sign_in_tile(std::uint64_t th, std::uint64_t w) {
    return ((sign_word(th, w >> 6) >> (w & 63)) & 1u) ? -1.0f : 1.0f;
  }
  // Per-weight hashes of the untiled schemes, hoisted per row r: hashednet's cell of (r, c) is
  // element_cell(element_loc_key(r), c), and an untiled element sign is
  // element_sign(element_sign_key(r), c).
  ROAST_HD std::uint64_t element_loc_key(std::int64_t r) const {
    return hash::hash3_prefix(seed, layer, std::uint64_t(r));
  }
  ROAST_HD std::uint64_t element_sign_key(std::int64_t r) const {
    return hash::hash3_prefix(seed ^ hash::kSignSalt, layer, std::uint64_t(r));
  }
  ROAST_HD std::int64_t element_cell(std::uint64_t loc_key, std::int64_t c) const {
    return region_base + std::int64_t(hash::reduce(hash::mix64(loc_key ^ std::uint64_t(c)), std::uint64_t(region_size)));
  }
  ROAST_HD static float element_sign(std::uint64_t sign_key, std::int64_t c) {
    return hash::sign_of(hash::mix64(sign_key ^ std::uint64_t(c)));
  }

  ROAST_HD bool folded() const { return fold_offset >= 0; }
  // RANDOMFOLD: the region cell (from region_base) of sequence cell v. Piece p = v / P is
  // q = P / G blocks of G cells; block b goes to slot j = (b + shift(p)) mod q, at j G if
  // j < hole(p) and at j G + s otherwise (s = region_size - P < G, hole(p) = (p - 1) mod
  // (q + 1)): the blocks of a whole piece cover every cell once except [hole G, hole G + s),
  // and the holes of consecutive pieces cycle through all q + 1 places. Piece 0 (hole q, no
  // shift) is the identity. Load bounds and their proof: docs/roast.md.
  ROAST_HD std::int64_t fold_cell(std::int64_t v) const {
    const std::int64_t piece = v / fold_piece, offset = v - piece * fold_piece;
    if (piece == 0) return offset;
    const std::int64_t q = fold_piece / fold_granule, block = offset / fold_granule;
    const std::uint64_t h = hash::hash3(seed ^ hash::kFoldSalt, std::uint64_t(region_base), std::uint64_t(piece), 0);
    std::int64_t slot = block + std::int64_t(hash::reduce(h, std::uint64_t(q)));
    if (slot >= q) slot -= q;
    const std::int64_t hole = (piece - 1) % (q + 1);
    return offset + (slot - block) * fold_granule + (slot >= hole ? region_size - fold_piece : 0);
  }

  // First cell of tile (tr, tc) for tiled schemes. In a dense/exact layout, the cell of
  // the tile's top-left element (its rows are then `cols` apart, not tile_cols).
  ROAST_HD std::int64_t tile_start(std::int64_t tr, std::int64_t tc) const {
    if (tiled()) {
      if (folded()) return region_base + fold_cell(fold_offset + (tr * n_tile_cols() + tc) * tile_size());
      const std::uint64_t h = hash::hash3(seed, layer, std::uint64_t(tr), std::uint64_t(tc));
      return region_base + std::int64_t(hash::reduce(h, std::uint64_t(region_size - tile_size() + 1)));
    }
    return region_base + tr * tile_rows * cols + tc * tile_cols;
  }
  // Distance in cells between consecutive rows of one tile in the memory.
  ROAST_HD std::int64_t tile_row_stride() const { return tiled() ? tile_cols : cols; }

  // The memory cell that virtual weight (r, c) reads.
  ROAST_HD std::int64_t loc(std::int64_t r, std::int64_t c) const {
    switch (scheme) {
      case Scheme::roast:
      case Scheme::roast_local:
        return tile_start(r / tile_rows, c / tile_cols) + (r % tile_rows) * tile_cols + (c % tile_cols);
      case Scheme::hashednet:
        return element_cell(element_loc_key(r), c);
      case Scheme::dense:
      case Scheme::exact:
      default:
        return region_base + r * cols + c;
    }
  }

  // The sign g(r, c) in {+1, -1}.
  //   none:    +1
  //   tile:    one sign per tile:  top bit of H(seed ^ kSignSalt, layer, tr, tc)
  //   element: one sign per weight: bit (w % 64) of
  //            mix64(H(seed ^ kSignSalt, layer, tr, tc) ^ (w / 64)), w = (r % BR) * BC + (c % BC)
  //            Untiled schemes (dense, hashednet) have no tiles: `tile` gives +1 and
  //            `element` uses the per-weight hash H(seed ^ kSignSalt, layer, r, c). Exact: +1.
  ROAST_HD float sign(std::int64_t r, std::int64_t c) const {
    if (sign_mode == SignMode::none || scheme == Scheme::exact) return 1.0f;
    if (!tiled()) {
      if (sign_mode == SignMode::tile) return 1.0f;  // no tiles: tile signs are all +1
      return element_sign(element_sign_key(r), c);
    }
    const std::uint64_t th = tile_sign_hash(r / tile_rows, c / tile_cols);
    if (sign_mode == SignMode::tile) return hash::sign_of(th);
    return element_sign_in_tile(th, std::uint64_t((r % tile_rows) * tile_cols + (c % tile_cols)));
  }
};

}  // namespace roast
