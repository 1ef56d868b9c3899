// Basic, word-level and WordPiece tokenization, fixed-length encoding and vocabulary files.
#include <algorithm>

#include "roast/data/tokenizer.h"
#include "roast/data/wordpiece.h"
#include "test_data_fixtures.h"

using namespace roast::data;
using namespace data_fixtures;

namespace {

std::vector<std::string> pieces(const Tokenizer& tokenizer, std::string_view text) {
  std::vector<std::string> out;
  for (std::int32_t id : tokenizer.ids(text)) out.push_back(tokenizer.vocabulary().token(id));
  return out;
}

using Strings = std::vector<std::string>;

}  // namespace

TEST_CASE("basic tokenization: case, punctuation, HTML breaks, UTF-8", "[data]") {
  CHECK(basic_tokenize("Hello, World!<br /><BR/>It's <br>GREAT<br  / >end") ==
        Strings{"hello", ",", "world", "!", "it", "'", "s", "great", "end"});
  CHECK(basic_tokenize("Caf\xC3\xA9 \xC3\x89T\xC3\x89\t\n x") == Strings{"caf\xC3\xA9", "\xC3\x89t\xC3\x89", "x"});
  CHECK(basic_tokenize("a<b c<br") == Strings{"a", "<", "b", "c", "<", "br"});  // not line breaks
  CHECK(basic_tokenize("KEEP<br/>Case", {false, false}) == Strings{"KEEP", "<", "br", "/", ">", "Case"});
  CHECK(basic_tokenize("   ").empty());
}

TEST_CASE("word vocabulary: specials first, then by frequency, ties by bytes; min frequency and max size", "[data]") {
  const Strings texts = {"the cat sat", "The dog sat!", "the bird", "a zebra"};
  // Counts: the 3, sat 2, then 1 each: !, a, bird, cat, dog, zebra (byte order: '!' < 'a').
  const WordTokenizer all = WordTokenizer::train(texts);
  CHECK(all.vocabulary().tokens() == Strings{"[PAD]", "[UNK]", "[CLS]", "the", "sat", "!", "a", "bird", "cat", "dog", "zebra"});
  CHECK(all.vocabulary().pad_id() == 0);
  CHECK(all.vocabulary().unk_id() == 1);
  CHECK(all.vocabulary().cls_id() == 2);

  WordVocabularyOptions frequent;
  frequent.min_frequency = 2;
  CHECK(WordTokenizer::train(texts, frequent).vocabulary().tokens() == Strings{"[PAD]", "[UNK]", "[CLS]", "the", "sat"});
  WordVocabularyOptions small;
  small.max_size = 6;
  const WordTokenizer capped = WordTokenizer::train(texts, small);
  CHECK(capped.vocabulary().tokens() == Strings{"[PAD]", "[UNK]", "[CLS]", "the", "sat", "!"});
  CHECK(capped.ids("The zebra sat") == std::vector<std::int32_t>{3, 1, 4});
  small.max_size = 2;
  CHECK_THROWS_AS(WordTokenizer::train(texts, small), roast::Error);
}

TEST_CASE("encoding: [CLS], truncation, padding, lengths and masks", "[data]") {
  const WordTokenizer tok = WordTokenizer::train({"a b c d e"});
  // ids: a=3 b=4 c=5 d=6 e=7 (all frequency 1, byte order).
  EncodeOptions options;
  options.seq_len = 4;
  const EncodedTexts enc = encode_texts(tok, {"a b", "e d c b a", "", "zz"}, options);
  CHECK(enc.n == 4);
  CHECK(enc.seq_len == 4);
  CHECK(enc.ids == std::vector<std::int32_t>{2, 3, 4, 0, /**/ 2, 7, 6, 5, /**/ 2, 0, 0, 0, /**/ 2, 1, 0, 0});
  CHECK(enc.lengths == std::vector<std::int32_t>{3, 4, 1, 2});
  CHECK(enc.n_truncated == 1);

  options.add_cls = false;
  std::vector<std::int32_t> ids;
  std::vector<float> mask;
  encode_text(tok, "b a", options, ids, mask);
  CHECK(ids == std::vector<std::int32_t>{4, 3, 0, 0});
  CHECK(mask == std::vector<float>{1, 1, 0, 0});
  options.seq_len = 1;
  options.add_cls = true;
  CHECK_THROWS_AS(encode_texts(tok, {"a"}, options), roast::Error);
}

TEST_CASE("encoding on many threads equals encoding one text at a time", "[data]") {
  std::mt19937 rng(5);
  const Strings words = {"alpha", "beta", "gamma", "delta", "<br />", "Epsilon,", "zeta!"};
  Strings texts(3000);
  for (auto& text : texts)
    for (int w = 0, n = static_cast<int>(rng() % 40); w < n; ++w) text += words[rng() % words.size()] + " ";
  const WordTokenizer tok = WordTokenizer::train(Strings(texts.begin(), texts.begin() + 100));
  EncodeOptions options;
  options.seq_len = 24;
  const EncodedTexts enc = encode_texts(tok, texts, options);
  std::vector<std::int32_t> ids;
  std::vector<float> mask;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    encode_text(tok, texts[i], options, ids, mask);
    REQUIRE(std::equal(ids.begin(), ids.end(), enc.ids.begin() + static_cast<std::ptrdiff_t>(i * 24)));
    REQUIRE(std::count(mask.begin(), mask.end(), 1.0f) == enc.lengths[i]);
  }
}

TEST_CASE("vocabulary files: round trip and validation on load", "[data]") {
  TempDir dir;
  const WordTokenizer tok = WordTokenizer::train({"x y z y \xC3\xA9t\xC3\xA9"});
  tok.vocabulary().save(dir.file("vocab.txt"));
  const Vocabulary loaded = Vocabulary::load(dir.file("vocab.txt"));
  CHECK(loaded.tokens() == tok.vocabulary().tokens());
  CHECK(loaded.fingerprint() == tok.vocabulary().fingerprint());
  CHECK(WordTokenizer(loaded).ids("Z y \xC3\xA9t\xC3\xA9 q") == tok.ids("Z y \xC3\xA9t\xC3\xA9 q"));

  write_text(dir.file("crlf.txt"), "[UNK]\r\n[CLS]\r\n[PAD]\r\nhi");  // no final newline
  const Vocabulary crlf = Vocabulary::load(dir.file("crlf.txt"));
  CHECK(crlf.size() == 4);
  CHECK(crlf.pad_id() == 2);
  CHECK(crlf.find("hi") == 3);
  CHECK(crlf.find("hello") == -1);
  CHECK(crlf.id("hello") == 0);
  CHECK(crlf.fingerprint() != loaded.fingerprint());

  const std::string bad = dir.file("bad.txt");
  write_text(bad, "[PAD]\n[UNK]\n[CLS]\nhi\nthere\nhi\n");
  std::string msg = error_message([&] { Vocabulary::load(bad); });
  INFO(msg);
  CHECK(mentions(msg, bad));
  CHECK(mentions(msg, "id 5 (line 6): token \"hi\" already appears at id 3"));
  write_text(bad, "[PAD]\n[UNK]\n\n[CLS]\n");
  CHECK(mentions(error_message([&] { Vocabulary::load(bad); }), "id 2 (line 3) is an empty token"));
  write_text(bad, "[PAD]\n[UNK]\nhello world\n");
  CHECK(mentions(error_message([&] { Vocabulary::load(bad); }), "contains whitespace"));
  write_text(bad, "[PAD]\n[UNK]\nhi\n");
  CHECK(mentions(error_message([&] { Vocabulary::load(bad); }), "lacks the special token [CLS]"));
  write_text(bad, "");
  CHECK(mentions(error_message([&] { Vocabulary::load(bad); }), "is empty"));
  CHECK(mentions(error_message([&] { Vocabulary::load(dir.file("none.txt")); }), "no such file"));
}

TEST_CASE("wordpiece: greedy longest match first with ## continuations", "[data]") {
  TempDir dir;
  write_text(dir.file("vocab.txt"),
             "[PAD]\n[UNK]\n[CLS]\n[SEP]\nun\n##aff\n##able\nwant\n##ed\n##want\nrunn\n##ing\nu\n##n\n,\n"
             "caf\n##\xC3\xA9\na\n##ab\n##b\n");
  const WordPieceTokenizer wp = WordPieceTokenizer::from_file(dir.file("vocab.txt"));
  CHECK(pieces(wp, "unaffable") == Strings{"un", "##aff", "##able"});
  CHECK(pieces(wp, "UNwanted, running") == Strings{"un", "##want", "##ed", ",", "runn", "##ing"});
  CHECK(pieces(wp, "unwantedX") == Strings{"[UNK]"});  // x cannot be covered: the whole word is unknown
  CHECK(pieces(wp, "Caf\xC3\xA9") == Strings{"caf", "##\xC3\xA9"});
  CHECK(pieces(wp, "abb") == Strings{"a", "##b", "##b"});  // "ab" is not a word start; "##ab" only continues
  CHECK(pieces(wp, "aab") == Strings{"a", "##ab"});

  WordPieceOptions short_words;
  short_words.max_chars_per_word = 4;
  const WordPieceTokenizer capped = WordPieceTokenizer::from_file(dir.file("vocab.txt"), short_words);
  CHECK(pieces(capped, "runn running") == Strings{"runn", "[UNK]"});
  write_text(dir.file("novocab.txt"), "[PAD]\n[CLS]\nhi\n");
  CHECK(mentions(error_message([&] { WordPieceTokenizer::from_file(dir.file("novocab.txt")); }), "[UNK]"));
}
