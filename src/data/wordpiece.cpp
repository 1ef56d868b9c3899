#include "roast/data/wordpiece.h"

#include "data/basic_tokenize.h"
#include "roast/error.h"

namespace roast::data {
namespace {

bool is_utf8_continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

std::int64_t utf8_length(std::string_view word) {
  std::int64_t n = 0;
  for (char c : word) n += is_utf8_continuation(c) ? 0 : 1;
  return n;
}

}  // namespace

WordPieceTokenizer::WordPieceTokenizer(Vocabulary vocabulary, WordPieceOptions options)
    : vocabulary_(std::move(vocabulary)), options_(options) {
  ROAST_CHECK(options_.max_chars_per_word > 0, "WordPiece: max_chars_per_word ", options_.max_chars_per_word,
              " must be positive.");
}

WordPieceTokenizer WordPieceTokenizer::from_file(const std::string& vocab_path, WordPieceOptions options) {
  return WordPieceTokenizer(Vocabulary::load(vocab_path), options);
}

void WordPieceTokenizer::append_ids(std::string_view text, std::vector<std::int32_t>& ids) const {
  std::string buffer, scratch;
  std::vector<std::string_view> words;
  detail::basic_tokenize_into(text, options_.basic, buffer, words);
  for (std::string_view word : words) append_word(word, ids, scratch);
}

void WordPieceTokenizer::append_word(std::string_view word, std::vector<std::int32_t>& ids, std::string& scratch) const {
  if (utf8_length(word) > options_.max_chars_per_word) {
    ids.push_back(vocabulary_.unk_id());
    return;
  }
  const std::size_t first_piece = ids.size();
  std::size_t start = 0;
  while (start < word.size()) {
    // Longest match first: shrink the candidate one character at a time from the right.
    std::int32_t found = -1;
    std::size_t end = word.size();
    while (end > start) {
      scratch.assign(start > 0 ? "##" : "");
      scratch.append(word.substr(start, end - start));
      found = vocabulary_.find(scratch);
      if (found >= 0) break;
      do --end;
      while (end > start && is_utf8_continuation(word[end]));
    }
    if (found < 0) {  // no piece covers this position: the whole word is unknown, as in BERT
      ids.resize(first_piece);
      ids.push_back(vocabulary_.unk_id());
      return;
    }
    ids.push_back(found);
    start = end;
  }
}

}  // namespace roast::data
