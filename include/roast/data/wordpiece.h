// WordPiece: BERT's subword tokenizer, from a BERT vocab.txt given by path.
//
// Each basic token (tokenizer.h) is split greedily, longest match first: the longest
// vocabulary entry that starts the word, then the longest "##"-prefixed entry that
// continues it, and so on. A word that cannot be covered this way, or that is longer
// than max_chars_per_word characters, becomes one [UNK] (as in BERT). Splits fall on
// UTF-8 character boundaries.
#pragma once

#include <string>

#include "roast/data/tokenizer.h"

namespace roast::data {

struct WordPieceOptions {
  BasicTokenizerOptions basic;       // lower_case must match the vocabulary (true for *-uncased)
  std::int32_t max_chars_per_word = 100;
};

class WordPieceTokenizer final : public Tokenizer {
 public:
  WordPieceTokenizer(Vocabulary vocabulary, WordPieceOptions options = {});
  // Loads and validates vocab.txt (see vocabulary.h for the errors it reports).
  static WordPieceTokenizer from_file(const std::string& vocab_path, WordPieceOptions options = {});

  void append_ids(std::string_view text, std::vector<std::int32_t>& ids) const override;
  const Vocabulary& vocabulary() const override { return vocabulary_; }

 private:
  void append_word(std::string_view word, std::vector<std::int32_t>& ids, std::string& scratch) const;

  Vocabulary vocabulary_;
  WordPieceOptions options_;
};

}  // namespace roast::data
