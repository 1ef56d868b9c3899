// Checkpoint files: one header (JSON text) and named tensors, written atomically.
//
// Layout (little-endian): magic "ROASTCKP", u32 format version, u32 section count, then
// sections {u8 kind (0 json, 1 tensor), u32 name length, name, [tensor: u8 dtype, u32 rank,
// i64 dims...], u64 payload bytes, payload, u32 CRC-32 of payload}, then "ROASTEND".
// save_checkpoint writes a temporary file in the same folder, flushes it to disk and
// renames it over the target, so the previous file stays intact until the new one is
// complete. load_checkpoint checks the magic, the version, every size and every CRC, and
// throws roast::Error naming the file and what is wrong.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "roast/tensor.h"

namespace roast {

constexpr std::uint32_t kCheckpointVersion = 1;
// The tile layout of memory.mapping = "fold" (docs/roast.md) that training checkpoints record
// in their header as "fold_layout". Layout 2 uses the whole region (no unused tail); a fold
// checkpoint of another layout is refused, since its weights would be read from other cells.
constexpr int kFoldLayout = 2;

struct Checkpoint {
  std::string header_json;  // the resolved config, step, RNG states, vocabulary, ...
  std::vector<std::pair<std::string, Tensor>> tensors;  // e.g. "memory", "slot/exp_avg"

  // The tensor with this name; throws roast::Error naming the file's contents when absent.
  const Tensor& tensor(const std::string& name) const;
  bool has(const std::string& name) const;
};

// Tensors may live on any device (they are copied to the host to be written); names should
// be unique. Throws roast::Error when the folder is missing or not writable.
void save_checkpoint(const std::string& path, const Checkpoint& checkpoint);
// The loaded tensors are CPU tensors without autograd history, in the order saved.
Checkpoint load_checkpoint(const std::string& path);
// The two halves of load_checkpoint: the file's bytes (throws when it cannot be read), and
// the checkpoint they hold (`path` names the source in messages). Data-parallel ranks read
// the file on rank 0 and parse the broadcast bytes, so the run folder need not be shared.
std::string read_checkpoint_file(const std::string& path);
Checkpoint parse_checkpoint(const std::string& bytes, const std::string& path);

// Writes `contents` to `path` atomically (temporary file + fsync + rename).
void write_file_atomic(const std::string& path, const std::string& contents);

}  // namespace roast
