#include "roast/data/tokenizer.h"

#include <algorithm>
#include <unordered_map>

#include "data/basic_tokenize.h"
#include "roast/error.h"

namespace roast::data {
namespace detail {
namespace {

bool is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }
// ASCII punctuation: !"#$%&'()*+,-./:;<=>?@[\]^_`{|}~ (what BERT treats as punctuation in ASCII).
bool is_punct(unsigned char c) { return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126); }
char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// Length of an HTML line break (<br>, <br/>, <br />, any case and inner spacing) at text[i], else 0.
std::size_t html_break_length(std::string_view text, std::size_t i) {
  if (i + 2 >= text.size() || lower(text[i + 1]) != 'b' || lower(text[i + 2]) != 'r') return 0;
  std::size_t j = i + 3;
  while (j < text.size() && text[j] == ' ') ++j;
  if (j < text.size() && text[j] == '/') ++j;
  while (j < text.size() && text[j] == ' ') ++j;
  return j < text.size() && text[j] == '>' ? j + 1 - i : 0;
}

}  // namespace

void basic_tokenize_into(std::string_view text, const BasicTokenizerOptions& options, std::string& buffer,
                         std::vector<std::string_view>& tokens) {
  // The normalised text is never longer than the input, so reserving text.size() up front means
  // the buffer never reallocates and the views taken into it stay valid.
  buffer.clear();
  buffer.reserve(text.size());
  tokens.clear();
  std::size_t token_start = std::string::npos;
  auto close_token = [&] {
    if (token_start != std::string::npos) tokens.emplace_back(buffer.data() + token_start, buffer.size() - token_start);
    token_start = std::string::npos;
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '<' && options.strip_html_breaks) {
      if (const std::size_t n = html_break_length(text, i)) {
        close_token();
        i += n - 1;
        continue;
      }
    }
    if (is_space(c)) {
      close_token();
    } else if (is_punct(c)) {
      close_token();
      buffer.push_back(static_cast<char>(c));
      tokens.emplace_back(buffer.data() + buffer.size() - 1, 1);
    } else {
      if (token_start == std::string::npos) token_start = buffer.size();
      buffer.push_back(options.lower_case ? lower(static_cast<char>(c)) : static_cast<char>(c));
    }
  }
  close_token();
}

}  // namespace detail

std::vector<std::string> basic_tokenize(std::string_view text, const BasicTokenizerOptions& options) {
  std::string buffer;
  std::vector<std::string_view> views;
  detail::basic_tokenize_into(text, options, buffer, views);
  return {views.begin(), views.end()};
}

std::vector<std::int32_t> Tokenizer::ids(std::string_view text) const {
  std::vector<std::int32_t> out;
  append_ids(text, out);
  return out;
}

WordTokenizer::WordTokenizer(Vocabulary vocabulary, BasicTokenizerOptions options)
    : vocabulary_(std::move(vocabulary)), options_(options) {}

WordTokenizer WordTokenizer::train(const std::vector<std::string>& texts, const WordVocabularyOptions& options) {
  ROAST_CHECK(options.max_size >= 3, "word vocabulary: max_size ", options.max_size,
              " leaves no room for the 3 special tokens [PAD], [UNK], [CLS]; expected >= 3.");
  ROAST_CHECK(options.min_frequency >= 1, "word vocabulary: min_frequency ", options.min_frequency, " must be >= 1.");
  ROAST_CHECK(!texts.empty(), "word vocabulary: no training texts; expected at least one.");
  std::unordered_map<std::string, std::int64_t> counts;
  std::string buffer, key;
  std::vector<std::string_view> tokens;
  for (const auto& text : texts) {
    detail::basic_tokenize_into(text, options.basic, buffer, tokens);
    for (std::string_view token : tokens) {
      key.assign(token);
      ++counts[key];
    }
  }
  std::vector<std::pair<std::string, std::int64_t>> ranked;
  for (auto& [token, count] : counts)
    if (count >= options.min_frequency && token != Vocabulary::kPad && token != Vocabulary::kUnk && token != Vocabulary::kCls)
      ranked.emplace_back(token, count);
  const std::size_t keep = std::min<std::size_t>(ranked.size(), static_cast<std::size_t>(options.max_size) - 3);
  auto by_rank = [](const auto& a, const auto& b) { return a.second != b.second ? a.second > b.second : a.first < b.first; };
  std::partial_sort(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(keep), ranked.end(), by_rank);
  std::vector<std::string> vocab = {Vocabulary::kPad, Vocabulary::kUnk, Vocabulary::kCls};
  for (std::size_t i = 0; i < keep; ++i) vocab.push_back(std::move(ranked[i].first));
  return WordTokenizer(Vocabulary(std::move(vocab), "word vocabulary"), options.basic);
}

void WordTokenizer::append_ids(std::string_view text, std::vector<std::int32_t>& ids) const {
  std::string buffer;
  std::vector<std::string_view> tokens;
  detail::basic_tokenize_into(text, options_, buffer, tokens);
  for (std::string_view token : tokens) ids.push_back(vocabulary_.id(token));
}

namespace {

void check_encode_options(const EncodeOptions& options) {
  ROAST_CHECK(options.seq_len >= (options.add_cls ? 2 : 1), "encode: seq_len ", options.seq_len, " is too small; expected >= ",
              options.add_cls ? "2 (the [CLS] token and at least one token)" : "1", ".");
}

// Writes one row: [CLS] (optional), the first ids that fit, then padding. Returns the length.
std::int32_t write_row(const Vocabulary& vocab, const std::vector<std::int32_t>& token_ids, const EncodeOptions& options,
                       std::int32_t* row, bool& truncated) {
  std::int64_t t = 0;
  if (options.add_cls) row[t++] = vocab.cls_id();
  const std::int64_t room = options.seq_len - t;
  const std::int64_t n_copy = std::min<std::int64_t>(room, static_cast<std::int64_t>(token_ids.size()));
  std::copy(token_ids.begin(), token_ids.begin() + n_copy, row + t);
  t += n_copy;
  truncated = static_cast<std::int64_t>(token_ids.size()) > room;
  std::fill(row + t, row + options.seq_len, vocab.pad_id());
  return static_cast<std::int32_t>(t);
}

}  // namespace

EncodedTexts encode_texts(const Tokenizer& tokenizer, const std::vector<std::string>& texts, const EncodeOptions& options) {
  check_encode_options(options);
  EncodedTexts out;
  out.n = static_cast<std::int64_t>(texts.size());
  out.seq_len = options.seq_len;
  out.pad_id = tokenizer.vocabulary().pad_id();
  // n x seq_len ids: checked before the multiplication can wrap (a huge seq_len once gave an
  // empty buffer that the rows below wrote through).
  constexpr std::int64_t kMaxIds = std::int64_t(1) << 36;
  ROAST_CHECK(out.n == 0 || out.seq_len <= kMaxIds / out.n, "encode: ", out.n, " texts x seq_len ", out.seq_len,
              " tokens is more than 2^36 ids; lower data.seq_len (at most 65536) or use fewer texts");
  out.ids.resize(static_cast<std::size_t>(out.n * out.seq_len));
  out.lengths.resize(texts.size());
  std::int64_t n_truncated = 0;
  // Rows are independent and each thread writes only its own rows.
#pragma omp parallel reduction(+ : n_truncated)
  {
    std::vector<std::int32_t> token_ids;
#pragma omp for schedule(dynamic, 256)
    for (std::int64_t i = 0; i < out.n; ++i) {
      token_ids.clear();
      tokenizer.append_ids(texts[static_cast<std::size_t>(i)], token_ids);
      bool truncated = false;
      out.lengths[static_cast<std::size_t>(i)] =
          write_row(tokenizer.vocabulary(), token_ids, options, out.ids.data() + i * out.seq_len, truncated);
      n_truncated += truncated ? 1 : 0;
    }
  }
  out.n_truncated = n_truncated;
  return out;
}

void encode_text(const Tokenizer& tokenizer, std::string_view text, const EncodeOptions& options,
                 std::vector<std::int32_t>& ids, std::vector<float>& mask) {
  check_encode_options(options);
  std::vector<std::int32_t> token_ids;
  tokenizer.append_ids(text, token_ids);
  ids.assign(static_cast<std::size_t>(options.seq_len), 0);
  bool truncated = false;
  const std::int32_t length = write_row(tokenizer.vocabulary(), token_ids, options, ids.data(), truncated);
  mask.assign(static_cast<std::size_t>(options.seq_len), 0.0f);
  std::fill(mask.begin(), mask.begin() + length, 1.0f);
}

}  // namespace roast::data
