// Internal helpers shared by the readers: whole-file reads with gzip detection, and the
// pieces of error messages every reader repeats.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace roast::data::detail {

// The file's bytes, inflated when it starts with the gzip magic (1f 8b); several
// concatenated gzip members are read as one stream, as gunzip does.
// Throws roast::Error for a missing or unreadable file and for a truncated or corrupt gzip
// stream, naming the file and the fix.
// A gzip stream that inflates past `max_bytes` is refused (roast::Error) when it gets there.
std::vector<std::uint8_t> read_file_bytes(const std::string& path, std::size_t max_bytes = std::size_t(1) << 31);

// A file whose (decompressed) size its own header declares: only `header_bytes` are
// inflated first, then total_size(header) (which validates the header, throwing for a bad
// one) bounds the rest, plus one byte so that trailing data shows. Raw files are read whole.
std::vector<std::uint8_t> read_file_bytes_declared(const std::string& path, std::size_t header_bytes,
                                                   const std::function<std::uint64_t(const std::vector<std::uint8_t>&)>& total_size);

// The file as text (no gzip detection); throws like read_file_bytes.
std::string read_text_file(const std::string& path);

// True when `path` names an existing regular file.
bool file_exists(const std::string& path);

// Joins a directory and a file name with exactly one '/'.
std::string join_path(const std::string& dir, const std::string& name);

// "one per line" names (classes.txt, batches.meta.txt): trailing '\r' and surrounding
// blanks removed, empty lines skipped. Throws on duplicates or when none are left.
std::vector<std::string> read_name_list(const std::string& path);

// Throws roast::Error naming the file, line and column of the first byte that is not UTF-8.
void require_utf8(const std::string& path, const std::string& text);

// 64-bit FNV-1a, used to fingerprint datasets for recorded splits.
std::uint64_t fnv1a(const void* data, std::size_t n_bytes, std::uint64_t hash = 14695981039346656037ull);

}  // namespace roast::data::detail
