#include <zlib.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "roast/checkpoint.h"

namespace roast {
namespace {
constexpr char kMagic[8] = {'R', 'O', 'A', 'S', 'T', 'C', 'K', 'P'};
constexpr char kEnd[8] = {'R', 'O', 'A', 'S', 'T', 'E', 'N', 'D'};
constexpr std::uint32_t kMaxNameBytes = 4096;
constexpr std::uint32_t kMaxRank = 8;

template <typename T>
void put(std::string& out, T value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof(T));
}

std::uint32_t crc_of(const char* data, std::size_t n) {
  uLong crc = crc32(0L, Z_NULL, 0);
  while (n > 0) {  // zlib takes uInt lengths
    const uInt chunk = n > (1u << 30) ? (1u << 30) : uInt(n);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(data), chunk);
    data += chunk;
    n -= chunk;
  }
  return std::uint32_t(crc);
}

void put_payload(std::string& out, const char* payload, std::uint64_t n) {
  put(out, n);
  out.append(payload, n);
  put(out, crc_of(payload, n));
}

void put_name(std::string& out, std::uint8_t kind, const std::string& name) {
  put(out, kind);
  put(out, std::uint32_t(name.size()));
  out += name;
}

const void* raw_bytes(const Tensor& t) {
  switch (t.dtype()) {
    case DType::f32: return t.data<float>();
    case DType::i32: return t.data<std::int32_t>();
    default: return t.data<std::int64_t>();
  }
}

// Reads the whole file through bounds-checked cursors; every failure names the file.
class Reader {
 public:
  Reader(const std::string& path, const std::string& bytes) : path_(path), bytes_(bytes) {}
  template <typename T>
  T get(const char* what) {
    T v;
    need(sizeof(T), what);
    std::memcpy(&v, bytes_.data() + at_, sizeof(T));
    at_ += sizeof(T);
    return v;
  }
  const char* take(std::uint64_t n, const char* what) {
    need(n, what);
    const char* p = bytes_.data() + at_;
    at_ += n;
    return p;
  }
  [[noreturn]] void bad(const std::string& why) const {
    fail("checkpoint ", path_, " is corrupted: ", why, " (at byte ", at_,
         "). Use an earlier checkpoint or retrain; this file cannot be loaded");
  }

 private:
  void need(std::uint64_t n, const char* what) {
    if (n > bytes_.size() - at_)
      fail("checkpoint ", path_, " is truncated: it ends inside ", what, " (", bytes_.size(),
           " bytes). It was cut short while being copied or written; use the previous checkpoint");
  }
  const std::string& path_;
  const std::string& bytes_;
  std::size_t at_ = 0;
};
}  // namespace

const Tensor& Checkpoint::tensor(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return t;
  std::string names;
  for (const auto& entry : tensors) names += (names.empty() ? "" : ", ") + entry.first;
  fail("checkpoint has no tensor \"", name, "\"; it holds: ", names.empty() ? "(none)" : names);
}

bool Checkpoint::has(const std::string& name) const {
  for (const auto& entry : tensors)
    if (entry.first == name) return true;
  return false;
}

void save_checkpoint(const std::string& path, const Checkpoint& ck) {
  std::string out(kMagic, sizeof(kMagic));
  put(out, kCheckpointVersion);
  put(out, std::uint32_t(1 + ck.tensors.size()));
  put_name(out, 0, "header");
  put_payload(out, ck.header_json.data(), ck.header_json.size());
  for (const auto& [name, t] : ck.tensors) {
    put_name(out, 1, name);
    put(out, std::uint8_t(t.dtype()));
    put(out, std::uint32_t(t.dim()));
    for (std::int64_t d : t.shape()) put(out, d);
    const Tensor host = t.to(Device::cpu());
    const std::uint64_t n_bytes = std::uint64_t(host.numel()) * dtype_size(host.dtype());
    put_payload(out, static_cast<const char*>(raw_bytes(host)), n_bytes);
  }
  out.append(kEnd, sizeof(kEnd));
  write_file_atomic(path, out);
}

std::string read_checkpoint_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open checkpoint ", path, ": no such file or not readable. Check the path (a run folder holds last.ckpt and best.ckpt)");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

Checkpoint load_checkpoint(const std::string& path) { return parse_checkpoint(read_checkpoint_file(path), path); }

Checkpoint parse_checkpoint(const std::string& bytes, const std::string& path) {
  if (bytes.size() < sizeof(kMagic) && bytes.compare(0, bytes.size(), kMagic, bytes.size()) != 0)
    fail(path, " is not a roast checkpoint (wrong magic number; expected \"ROASTCKP\"). Pass a .ckpt file written by roast-train");
  Reader r(path, bytes);
  const char* magic = r.take(sizeof(kMagic), "the magic number");
  if (std::memcmp(magic, kMagic, sizeof(kMagic)) != 0)
    fail(path, " is not a roast checkpoint (wrong magic number; expected \"ROASTCKP\"). Pass a .ckpt file written by roast-train");
  const auto version = r.get<std::uint32_t>("the format version");
  if (version != kCheckpointVersion)
    fail("checkpoint ", path, " has format version ", version, " but this build of roast reads version ",
         kCheckpointVersion, ". Use the roast release that wrote it, or retrain");
  const auto n_sections = r.get<std::uint32_t>("the section count");
  Checkpoint ck;
  for (std::uint32_t s = 0; s < n_sections; ++s) {
    const auto kind = r.get<std::uint8_t>("a section header");
    const auto name_len = r.get<std::uint32_t>("a section name");
    if (kind > 1 || name_len > kMaxNameBytes) r.bad("section " + std::to_string(s) + " has an invalid header");
    const std::string name(r.take(name_len, "a section name"), name_len);
    Shape shape;
    DType dtype = DType::f32;
    if (kind == 1) {
      const auto code = r.get<std::uint8_t>("a tensor dtype");
      const auto rank = r.get<std::uint32_t>("a tensor rank");
      if (code > 2 || rank > kMaxRank) r.bad("tensor \"" + name + "\" has an invalid dtype or rank");
      dtype = DType(code);
      for (std::uint32_t d = 0; d < rank; ++d) {
        shape.push_back(r.get<std::int64_t>("a tensor shape"));
        if (shape.back() < 0) r.bad("tensor \"" + name + "\" has a negative dimension");
      }
    }
    const auto n_bytes = r.get<std::uint64_t>("a section size");
    const char* payload = r.take(n_bytes, "a section payload");
    const auto crc = r.get<std::uint32_t>("a section checksum");
    if (crc != crc_of(payload, n_bytes)) r.bad("section \"" + name + "\" fails its CRC-32 check");
    if (kind == 0) {
      ck.header_json.assign(payload, n_bytes);
      continue;
    }
    if (n_bytes != std::uint64_t(shape_numel(shape)) * dtype_size(dtype))
      r.bad("tensor \"" + name + "\" holds " + std::to_string(n_bytes) + " bytes, its shape " + shape_str(shape) + " needs " +
            std::to_string(std::uint64_t(shape_numel(shape)) * dtype_size(dtype)));
    Tensor t = Tensor::empty(shape, dtype);
    std::memcpy(const_cast<void*>(raw_bytes(t)), payload, n_bytes);
    ck.tensors.emplace_back(name, t);
  }
  const char* end = r.take(sizeof(kEnd), "the end marker");
  if (std::memcmp(end, kEnd, sizeof(kEnd)) != 0) r.bad("the end marker is missing");
  return ck;
}

}  // namespace roast
