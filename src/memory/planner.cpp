// Planner: declarations in, a sized memory and one Mapping per tensor out (rules in plan.h
// and docs/roast.md). O(number of tensors); nothing per weight or per tile.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <sstream>

#include "memory/config_check.h"
#include "roast/error.h"
#include "roast/plan.h"

namespace roast {
namespace md = memory_detail;

namespace {
using i128 = __int128;
constexpr std::int64_t kMaxVirtual = std::int64_t(1) << 62;

std::string shape_text(const TensorSpec& spec) {
  std::ostringstream out;
  out << spec.rows << " x " << spec.cols;
  return out.str();
}

float target_std_of(const TensorSpec& spec) {
  if (spec.init_value) return 0.0f;
  if (spec.init_std) return *spec.init_std;
  return float(1.0 / std::sqrt(3.0 * double(spec.fan_in)));
}

// The contiguous run one hashed unit needs: a whole tile (matrix), a chunk (embedding),
// one cell (hashednet).
std::int64_t unit_floats(const MemoryConfig& config, const TensorSpec& spec) {
  if (config.scheme == Scheme::hashednet) return 1;
  if (spec.kind == TensorKind::embedding) return std::min<std::int64_t>(config.embedding_chunk, spec.cols);
  return std::int64_t(config.tile_rows) * config.tile_cols;
}

std::string unit_text(const MemoryConfig& config, const TensorSpec& spec) {
  std::ostringstream out;
  if (config.scheme == Scheme::hashednet) out << "one cell";
  else if (spec.kind == TensorKind::embedding) out << "one embedding chunk of " << unit_floats(config, spec);
  else out << "one " << config.tile_rows << "x" << config.tile_cols << " tile";
  return out.str();
}

// The knob that shrinks the unit, as the tail of a fix suggestion ("" for hashednet).
const char* unit_fix(const MemoryConfig& config, const TensorSpec& spec) {
  if (config.scheme == Scheme::hashednet) return "";
  return spec.kind == TensorKind::embedding ? ", or use a smaller memory.embedding_chunk"
                                            : ", or use a smaller memory.tile";
}

std::int64_t ceil_div(i128 a, i128 b) {
  const i128 q = (a + b - 1) / b;
  return q > i128(kMaxVirtual) ? kMaxVirtual : std::int64_t(q);
}
}  // namespace

std::uint32_t Planner::declare(const TensorSpec& spec) {
  ROAST_CHECK(!spec.name.empty(), "memory plan: a tensor needs a name (declaration ", specs_.size(), ")");
  ROAST_CHECK(names_.count(spec.name) == 0, "memory plan: tensor \"", spec.name,
              "\" is declared twice; every virtual tensor needs a unique name");
  ROAST_CHECK(spec.rows >= 1 && spec.cols >= 1 && spec.rows <= kMaxDimension && spec.cols <= kMaxDimension,
              "memory plan: tensor \"", spec.name, "\" has shape ", shape_text(spec),
              "; each dimension must be in [1, 2^31]");
  const bool has_init = spec.init_value.has_value() || (spec.init_std && std::isfinite(*spec.init_std) &&
                                                        *spec.init_std > 0) || spec.fan_in > 0;
  ROAST_CHECK(has_init, "memory plan: tensor \"", spec.name,
              "\" needs an init: fan_in > 0, init_std > 0 or init_value (got fan_in ", spec.fan_in, ")");
  ROAST_CHECK(!spec.init_value || std::isfinite(*spec.init_value), "memory plan: tensor \"", spec.name,
              "\" has a non-finite init_value");
  ROAST_CHECK(specs_.size() < std::size_t(UINT32_MAX), "memory plan: too many tensors");
  specs_.push_back(spec);
  names_.insert(spec.name);
  return std::uint32_t(specs_.size() - 1);
}

std::uint32_t Planner::matrix(const std::string& name, std::int64_t k_rows, std::int64_t n_cols, std::int64_t fan_in) {
  TensorSpec spec{name, TensorKind::matrix, k_rows, n_cols, fan_in == 0 ? k_rows : fan_in, {}, {}};
  return declare(spec);
}

std::uint32_t Planner::embedding(const std::string& name, std::int64_t n_rows, std::int64_t dim, float init_std) {
  TensorSpec spec{name, TensorKind::embedding, n_rows, dim, 0, init_std, {}};
  return declare(spec);
}

std::uint32_t Planner::vector(const std::string& name, std::int64_t n, float init_value) {
  TensorSpec spec{name, TensorKind::vector, n, 1, 0, {}, init_value};
  return declare(spec);
}

const PlannedTensor& MemoryPlan::tensor(const std::string& name) const {
  for (const PlannedTensor& t : tensors_) {
    if (t.spec.name == name) return t;
  }
  std::ostringstream names;
  for (std::size_t i = 0; i < tensors_.size() && i < 20; ++i) names << (i ? ", " : "") << tensors_[i].spec.name;
  if (tensors_.size() > 20) names << ", ... (" << tensors_.size() << " in all)";
  fail("memory plan: no tensor named \"", name, "\"; declared: ", names.str());
}

namespace {

// The tile and chunk in use: the configured ones, halved by tile_fit auto.
struct Units {
  std::int32_t tile_rows, tile_cols, chunk;
  std::int64_t of(const MemoryConfig& config, const TensorSpec& spec) const {
    if (config.scheme == Scheme::hashednet) return 1;
    if (spec.kind == TensorKind::embedding) return std::min<std::int64_t>(chunk, spec.cols);
    return std::int64_t(tile_rows) * tile_cols;
  }
};

// The fewest hashed cells `hashed` needs: one unit in the shared region (roast), one unit in
// every per-tensor region (roast-local, hashednet). *worst is the tensor that sets it.
std::int64_t hashed_need(const MemoryConfig& config, const Units& units, const std::vector<TensorSpec>& specs,
                         const std::vector<std::size_t>& hashed, std::int64_t n_hashed, std::size_t* worst) {
  std::int64_t need = 0, sum_units = 0;
  for (std::size_t i : hashed) {
    const TensorSpec& s = specs[i];
    const std::int64_t unit = units.of(config, s);
    sum_units += unit;
    const std::int64_t n = config.scheme == Scheme::roast ? unit : ceil_div(i128(unit) * n_hashed, s.rows * s.cols);
    if (n > need) {
      need = n;
      if (worst) *worst = i;
    }
  }
  // Per-tensor regions fall back to "one unit each, the rest in proportion" (finalize).
  return config.scheme == Scheme::roast || !config.tile_fit_auto ? need : std::min(need, sum_units);
}
}  // namespace

MemoryPlan Planner::finalize(const MemoryConfig& config) const {
  md::validate_config(config);
  ROAST_CHECK(!specs_.empty(), "memory plan: no tensors declared; a model must declare its weights before sizing "
                               "the memory");
  const bool dense = config.scheme == Scheme::dense;
  const SignMode sign_mode = md::resolved_sign_mode(config);

  MemoryPlan plan;
  plan.config_ = config;
  std::vector<bool> always_exact(specs_.size()), small(specs_.size());
  std::int64_t n_virtual = 0, n_always = 0, n_small_floats = 0, n_small = 0;
  for (std::size_t i = 0; i < specs_.size(); ++i) {
    const TensorSpec& s = specs_[i];
    const std::int64_t numel = s.rows * s.cols;
    ROAST_CHECK(numel <= kMaxVirtual - n_virtual, "memory plan: more than 2^62 virtual parameters");
    n_virtual += numel;
    always_exact[i] = s.kind == TensorKind::vector || s.init_value.has_value();
    small[i] = !dense && !always_exact[i] && numel < config.exact_threshold;
    if (always_exact[i]) n_always += numel;
    if (small[i]) n_small_floats += numel, n_small += 1;
  }
  Units units{config.tile_rows, config.tile_cols, config.embedding_chunk};
  // Which tensors are exact; the hashed ones in declaration order.
  std::vector<bool> exact(specs_.size());
  std::vector<std::size_t> hashed;
  std::int64_t n_exact = 0, n_hashed = 0;
  const auto classify = [&](bool hash_small) {
    hashed.clear();
    n_exact = n_hashed = 0;
    for (std::size_t i = 0; i < specs_.size(); ++i) {
      exact[i] = always_exact[i] || (small[i] && !hash_small);
      const std::int64_t numel = specs_[i].rows * specs_[i].cols;
      if (exact[i]) n_exact += numel;
      else hashed.push_back(i), n_hashed += numel;
    }
  };
  const std::int64_t budget_all = md::budget_floats(config, n_virtual);
  // memory.small_tensors: auto hashes them only when the plan as configured does not fit.
  bool hash_small = config.small_tensors == SmallTensors::hashed;
  classify(hash_small);
  if (config.small_tensors == SmallTensors::auto_ && n_small > 0 && !dense &&
      budget_all < n_exact + hashed_need(config, units, specs_, hashed, n_hashed, nullptr)) {
    hash_small = true;
    classify(true);
  }
  plan.n_small_hashed_ = hash_small ? n_small : 0;
  // memory.compression_of: auto counts the compression over the hashed tensors only when the
  // exact cells would take more than half of m = ceil(n / c).
  bool over_hashed = false;
  if (config.compression && !dense && !hashed.empty()) {
    over_hashed = config.compression_of == CompressionOf::hashed ||
                  (config.compression_of == CompressionOf::auto_ && 2 * n_exact > budget_all);
  }
  plan.compression_over_hashed_ = over_hashed;
  const std::int64_t budget =
      over_hashed ? std::min(n_virtual, n_exact + std::max<std::int64_t>(1, std::int64_t(std::ceil(
                                                    (long double)n_hashed / (long double)*config.compression))))
                  : budget_all;

  // Size the memory and check that every hashed unit fits its region.
  std::size_t worst = hashed.empty() ? 0 : hashed.front();
  std::int64_t need_hashed = hashed_need(config, units, specs_, hashed, n_hashed, &worst);
  // memory.tile_fit auto: halve the tile (its larger side; cols on ties) and the embedding
  // chunk until the hashed part holds them, and the shared region of roast at least 16 tiles.
  // A folded shared region is held to 16 tiles even when one fits (docs/roast.md, "The fold's
  // tile rule": with a few tiles in the region each overlaps the same few others element by
  // element; the fold lost 2.1 points to the hash at 2.4 tiles and tied it at 38 and 77).
  const bool fold_shared = config.scheme == Scheme::roast && config.placement == Placement::fold;
  const std::int64_t want = config.scheme == Scheme::roast ? 16 : 1;
  if (config.tile_fit_auto && !dense && config.scheme != Scheme::hashednet && !hashed.empty() &&
      budget >= n_exact &&
      (budget - n_exact < need_hashed || (fold_shared && budget < n_virtual && budget - n_exact < i128(need_hashed) * want))) {
    const std::int64_t room = budget - n_exact;
    for (int guard = 0; guard < 64; ++guard) {
      bool changed = false;
      bool has_matrix = false, has_embedding = false;
      for (std::size_t i : hashed) (specs_[i].kind == TensorKind::embedding ? has_embedding : has_matrix) = true;
      const std::int64_t tile = std::int64_t(units.tile_rows) * units.tile_cols;
      if (has_matrix && tile > 1 && hashed_need(config, Units{units.tile_rows, units.tile_cols, 1}, specs_, hashed,
                                                n_hashed, nullptr) * want > room) {
        if (units.tile_rows > units.tile_cols) units.tile_rows = (units.tile_rows + 1) / 2;
        else units.tile_cols = (units.tile_cols + 1) / 2;
        changed = true;
      }
      if (has_embedding && units.chunk > 1 &&
          hashed_need(config, Units{1, 1, units.chunk}, specs_, hashed, n_hashed, nullptr) * want > room) {
        units.chunk = (units.chunk + 1) / 2;
        changed = true;
      }
      if (!changed) break;
    }
    need_hashed = hashed_need(config, units, specs_, hashed, n_hashed, &worst);
  }
  if (dense) need_hashed = n_hashed;
  const std::int64_t min_floats = std::min(n_exact + need_hashed, kMaxVirtual);
  if (dense) {
    ROAST_CHECK(!config.floats && !config.bytes, md::budget_text(config), ": scheme dense stores all ", n_virtual,
                " virtual parameters (m = n); remove the budget or choose scheme roast, roast-local or hashednet");
  }
  ROAST_CHECK(budget <= n_virtual, md::budget_text(config), " asks for ", budget, " floats, more than the model's n = ",
              n_virtual, " virtual parameters (compression below 1): use at most ", n_virtual,
              " floats, or memory.scheme = dense for the uncompressed model");
  if (budget < n_exact) {
    std::ostringstream small_text, small_fix;
    if (n_small > 0 && !hash_small) {
      small_text << ", of which " << n_small_floats << " for " << n_small << " tensors under memory.exact_threshold = "
                 << config.exact_threshold << " elements";
      small_fix << ", or lower memory.exact_threshold, or set memory.small_tensors = \"hashed\"";
    }
    if (config.compression && !over_hashed) small_fix << ", or set memory.compression_of = \"hashed\" (the paper's convention)";
    fail(md::budget_text(config), " gives m = ", budget, " floats but the exact cells (vectors, constant-initialised "
         "tensors, small tensors) need ", n_exact, small_text.str(), ": ", n_exact - budget, " floats short; ",
         md::budget_fix(config, min_floats, n_virtual), small_fix.str());
  }
  const std::int64_t hashed_floats = budget - n_exact;
  MemoryConfig unit_config = config;  // the tile and chunk in use, for the messages below
  unit_config.tile_rows = units.tile_rows;
  unit_config.tile_cols = units.tile_cols;
  unit_config.embedding_chunk = units.chunk;
  if (!hashed.empty() && hashed_floats < need_hashed) {
    const TensorSpec& s = specs_[worst];
    const std::int64_t unit = unit_floats(unit_config, s);
    if (config.scheme == Scheme::roast) {
      fail(md::budget_text(config), " leaves ", hashed_floats, " floats for the shared region (m = ", budget,
           " minus ", n_exact, " exact cells) but ", unit_text(unit_config, s), " of \"", s.name, "\" needs ", unit,
           ": ", md::budget_fix(config, min_floats, n_virtual), unit_fix(config, s));
    }
    const std::int64_t region = std::int64_t(i128(s.rows * s.cols) * hashed_floats / n_hashed);
    fail(md::budget_text(config), " gives tensor \"", s.name, "\" (", shape_text(s), ") a region of ", region,
         " floats in scheme ", scheme_name(config.scheme), " but ", unit_text(unit_config, s), " needs ", unit, ": ",
         md::budget_fix(config, min_floats, n_virtual), unit_fix(config, s));
  }
  const std::int64_t n_floats = dense ? n_virtual : budget;  // n_exact <= budget <= n checked above
  ROAST_CHECK(n_floats <= kMaxMemoryFloats, md::budget_text(config), ": the memory would hold ", n_floats,
              " floats, more than the supported 2^40; raise the compression");
  plan.tile_rows_ = units.tile_rows;
  plan.tile_cols_ = units.tile_cols;
  plan.embedding_chunk_ = units.chunk;
  plan.n_exact_virtual_ = n_exact;

  // Region sizes of the per-tensor schemes: largest-remainder split of hashed_floats.
  std::vector<std::int64_t> region_floats(specs_.size(), 0);
  if (config.scheme == Scheme::roast_local || config.scheme == Scheme::hashednet) {
    std::vector<std::int64_t> remainder(specs_.size(), 0);
    std::int64_t given = 0;
    for (std::size_t i : hashed) {
      const i128 share = i128(specs_[i].rows * specs_[i].cols) * hashed_floats;
      region_floats[i] = std::int64_t(share / n_hashed);
      remainder[i] = std::int64_t(share % n_hashed);
      given += region_floats[i];
    }
    std::vector<std::size_t> order = hashed;
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return remainder[a] > remainder[b]; });
    for (std::size_t k = 0; given < hashed_floats; ++k, ++given) region_floats[order[k]] += 1;
    // A region below its unit (possible only at extreme compression, e.g. small tensors hashed
    // at 1000x): every region gets one unit first and the rest is split in proportion.
    const bool short_region = std::any_of(hashed.begin(), hashed.end(), [&](std::size_t i) {
      return region_floats[i] < units.of(config, specs_[i]);
    });
    if (short_region && config.tile_fit_auto) {
      std::int64_t sum_units = 0;
      for (std::size_t i : hashed) sum_units += units.of(config, specs_[i]);
      const std::int64_t rest = hashed_floats - sum_units;  // >= 0: checked through hashed_need
      given = 0;
      for (std::size_t i : hashed) {
        const i128 share = i128(specs_[i].rows * specs_[i].cols) * rest;
        region_floats[i] = units.of(config, specs_[i]) + std::int64_t(share / n_hashed);
        remainder[i] = std::int64_t(share % n_hashed);
        given += region_floats[i];
      }
      std::stable_sort(order.begin(), order.end(),
                       [&](std::size_t a, std::size_t b) { return remainder[a] > remainder[b]; });
      for (std::size_t k = 0; given < hashed_floats; ++k, ++given) region_floats[order[k]] += 1;
    }
  }

  // Layout: [exact cells in declaration order][hashed part].
  plan.n_floats_ = n_floats;
  plan.n_virtual_ = n_virtual;
  plan.n_exact_floats_ = n_exact;
  if (n_exact > 0) plan.regions_.push_back({"exact", 0, n_exact});
  if (config.scheme == Scheme::roast && !hashed.empty()) plan.regions_.push_back({"shared", n_exact, n_floats - n_exact});
  const float memory_std = float(config.init_scale / std::sqrt(3.0));
  std::int64_t exact_cursor = 0, hashed_cursor = n_exact;
  for (std::size_t i = 0; i < specs_.size(); ++i) {
    const TensorSpec& s = specs_[i];
    PlannedTensor t;
    t.spec = s;
    t.target_std = target_std_of(s);
    Mapping& m = t.mapping;
    m.kind = s.kind;
    m.seed = config.seed;
    m.layer = std::uint32_t(i);
    m.rows = s.rows;
    m.cols = s.cols;
    m.tile_rows = s.kind == TensorKind::matrix ? units.tile_rows : 1;
    m.tile_cols = s.kind == TensorKind::matrix      ? units.tile_cols
                  : s.kind == TensorKind::embedding ? std::int32_t(std::min<std::int64_t>(units.chunk, s.cols))
                                                    : 1;
    const std::int64_t numel = s.rows * s.cols;
    if (exact[i] || dense) {
      m.scheme = exact[i] ? Scheme::exact : Scheme::dense;
      m.sign_mode = SignMode::none;
      m.lambda = 1.0f;
      std::int64_t& cursor = exact[i] ? exact_cursor : hashed_cursor;
      m.region_base = cursor;
      m.region_size = numel;
      cursor += numel;
      if (!exact[i]) plan.regions_.push_back({s.name, m.region_base, numel});
    } else {
      m.scheme = config.scheme;
      m.sign_mode = sign_mode;
      m.lambda = t.target_std / memory_std;
      if (config.scheme == Scheme::roast) {
        m.region_base = n_exact;
        m.region_size = n_floats - n_exact;
      } else {
        m.region_base = hashed_cursor;
        m.region_size = region_floats[i];
        hashed_cursor += region_floats[i];
        plan.regions_.push_back({s.name, m.region_base, m.region_size});
      }
    }
    plan.tensors_.push_back(std::move(t));
  }
  if (config.placement == Placement::fold && (config.scheme == Scheme::roast || config.scheme == Scheme::roast_local))
    fold_regions(plan);
  return plan;
}

// memory.mapping = fold: give every tiled tensor its place in its region's tile sequence and
// its piece length (mapping.h, docs/roast.md). The sequence holds the largest units first
// (then matrices before embeddings, then declaration order), so tensors follow one another
// with no gap. A region at least as long as its sequence is one unrotated piece (the
// identity). Otherwise every run of tensors with one unit size u is folded on its own with
// G = u and P = floor(R / u) * u, starting at a fresh piece (its first sequence cell is a
// multiple of P past the previous run's last piece): every cell of the region is used.
void Planner::fold_regions(MemoryPlan& plan) {
  std::vector<std::size_t> order;  // hashed tiled tensors
  for (int pass = 0; pass < 2; ++pass)
    for (std::size_t i = 0; i < plan.tensors_.size(); ++i) {
      const PlannedTensor& t = plan.tensors_[i];
      if (!t.exact() && t.mapping.tiled() && (t.spec.kind == TensorKind::embedding) == (pass == 1)) order.push_back(i);
    }
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return plan.tensors_[a].mapping.tile_size() > plan.tensors_[b].mapping.tile_size();
  });
  for (const Region& r : plan.regions_) {
    std::vector<std::size_t> members;
    for (std::size_t i : order)
      if (plan.tensors_[i].mapping.region_base == r.base && plan.tensors_[i].mapping.region_size == r.n_floats)
        members.push_back(i);
    if (members.empty()) continue;
    const auto cells_of = [&](std::size_t i) {
      const Mapping& m = plan.tensors_[i].mapping;
      return m.n_tile_rows() * m.n_tile_cols() * m.tile_size();
    };
    std::int64_t length = 0;
    for (std::size_t i : members) length += cells_of(i);
    if (length <= r.n_floats) {  // the identity
      std::int64_t cursor = 0;
      for (std::size_t i : members) {
        Mapping& m = plan.tensors_[i].mapping;
        m.fold_offset = cursor;
        m.fold_piece = r.n_floats;
        m.fold_granule = m.tile_size();
        cursor += cells_of(i);
      }
      plan.n_unused_floats_ += r.n_floats - length;
      continue;
    }
    std::int64_t first_piece = 0, cursor = 0, run_unit = 0, piece = 0;
    for (std::size_t i : members) {
      Mapping& m = plan.tensors_[i].mapping;
      const std::int64_t unit = m.tile_size();
      ROAST_CHECK(unit <= r.n_floats, "memory.mapping = fold: the region \"", r.name, "\" of ", r.n_floats,
                  " floats cannot hold one ", unit, "-cell unit of \"", plan.tensors_[i].spec.name,
                  "\"; use a smaller memory.tile or memory.embedding_chunk, or a lower compression");
      if (unit != run_unit) {  // a new run starts at a fresh piece
        if (run_unit != 0) first_piece = (cursor + piece - 1) / piece;
        run_unit = unit;
        piece = r.n_floats / unit * unit;
        cursor = first_piece * piece;
      }
      m.fold_offset = cursor;
      m.fold_piece = piece;
      m.fold_granule = unit;
      cursor += cells_of(i);
    }
  }
}

}  // namespace roast
