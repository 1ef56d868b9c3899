// The memory plan: which virtual tensors a model has and where each lives in the memory.
//
// Layers declare their virtual tensors to a Planner, in a fixed order (the declaration
// index is the tensor's layer id, part of every hash key). finalize(config) sizes the
// memory and gives every tensor a Mapping (mapping.h). Planning is O(number of tensors):
// no per-weight or per-tile state exists. docs/roast.md states the rules:
//
//   exact cells   vectors (biases, norm gains), constant-initialised tensors and, in the
//                 hashed schemes, tensors with fewer than config.exact_threshold elements
//                 get unshared row-major cells (Scheme::exact, lambda 1) at the front.
//   dense         m = n: after the exact cells, every tensor its own row-major block.
//   roast         [exact cells][one region shared by every hashed tensor].
//   roast_local,  [exact cells][one region per hashed tensor]; the regions split the hashed
//   hashednet     budget m - n_exact in proportion to the tensors' sizes.
//   lambda        target_std / (init_scale / sqrt(3)) for hashed tensors, 1 otherwise.
//   mapping       hash (the paper's tile hash) or fold (RANDOMFOLD at tile granularity, tiled
//                 schemes): mapping.h has the formula.
//   extreme       with the default "auto" rules a plan that would not fit is adapted, in this
//   compression   order: small tensors are hashed too (small_tensors), the compression counts
//                 only the hashed tensors (compression_of, the paper's convention) when the
//                 always-exact cells alone exceed the budget, and the tile / embedding chunk
//                 is halved until every region holds its unit (tile_fit). A plan that fits
//                 as configured is never changed by these rules.
//
// Every invalid value or impossible request throws roast::Error naming the config key
// (memory.*), by how much it is off and what to change.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "roast/mapping.h"

namespace roast {

// Largest memory (in floats) and largest tensor dimension the engine supports.
constexpr std::int64_t kMaxMemoryFloats = std::int64_t(1) << 40;
constexpr std::int64_t kMaxDimension = std::int64_t(1) << 31;

// "dense", "roast", "roast-local", "hashednet" (Scheme::exact is per tensor, never a
// memory scheme); parse_scheme also accepts "roast_local". Unknown names throw and list
// the valid ones.
const char* scheme_name(Scheme scheme);
Scheme parse_scheme(const std::string& text);
const char* sign_mode_name(SignMode mode);  // "none", "tile", "element"
SignMode parse_sign_mode(const std::string& text);
const char* kind_name(TensorKind kind);  // "matrix", "embedding", "vector"

// How tiles are placed in a tiled scheme's region (memory.mapping).
enum class Placement : std::uint8_t { hash, fold };
// memory.small_tensors: exact cells for tensors under exact_threshold (exact), hash them too
// (hashed), or exact unless that leaves too little room for the hashed tensors (auto).
enum class SmallTensors : std::uint8_t { auto_, exact, hashed };
// memory.compression_of: m = ceil(n / c) over all parameters (all), m = exact cells +
// ceil(n_hashed / c) (hashed: the paper's convention), or all unless the always-exact cells
// (vectors, constant inits) leave no room for one unit (auto).
enum class CompressionOf : std::uint8_t { auto_, all, hashed };

// Parses a byte budget: a non-negative number and a unit, "4MB", "512 KiB", "1.5GB",
// "4096" (bytes). Units: B, kB/KB, MB, GB, TB (powers of 1000), KiB, MiB, GiB, TiB
// (powers of 1024). Throws roast::Error on anything else. Returns whole bytes (rounded down).
std::int64_t parse_bytes(const std::string& text);

// How big the memory is and how tensors map into it. Exactly one of compression, floats,
// bytes must be set for the hashed schemes; dense needs none (or compression 1).
struct MemoryConfig {
  Scheme scheme = Scheme::roast;
  std::optional<double> compression;   // n / m, exact cells counted in m; >= 1
  std::optional<std::int64_t> floats;  // m directly
  std::optional<std::string> bytes;    // m = bytes / 4, e.g. "4MB"
  std::int32_t tile_rows = 32;         // BK of a matrix tile
  std::int32_t tile_cols = 64;         // BN of a matrix tile
  std::int32_t embedding_chunk = 32;   // ROBE-Z chunk Z (clipped to D per table)
  // Unset: tile for roast / roast-local, element for hashednet (which has no tiles).
  std::optional<SignMode> sign_mode;
  // Memory cells of hashed regions start U(-init_scale, init_scale). 0.05 gives a memory
  // std of 0.0289, the std of a uniform(+-1/sqrt(fan_in)) layer with fan_in = 400, so
  // lambda is near 1 for typical layers and dense learning rates carry over.
  float init_scale = 0.05f;
  // Matrices and embeddings with fewer elements than this get exact cells (hashed schemes).
  std::int64_t exact_threshold = 4096;
  std::uint64_t seed = 0;
  Placement placement = Placement::hash;                 // memory.mapping
  SmallTensors small_tensors = SmallTensors::auto_;      // memory.small_tensors
  CompressionOf compression_of = CompressionOf::auto_;   // memory.compression_of
  bool tile_fit_auto = true;  // memory.tile_fit "auto": halve tile / chunk until regions hold them; "strict": error
};

// One virtual tensor as a layer declares it. Shapes: matrix K x N (rows = fan-in side,
// Y = X * W), embedding V x D, vector n x 1.
struct TensorSpec {
  std::string name;  // unique within the plan, e.g. "encoder.0.attn.q.weight"
  TensorKind kind = TensorKind::matrix;
  std::int64_t rows = 0;
  std::int64_t cols = 1;
  // Sets target_std = 1 / sqrt(3 * fan_in) (the std of uniform(+-1/sqrt(fan_in))).
  std::int64_t fan_in = 0;
  std::optional<float> init_std;    // overrides fan_in when set
  std::optional<float> init_value;  // constant init (bias 0, gain 1): always exact cells
};

// A declared tensor after planning.
struct PlannedTensor {
  TensorSpec spec;
  Mapping mapping;         // mapping.layer == index in MemoryPlan::tensors()
  float target_std = 0.f;  // the std its own initialiser would give (0 for constants)
  bool exact() const { return mapping.scheme == Scheme::exact; }
  std::int64_t n_virtual() const { return spec.rows * spec.cols; }
};

// A contiguous range of cells: the exact cells, the shared region, a per-tensor region
// or a dense block.
struct Region {
  std::string name;  // "exact", "shared", or the tensor's name
  std::int64_t base = 0;
  std::int64_t n_floats = 0;
};

class MemoryPlan {
 public:
  const MemoryConfig& config() const { return config_; }
  std::int64_t n_floats() const { return n_floats_; }              // m
  std::int64_t n_virtual() const { return n_virtual_; }            // n
  std::int64_t n_exact_floats() const { return n_exact_floats_; }  // cells of exact tensors
  double compression() const { return double(n_virtual_) / double(n_floats_); }
  // The paper's convention: hashed virtual parameters over the cells they share (1 when no
  // tensor is hashed).
  std::int64_t n_hashed_virtual() const { return n_virtual_ - n_exact_virtual_; }
  double compression_hashed() const {
    const std::int64_t cells = n_floats_ - n_exact_floats_ - n_unused_floats_;
    return cells > 0 ? double(n_hashed_virtual()) / double(cells) : 1.0;
  }
  // Tensors under exact_threshold that the plan hashed (small_tensors hashed, or auto when
  // their exact cells did not fit).
  std::int64_t n_small_hashed() const { return n_small_hashed_; }
  bool compression_over_hashed() const { return compression_over_hashed_; }
  // The matrix tile and embedding chunk in use (smaller than configured after tile_fit auto).
  std::int32_t tile_rows() const { return tile_rows_; }
  std::int32_t tile_cols() const { return tile_cols_; }
  std::int32_t embedding_chunk() const { return embedding_chunk_; }
  // Cells no tensor can read by construction (0 for every current mapping; docs/roast.md).
  std::int64_t n_unused_floats() const { return n_unused_floats_; }
  const std::vector<PlannedTensor>& tensors() const { return tensors_; }
  // Regions in memory order; together they cover [0, m) exactly once.
  const std::vector<Region>& regions() const { return regions_; }
  // Lookup by name; throws roast::Error listing the declared names when absent.
  const PlannedTensor& tensor(const std::string& name) const;
  const Mapping& mapping(const std::string& name) const { return tensor(name).mapping; }

 private:
  friend class Planner;
  MemoryConfig config_;
  std::int64_t n_floats_ = 0;
  std::int64_t n_virtual_ = 0;
  std::int64_t n_exact_floats_ = 0;
  std::int64_t n_exact_virtual_ = 0;
  std::int64_t n_small_hashed_ = 0;
  std::int64_t n_unused_floats_ = 0;
  bool compression_over_hashed_ = false;
  std::int32_t tile_rows_ = 0, tile_cols_ = 0, embedding_chunk_ = 0;
  std::vector<PlannedTensor> tensors_;
  std::vector<Region> regions_;
};

class Planner {
 public:
  // Each returns the tensor's id (its declaration index). Requirements: a new non-empty
  // name, 1 <= rows, cols <= kMaxDimension, and an init (fan_in > 0, init_std > 0 or
  // init_value); otherwise roast::Error.
  std::uint32_t declare(const TensorSpec& spec);
  // A K x N weight initialised like uniform(+-1/sqrt(fan_in)); fan_in 0 means K.
  std::uint32_t matrix(const std::string& name, std::int64_t k_rows, std::int64_t n_cols, std::int64_t fan_in = 0);
  // A V x D table with the given init std (e.g. 1 as in PyTorch, 0.02 as in BERT).
  std::uint32_t embedding(const std::string& name, std::int64_t n_rows, std::int64_t dim, float init_std);
  // n exact cells starting at init_value (bias 0, norm gain 1).
  std::uint32_t vector(const std::string& name, std::int64_t n, float init_value);

  std::size_t n_tensors() const { return specs_.size(); }
  const std::vector<TensorSpec>& specs() const { return specs_; }

  // Validates config and sizes the memory. Requires at least one tensor. Pure function of
  // (declarations, config): the same inputs give the same plan on every machine.
  MemoryPlan finalize(const MemoryConfig& config) const;

 private:
  static void fold_regions(MemoryPlan& plan);
  std::vector<TensorSpec> specs_;
  std::unordered_set<std::string> names_;  // declared names: a duplicate check in O(1), not O(n)
};

}  // namespace roast
