// CSV / JSONL / TSV readers and the IMDB and Reuters R8 loaders on generated fixtures,
// plus the real corpora when scripts/fetch_data.sh has put them in data/.
#include <algorithm>
#include <cmath>
#include <set>

#include "roast/data/split.h"
#include "roast/data/text_corpora.h"
#include "roast/data/text_formats.h"
#include "test_data_fixtures.h"

using namespace roast::data;
using namespace data_fixtures;

TEST_CASE("csv: char-CNN layout with quotes, escapes, joined columns and classes.txt", "[data]") {
  TempDir dir;
  write_text(dir.file("train.csv"),
             "\"3\",\"Wall St. Bears Claw Back\",\"Reuters - Short-sellers, \"\"the ultra-cynics\"\", are back.\"\n"
             "1,plain title,second\\nline\r\n"
             "\n"
             "\"2\",\"spans\ntwo lines\"\n"
             "\"4\",\"only one text column\"");
  write_text(dir.file("classes.txt"), "World\nSports\nBusiness\nSci/Tech\n");
  const TextDataset ds = read_csv_dataset(dir.file("train.csv"));
  REQUIRE(ds.size() == 4);
  CHECK(ds.texts[0] == "Wall St. Bears Claw Back Reuters - Short-sellers, \"the ultra-cynics\", are back.");
  CHECK(ds.texts[1] == "plain title second\nline");
  CHECK(ds.texts[2] == "spans\ntwo lines");
  CHECK(ds.texts[3] == "only one text column");
  CHECK(ds.labels == std::vector<std::int32_t>{2, 0, 1, 3});
  CHECK(ds.class_names == std::vector<std::string>{"World", "Sports", "Business", "Sci/Tech"});
}

TEST_CASE("csv: without classes.txt the classes are numbered 1..K", "[data]") {
  TempDir dir;
  write_text(dir.file("t.csv"), "2,a\n5,b\n");
  const TextDataset ds = read_csv_dataset(dir.file("t.csv"));
  CHECK(ds.class_names == std::vector<std::string>{"1", "2", "3", "4", "5"});
  CHECK(ds.labels == std::vector<std::int32_t>{1, 4});
  write_text(dir.file("bom.csv"), "\xEF\xBB\xBF" "3,a\n");  // a UTF-8 byte order mark is skipped
  CHECK(read_csv_dataset(dir.file("bom.csv")).labels == std::vector<std::int32_t>{2});
}

TEST_CASE("csv: bad input names the file and line", "[data]") {
  TempDir dir;
  const std::string path = dir.file("bad.csv");
  SECTION("a quote never closed") {
    write_text(path, "1,\"fine\"\n2,\"fine\"\n3,\"broken\n4,\"x\"\n");
    const std::string msg = error_message([&] { read_csv_dataset(path); });
    INFO(msg);
    CHECK(mentions(msg, path));
    // The unclosed quote on line 3 runs into line 4, whose opening quote then closes it.
    CHECK(mentions(msg, "line 4, column 2"));
    CHECK(mentions(msg, "The quoted field opened on line 3 may be missing its closing quote"));
  }
  SECTION("a quote still open at the end of the file") {
    write_text(path, "1,\"fine\"\n2,\"never closed\n");
    const std::string msg = error_message([&] { read_csv_dataset(path); });
    INFO(msg);
    CHECK(mentions(msg, "line 2, column 2: the quoted field opened on line 2 is never closed"));
    CHECK(mentions(msg, "expected a closing quote"));
  }
  SECTION("text after a closing quote") {
    write_text(path, "1,\"ok\"\n2,\"say \"hi\" now\"\n");
    const std::string msg = error_message([&] { read_csv_dataset(path); });
    INFO(msg);
    CHECK(mentions(msg, "line 2, column 2"));
    CHECK(mentions(msg, "unexpected character 'h' after a closing quote"));
    CHECK(mentions(msg, "doubled"));
  }
  SECTION("a stray quote in an unquoted field") {
    write_text(path, "1,ab\"c\n");
    const std::string msg = error_message([&] { read_csv_dataset(path); });
    INFO(msg);
    CHECK(mentions(msg, "line 1, column 2"));
  }
  SECTION("a header line") {
    write_text(path, "label,text\n1,a\n");
    const std::string msg = error_message([&] { read_csv_dataset(path); });
    INFO(msg);
    CHECK(mentions(msg, "line 1: class \"label\" is not an integer"));
    CHECK(mentions(msg, "remove the header"));
  }
  SECTION("a class index outside classes.txt") {
    write_text(dir.file("classes.txt"), "a\nb\n");
    write_text(path, "1,x\n2,y\n3,z\n");
    const std::string msg = error_message([&] { read_csv_dataset(path); });
    INFO(msg);
    CHECK(mentions(msg, "line 3: class index 3 is outside the class count, expected 1..2"));
  }
  SECTION("class index 0 (files are 1-based)") {
    write_text(path, "0,x\n");
    CHECK(mentions(error_message([&] { read_csv_dataset(path); }), "(1-based)"));
  }
  SECTION("a record with no text column") {
    write_text(path, "1,x\n2\n");
    CHECK(mentions(error_message([&] { read_csv_dataset(path); }), "line 2: 1 column"));
  }
  SECTION("an empty file") {
    write_text(path, "\n\n");
    const std::string msg = error_message([&] { read_csv_dataset(path); });
    INFO(msg);
    CHECK(mentions(msg, "holds no records"));
  }
  SECTION("a missing file") {
    const std::string msg = error_message([&] { read_csv_dataset(dir.file("absent.csv")); });
    INFO(msg);
    CHECK(mentions(msg, "absent.csv"));
    CHECK(mentions(msg, "no such file"));
  }
}

TEST_CASE("jsonl: integer labels, class-name labels, and the class list rules", "[data]") {
  TempDir dir;
  write_text(dir.file("names.jsonl"),
             "{\"text\": \"great film\", \"label\": \"pos\"}\n\n{\"text\": \"dull\\nplot\", \"label\": \"neg\"}\r\n");
  const TextDataset by_name = read_jsonl_dataset(dir.file("names.jsonl"));
  CHECK(by_name.class_names == std::vector<std::string>{"neg", "pos"});  // sorted when inferred
  CHECK(by_name.labels == std::vector<std::int32_t>{1, 0});
  CHECK(by_name.texts[1] == "dull\nplot");

  const TextDataset given = read_jsonl_dataset(dir.file("names.jsonl"), {"pos", "neg", "neutral"});
  CHECK(given.labels == std::vector<std::int32_t>{0, 1});
  CHECK(given.n_classes() == 3);

  write_text(dir.file("ints.jsonl"), "{\"label\": 2, \"text\": \"c\"}\n{\"text\": \"a\", \"label\": 0}\n");
  const TextDataset by_index = read_jsonl_dataset(dir.file("ints.jsonl"));
  CHECK(by_index.labels == std::vector<std::int32_t>{2, 0});
  CHECK(by_index.class_names == std::vector<std::string>{"0", "1", "2"});
}

TEST_CASE("jsonl: bad lines name the line and what was expected", "[data]") {
  TempDir dir;
  const std::string path = dir.file("bad.jsonl");
  SECTION("invalid JSON") {
    write_text(path, "{\"text\": \"a\", \"label\": 0}\n{\"text\": \"b\", \"label\": 1\n");
    const std::string msg = error_message([&] { read_jsonl_dataset(path); });
    INFO(msg);
    CHECK(mentions(msg, path));
    CHECK(mentions(msg, "line 2: invalid JSON"));
  }
  SECTION("missing text") {
    write_text(path, "{\"label\": 0}\n");
    CHECK(mentions(error_message([&] { read_jsonl_dataset(path); }), "line 1: \"text\" is missing"));
  }
  SECTION("a label that is neither a number nor a name") {
    write_text(path, "{\"text\": \"a\", \"label\": 1.5}\n");
    CHECK(mentions(error_message([&] { read_jsonl_dataset(path); }), "neither an integer nor a string"));
  }
  SECTION("an unknown class name") {
    write_text(path, "{\"text\": \"a\", \"label\": \"pos\"}\n{\"text\": \"b\", \"label\": \"meh\"}\n");
    const std::string msg = error_message([&] { read_jsonl_dataset(path, {"neg", "pos"}); });
    INFO(msg);
    CHECK(mentions(msg, "line 2: label \"meh\" is not a known class"));
  }
  SECTION("a label outside the class count") {
    write_text(path, "{\"text\": \"a\", \"label\": 0}\n{\"text\": \"b\", \"label\": 2}\n");
    const std::string msg = error_message([&] { read_jsonl_dataset(path, {"neg", "pos"}); });
    INFO(msg);
    CHECK(mentions(msg, "line 2: label 2 is outside the class count, expected an index in [0, 2)"));
  }
  SECTION("mixed label kinds") {
    write_text(path, "{\"text\": \"a\", \"label\": \"x\"}\n{\"text\": \"b\", \"label\": 1}\n");
    CHECK(mentions(error_message([&] { read_jsonl_dataset(path); }), "line 2: label 1 is a number"));
  }
  SECTION("only blank lines") {
    write_text(path, "\n  \n");
    CHECK(mentions(error_message([&] { read_jsonl_dataset(path); }), "holds no records"));
  }
}

TEST_CASE("tsv: labels by index or name, tabs inside the text, classes.txt beside the file", "[data]") {
  TempDir dir;
  write_text(dir.file("a.tsv"), "1\tfirst\ttabbed\n0\tsecond\n");
  const TextDataset by_index = read_tsv_dataset(dir.file("a.tsv"));
  CHECK(by_index.texts == std::vector<std::string>{"first\ttabbed", "second"});
  CHECK(by_index.labels == std::vector<std::int32_t>{1, 0});

  write_text(dir.file("classes.txt"), "spam\nham\n");
  write_text(dir.file("b.tsv"), "ham\thello\nspam\tbuy now\n");
  const TextDataset by_name = read_tsv_dataset(dir.file("b.tsv"));
  CHECK(by_name.labels == std::vector<std::int32_t>{1, 0});
  CHECK(by_name.class_names == std::vector<std::string>{"spam", "ham"});

  write_text(dir.file("c.tsv"), "ham\thello\nno tab here\n");
  CHECK(mentions(error_message([&] { read_tsv_dataset(dir.file("c.tsv")); }), "line 2: no label before a tab"));
  write_text(dir.file("d.tsv"), "eggs\thello\n");
  CHECK(mentions(error_message([&] { read_tsv_dataset(dir.file("d.tsv")); }), "line 1: label \"eggs\""));
}

TEST_CASE("imdb and reuters loaders on small fixtures", "[data]") {
  TempDir dir;
  write_text(dir.file("reviews.json"),
             "[{\"t\":\"Bad.<br /><br />Very bad.\",\"s\":0},{\"t\":\"Good\",\"s\":1}]");
  const TextDataset imdb = load_imdb(dir.file("reviews.json"));
  CHECK(imdb.texts == std::vector<std::string>{"Bad.<br /><br />Very bad.", "Good"});
  CHECK(imdb.labels == std::vector<std::int32_t>{0, 1});
  CHECK(imdb.class_names == std::vector<std::string>{"negative", "positive"});

  write_text(dir.file("bad.json"), "[{\"t\":\"x\",\"s\":0},{\"t\":\"y\",\"s\":2}]");
  CHECK(mentions(error_message([&] { load_imdb(dir.file("bad.json")); }), "record 1 has label 2"));
  write_text(dir.file("cut.json"), "[{\"t\":\"x\",\"s\":0},{\"t\":\"y\"");
  CHECK(mentions(error_message([&] { load_imdb(dir.file("cut.json")); }), "not valid JSON"));
  write_text(dir.file("empty.json"), "[]");
  CHECK(mentions(error_message([&] { load_imdb(dir.file("empty.json")); }), "empty"));

  std::filesystem::create_directory(dir.file("reuters"));
  write_text(dir.file("reuters/reuters-001.json"),
             "[{\"id\":\"7\",\"title\":\"T7\",\"body\":\"wheat up\",\"topics\":[\"grain\"]}]");
  write_text(dir.file("reuters/reuters-000.json"),
             "[{\"id\":\"1\",\"title\":\"T1\",\"body\":\"profit\",\"topics\":[\"earn\"]},"
             " {\"id\":\"2\",\"body\":\"two topics\",\"topics\":[\"earn\",\"acq\"]},"
             " {\"id\":\"3\",\"body\":\"not R8\",\"topics\":[\"cocoa\"]},"
             " {\"id\":\"4\",\"title\":\"no body\",\"topics\":[\"acq\"]},"
             " {\"id\":\"5\",\"body\":\"  \\n \",\"topics\":[\"acq\"]},"
             " {\"id\":\"6\",\"body\":\"no topics at all\"},"
             " {\"id\":\"8\",\"body\":\"bought\",\"topics\":[\"acq\"]}]");
  std::vector<std::int64_t> ids;
  const TextDataset r8 = load_reuters_r8(dir.file("reuters"), &ids);
  CHECK(r8.texts == std::vector<std::string>{"T1\nprofit", "bought", "T7\nwheat up"});
  CHECK(r8.labels == std::vector<std::int32_t>{2, 0, 3});
  CHECK(ids == std::vector<std::int64_t>{1, 8, 7});
  CHECK(mentions(error_message([&] { load_reuters_r8(dir.file("nowhere")); }), "fetch_data.sh"));
}

TEST_CASE("imdb and reuters (real data from scripts/fetch_data.sh, skipped when absent)", "[data]") {
  const std::string reviews = repo_data_path("imdb/reviews.json");
  if (std::filesystem::exists(reviews)) {
    TextDataset imdb = load_imdb(reviews);
    CHECK(imdb.size() == 50000);
    CHECK(class_counts(imdb.labels, 2) == std::vector<std::int64_t>{25000, 25000});
    CHECK(deduplicate_texts(imdb) == 418);
    TempDir dir;
    const Split split = load_or_make_split(dir.file("imdb-split.json"), imdb, "imdb", 0.5, 1);
    CHECK(load_or_make_split(dir.file("imdb-split.json"), imdb, "imdb", 0.5, 1).test == split.test);
    const TextDataset train = subset(imdb, split.train), test = subset(imdb, split.test);
    const auto per_class = class_counts(imdb.labels, 2), test_per_class = class_counts(test.labels, 2);
    for (int c = 0; c < 2; ++c) CHECK(test_per_class[c] == std::llround(0.5 * per_class[c]));
    const std::set<std::string> train_texts(train.texts.begin(), train.texts.end());
    CHECK(std::none_of(test.texts.begin(), test.texts.end(), [&](const std::string& t) { return train_texts.count(t) > 0; }));
  } else {
    WARN("skipped IMDB: " << reviews << " is absent (run scripts/fetch_data.sh --only imdb)");
  }
  const std::string reuters = repo_data_path("reuters");
  if (std::filesystem::exists(reuters + "/reuters-000.json")) {
    const TextDataset r8 = load_reuters_r8(reuters);
    CHECK(r8.size() == 7219);
    CHECK(class_counts(r8.labels, 8) == std::vector<std::int64_t>{2125, 355, 3735, 45, 211, 259, 156, 333});
  } else {
    WARN("skipped Reuters: " << reuters << " is absent (run scripts/fetch_data.sh --only reuters)");
  }
}
