// Tokenizers and fixed-length encoding.
//
// Pipeline: text -> basic tokens (basic_tokenize) -> ids (a Tokenizer: word-level here,
// WordPiece in wordpiece.h) -> a fixed-length row ([CLS], ids..., [PAD]...) with a length
// that gives the mask.
//
// Basic tokenization, shared by both tokenizers (close to BERT's BasicTokenizer, ASCII only):
//  - HTML line breaks (<br>, <br/>, <br />, any case) become spaces (IMDB is full of them);
//  - ASCII letters are lower-cased when lower_case is set;
//  - whitespace separates tokens; every ASCII punctuation character is a token of its own
//    ("don't" -> don ' t); bytes >= 0x80 (UTF-8) are word characters and pass unchanged
//    (no accent stripping and no CJK splitting).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "roast/data/vocabulary.h"

namespace roast::data {

struct BasicTokenizerOptions {
  bool lower_case = true;
  bool strip_html_breaks = true;
};

// The basic tokens of `text` (see above).
std::vector<std::string> basic_tokenize(std::string_view text, const BasicTokenizerOptions& options = {});

// Text -> ids. Implementations are immutable after construction and safe to call from
// several threads at once (encode_texts does).
class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // Appends the ids of `text` to `ids`, without special tokens.
  virtual void append_ids(std::string_view text, std::vector<std::int32_t>& ids) const = 0;
  virtual const Vocabulary& vocabulary() const = 0;

  std::vector<std::int32_t> ids(std::string_view text) const;
};

struct WordVocabularyOptions {
  std::int64_t min_frequency = 1;  // keep tokens seen at least this often in the training texts
  std::int32_t max_size = 30000;   // at most this many ids, the three special tokens included (>= 3)
  BasicTokenizerOptions basic;
};

// One id per basic token; tokens outside the vocabulary map to [UNK].
class WordTokenizer final : public Tokenizer {
 public:
  WordTokenizer(Vocabulary vocabulary, BasicTokenizerOptions options = {});

  // Builds the vocabulary from training texts (never from validation or test texts):
  // ids 0, 1, 2 = [PAD], [UNK], [CLS], then tokens by decreasing frequency, ties broken by
  // byte order, so the result depends only on the texts and the options.
  static WordTokenizer train(const std::vector<std::string>& texts, const WordVocabularyOptions& options = {});

  void append_ids(std::string_view text, std::vector<std::int32_t>& ids) const override;
  const Vocabulary& vocabulary() const override { return vocabulary_; }
  const BasicTokenizerOptions& options() const { return options_; }

 private:
  Vocabulary vocabulary_;
  BasicTokenizerOptions options_;
};

struct EncodeOptions {
  std::int64_t seq_len = 256;  // > 0 (and >= 2 with add_cls)
  bool add_cls = true;         // put [CLS] first (classification pooling reads it)
};

// n texts encoded to rows of seq_len ids. Row i holds lengths[i] real tokens (the [CLS]
// included) followed by [PAD]: the mask of row i is 1 for t < lengths[i], else 0.
struct EncodedTexts {
  std::int64_t n = 0, seq_len = 0;
  std::vector<std::int32_t> ids;      // n * seq_len
  std::vector<std::int32_t> lengths;  // n, each in [0, seq_len]
  std::int64_t n_truncated = 0;       // rows whose tokens did not all fit
  std::int32_t pad_id = 0;
};

// Encodes every text (truncating at seq_len, padding with [PAD]); runs on all OpenMP threads.
EncodedTexts encode_texts(const Tokenizer& tokenizer, const std::vector<std::string>& texts,
                          const EncodeOptions& options = {});

// One text: ids (seq_len) and mask (seq_len, 1.0 for real tokens) for prediction.
void encode_text(const Tokenizer& tokenizer, std::string_view text, const EncodeOptions& options,
                 std::vector<std::int32_t>& ids, std::vector<float>& mask);

}  // namespace roast::data
