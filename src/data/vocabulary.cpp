#include "roast/data/vocabulary.h"

#include <climits>
#include <fstream>
#include <unordered_map>

#include "data/file_io.h"
#include "roast/error.h"

namespace roast::data {

// Lives on the heap behind a shared_ptr and never moves, so the index's string_view keys,
// which point into `tokens`, stay valid; lookups by string_view need no allocation.
struct Vocabulary::Table {
  std::vector<std::string> tokens;
  std::unordered_map<std::string_view, std::int32_t> index;
  std::int32_t pad = -1, unk = -1, cls = -1;
};

namespace {

bool has_whitespace(const std::string& token) {
  for (unsigned char c : token)
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') return true;
  return false;
}

}  // namespace

Vocabulary::Vocabulary(std::vector<std::string> tokens, const std::string& source) {
  auto table = std::make_shared<Table>();
  table->tokens = std::move(tokens);
  const auto& all = table->tokens;
  // ids 0.. are lines 1.. of a file; say both, since either may be what the reader has in mind.
  auto where = [&](std::size_t id) { return roast::detail::concat("'", source, "' id ", id, " (line ", id + 1, ")"); };
  if (all.size() > static_cast<std::size_t>(INT32_MAX)) fail("'", source, "' has more than 2^31 - 1 tokens.");
  table->index.reserve(all.size());
  for (std::size_t id = 0; id < all.size(); ++id) {
    if (all[id].empty())
      fail(where(id), " is an empty token; expected one non-empty token per line. Remove blank lines.");
    if (has_whitespace(all[id]))
      fail(where(id), ": token \"", all[id], "\" contains whitespace; expected one token per line.");
    const auto [it, inserted] = table->index.emplace(std::string_view(all[id]), static_cast<std::int32_t>(id));
    if (!inserted)
      fail(where(id), ": token \"", all[id], "\" already appears at id ", it->second,
           "; expected each token once. The file is damaged or was edited by hand.");
  }
  auto special = [&](const char* name) {
    const auto it = table->index.find(name);
    if (it == table->index.end())
      fail("'", source, "' lacks the special token ", name, "; expected [PAD], [UNK] and [CLS] in every vocabulary. ",
           all.empty() ? "The vocabulary is empty. " : "", "Use a BERT vocab.txt or one saved by roast.");
    return it->second;
  };
  table->pad = special(kPad);
  table->unk = special(kUnk);
  table->cls = special(kCls);
  table_ = std::move(table);
}

Vocabulary Vocabulary::load(const std::string& path) {
  const std::string text = detail::read_text_file(path);
  if (text.empty()) fail("vocabulary file '", path, "' is empty; expected one token per line.");
  std::vector<std::string> tokens;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::size_t stop = end;
    if (stop > start && text[stop - 1] == '\r') --stop;
    tokens.emplace_back(text, start, stop - start);
    start = end + 1;
  }
  return Vocabulary(std::move(tokens), path);
}

void Vocabulary::save(const std::string& path) const {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) fail("cannot write vocabulary file '", path, "'; check that its folder exists and is writable.");
  for (const auto& token : table_->tokens) out << token << '\n';
  out.flush();
  if (!out) fail("writing vocabulary file '", path, "' failed (disk full?).");
}

std::int32_t Vocabulary::size() const { return static_cast<std::int32_t>(table_->tokens.size()); }

std::int32_t Vocabulary::find(std::string_view token) const {
  const auto it = table_->index.find(token);
  return it == table_->index.end() ? -1 : it->second;
}

std::int32_t Vocabulary::id(std::string_view token) const {
  const auto it = table_->index.find(token);
  return it == table_->index.end() ? table_->unk : it->second;
}

const std::string& Vocabulary::token(std::int32_t id) const {
  ROAST_CHECK(id >= 0 && id < size(), "Vocabulary::token: id ", id, " is outside [0, ", size(), ").");
  return table_->tokens[static_cast<std::size_t>(id)];
}

const std::vector<std::string>& Vocabulary::tokens() const { return table_->tokens; }
std::int32_t Vocabulary::pad_id() const { return table_->pad; }
std::int32_t Vocabulary::unk_id() const { return table_->unk; }
std::int32_t Vocabulary::cls_id() const { return table_->cls; }

std::uint64_t Vocabulary::fingerprint() const {
  std::uint64_t hash = detail::fnv1a(nullptr, 0);
  for (const auto& token : table_->tokens) {
    hash = detail::fnv1a(token.data(), token.size(), hash);
    hash = detail::fnv1a("\n", 1, hash);
  }
  return hash;
}

}  // namespace roast::data
