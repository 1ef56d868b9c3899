// Vocabulary: the token <-> id table shared by the tokenizers, saved with a run so that
// evaluation and prediction use exactly the table training used.
//
// File format: plain UTF-8 text, one token per line, id = line number - 1 (the format of
// BERT's vocab.txt, so those files load as they are). A final newline is optional;
// "\r\n" line ends are accepted.
//
// Every vocabulary holds the three special tokens [PAD], [UNK] and [CLS] (anywhere; the
// word-level vocabularies roast builds put them at ids 0, 1, 2). A Vocabulary is immutable
// and cheap to copy (copies share one table); lookups are safe from several threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace roast::data {

class Vocabulary {
 public:
  static constexpr const char* kPad = "[PAD]";
  static constexpr const char* kUnk = "[UNK]";
  static constexpr const char* kCls = "[CLS]";

  // Tokens in id order. Requires: at least the three special tokens, no duplicates, no
  // empty token and no token containing whitespace. Throws roast::Error naming `source`
  // (a file name when loading) and the offending id (and line) otherwise.
  explicit Vocabulary(std::vector<std::string> tokens, const std::string& source = "vocabulary");

  // Reads and validates a vocabulary file (see the format above). Errors name the file,
  // the line and the fix (a missing file, an empty file, a blank line, a duplicate, a
  // missing special token).
  static Vocabulary load(const std::string& path);
  // Writes the file format above; loading it gives an identical vocabulary.
  void save(const std::string& path) const;

  std::int32_t size() const;
  // The id of `token`, or -1 when it is not in the vocabulary.
  std::int32_t find(std::string_view token) const;
  // The id of `token`, or unk_id() when it is not in the vocabulary.
  std::int32_t id(std::string_view token) const;
  // Requires 0 <= id < size().
  const std::string& token(std::int32_t id) const;
  const std::vector<std::string>& tokens() const;

  std::int32_t pad_id() const;
  std::int32_t unk_id() const;
  std::int32_t cls_id() const;

  // A 64-bit hash of the token list: store it with a model and compare it on load to catch a
  // model paired with another vocabulary.
  std::uint64_t fingerprint() const;

 private:
  struct Table;
  std::shared_ptr<const Table> table_;
};

}  // namespace roast::data
