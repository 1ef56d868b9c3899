#include "data/file_io.h"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <cstdint>
#include <fstream>
#include <functional>
#include <sys/stat.h>

#include "io/json_safe.h"
#include "roast/error.h"
#include "roast/limits.h"

namespace roast::data::detail {
namespace {

[[noreturn]] void fail_open(const std::string& path) {
  const int err = errno;
  if (!file_exists(path)) {
    struct stat info {};
    if (::stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode))
      fail("cannot read '", path, "': it is a directory, expected a file. Check the path.");
    fail("cannot read '", path, "': no such file. Check the path, or fetch the dataset with "
         "scripts/fetch_data.sh (see docs/data.md).");
  }
  fail("cannot read '", path, "': ", std::strerror(err), ". Check the file's permissions.");
}

// Inflates at most `limit` bytes: output past it is never produced (a gzip bomb costs no
// more than the caller allows), and the stream is then not checked further.
std::vector<std::uint8_t> inflate_gzip(const std::string& path, const std::vector<std::uint8_t>& packed,
                                       std::size_t limit = SIZE_MAX) {
  std::vector<std::uint8_t> out;
  // The gzip trailer stores the uncompressed size mod 2^32: a good first guess for the buffer.
  if (packed.size() >= 18) {
    const std::size_t n = packed.size();
    const std::uint32_t isize = std::uint32_t(packed[n - 4]) | std::uint32_t(packed[n - 3]) << 8 |
                                std::uint32_t(packed[n - 2]) << 16 | std::uint32_t(packed[n - 1]) << 24;
    // isize is the file's claim: trust it no further than deflate's best ratio (1032:1) allows.
    const std::size_t most = packed.size() > SIZE_MAX / 1032 ? SIZE_MAX : packed.size() * 1032;
    out.reserve(std::min<std::size_t>({limit, most, std::max<std::size_t>(isize, packed.size())}));
  }
  z_stream stream{};
  if (inflateInit2(&stream, 15 + 16) != Z_OK) fail("zlib could not start inflating '", path, "'");
  stream.next_in = const_cast<Bytef*>(packed.data());
  stream.avail_in = static_cast<uInt>(packed.size());
  constexpr std::size_t kChunk = 1 << 20;
  int status = Z_OK;
  for (;;) {
    const std::size_t used = out.size();
    if (used >= limit) {
      inflateEnd(&stream);
      return out;
    }
    const std::size_t chunk = std::min(kChunk, limit - used);
    out.resize(used + chunk);
    stream.next_out = out.data() + used;
    stream.avail_out = static_cast<uInt>(chunk);
    status = inflate(&stream, Z_NO_FLUSH);
    out.resize(used + chunk - stream.avail_out);
    if (status == Z_STREAM_END) {
      if (stream.avail_in == 0) break;
      inflateReset(&stream);  // a further gzip member follows
      continue;
    }
    if (status == Z_OK) continue;
    if (status == Z_BUF_ERROR && stream.avail_in == 0) break;  // input ran out mid-stream
    const std::string reason = stream.msg ? stream.msg : "zlib error " + std::to_string(status);
    const auto at_byte = stream.total_in;
    inflateEnd(&stream);
    fail("gzip file '", path, "' is corrupt (", reason, " near compressed byte ", at_byte,
         "). Delete it and fetch it again.");
  }
  const bool complete = status == Z_STREAM_END;
  const auto consumed = stream.total_in;
  inflateEnd(&stream);
  if (!complete)
    fail("gzip file '", path, "' is truncated: the compressed stream ends after ", consumed,
         " bytes without its end marker (expected a complete gzip member). Delete it and fetch it again.");
  return out;
}

// The whole file into a std::string or a byte vector (one read, no copies).
template <typename Buffer>
Buffer read_whole_file(const std::string& path) {
  if (!file_exists(path)) fail_open(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) fail_open(path);
  in.seekg(0, std::ios::end);
  const std::streamoff n_bytes = in.tellg();
  in.seekg(0, std::ios::beg);
  Buffer buffer(static_cast<std::size_t>(n_bytes), 0);
  if (n_bytes > 0 && !in.read(reinterpret_cast<char*>(buffer.data()), n_bytes))
    fail("cannot read '", path, "': read error after ", in.gcount(), " of ", n_bytes, " bytes.");
  return buffer;
}

}  // namespace

bool file_exists(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode);
}

std::string join_path(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  return dir.back() == '/' ? dir + name : dir + "/" + name;
}

std::vector<std::uint8_t> read_file_bytes(const std::string& path, std::size_t max_bytes) {
  std::vector<std::uint8_t> bytes = read_whole_file<std::vector<std::uint8_t>>(path);
  if (!(bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b)) return bytes;
  std::vector<std::uint8_t> out = inflate_gzip(path, bytes, max_bytes == SIZE_MAX ? max_bytes : max_bytes + 1);
  if (out.size() > max_bytes)
    fail("gzip file '", path, "' expands to more than ", max_bytes, " bytes, more than any file of its kind holds; ",
         "it is damaged or not a dataset file. Check the path.");
  return out;
}

std::vector<std::uint8_t> read_file_bytes_declared(const std::string& path, std::size_t header_bytes,
                                                   const std::function<std::uint64_t(const std::vector<std::uint8_t>&)>& total_size) {
  std::vector<std::uint8_t> bytes = read_whole_file<std::vector<std::uint8_t>>(path);
  if (!(bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b)) return bytes;
  const std::vector<std::uint8_t> header = inflate_gzip(path, bytes, header_bytes);
  if (header.size() < header_bytes) return header;  // the caller reports the truncation
  const std::uint64_t total = total_size(header);
  // One byte more than declared, so that the caller sees (and names) trailing data.
  return inflate_gzip(path, bytes, total >= SIZE_MAX - 1 ? SIZE_MAX : std::size_t(total) + 1);
}

std::string read_text_file(const std::string& path) { return read_whole_file<std::string>(path); }

void require_utf8(const std::string& path, const std::string& text) {
  std::size_t bad = 0;
  if (valid_utf8(text, &bad)) return;
  const std::size_t line = 1 + std::size_t(std::count(text.begin(), text.begin() + std::ptrdiff_t(bad), '\n'));
  const std::size_t line_start = text.rfind('\n', bad == 0 ? 0 : bad - 1);
  const std::size_t column = line_start == std::string::npos || bad == 0 ? bad + 1 : bad - line_start;
  char hex[8];
  std::snprintf(hex, sizeof hex, "0x%02x", unsigned(static_cast<unsigned char>(text[bad])));
  fail("'", path, "' line ", line, " column ", column, ": invalid UTF-8 (byte ", hex,
       "); text files must be UTF-8. Convert the file, e.g. iconv -f latin1 -t utf-8 FILE > FILE.utf8");
}

std::vector<std::string> read_name_list(const std::string& path) {
  const std::string text = read_text_file(path);
  require_utf8(path, text);
  std::vector<std::string> names;
  std::size_t start = 0;
  int line_number = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    ++line_number;
    std::size_t first = start, last = end;
    while (first < last && std::isspace(static_cast<unsigned char>(text[first]))) ++first;
    while (last > first && std::isspace(static_cast<unsigned char>(text[last - 1]))) --last;
    if (last > first) {
      std::string name = text.substr(first, last - first);
      if (std::int64_t(names.size()) >= limits::kMaxClasses)
        fail("'", path, "' lists more than ", limits::kMaxClasses, " class names; at most that many classes are supported.");
      for (const auto& seen : names)
        if (seen == name) fail("'", path, "' line ", line_number, ": class name '", name, "' appears twice; expected one distinct name per line.");
      names.push_back(std::move(name));
    }
    start = end + 1;
  }
  if (names.empty()) fail("'", path, "' lists no class names; expected one name per line.");
  return names;
}

std::uint64_t fnv1a(const void* data, std::size_t n_bytes, std::uint64_t hash) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < n_bytes; ++i) {
    hash ^= bytes[i];
    hash *= 1099511628211ull;
  }
  return hash;
}

}  // namespace roast::data::detail
