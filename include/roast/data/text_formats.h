// Readers for labelled text files: CSV (the char-CNN release of AG News, DBPedia, Yelp,
// Amazon), JSONL and TSV.
//
// The class list of every reader comes from, in this order: the `class_names` argument;
// a classes.txt in the same folder as the file (one name per line, the char-CNN layout);
// or, failing both, it is inferred from the labels (see each reader). Pass the training
// set's class_names when reading its test set so that both agree.
//
// Errors (roast::Error) name the file, the line (1-based, the line where the record
// starts), what was expected and the fix: a missing file, a broken quote, a missing
// column, a label that is not a number / not a known class / outside the class count,
// invalid JSON, and a file with no records at all.
#pragma once

#include <string>
#include <vector>

#include "roast/data/dataset.h"

namespace roast::data {

// CSV without a header: `class,text[,text...]`. The class is a 1-based index (label =
// index - 1); the text columns are joined with one space; fields may be quoted ("" is a
// quote inside a quoted field, quoted fields may span lines); the two characters `\n`
// become a newline. Blank lines are skipped. Inferred class list: "1".."K" for the
// largest index K seen.
TextDataset read_csv_dataset(const std::string& path, std::vector<std::string> class_names = {});

// JSONL: one object per non-blank line, {"text": string, "label": int or string}. Integer
// labels are 0-based class indices; string labels are class names. Inferred class list:
// the sorted distinct names for string labels, "0".."max" for integers. A file must not
// mix both kinds.
TextDataset read_jsonl_dataset(const std::string& path, std::vector<std::string> class_names = {});

// TSV: `label<TAB>text` per non-blank line (the text runs to the end of the line and may
// contain further tabs). The label is read as in JSONL: a 0-based integer or a class name.
TextDataset read_tsv_dataset(const std::string& path, std::vector<std::string> class_names = {});

// A class list file: one name per line, blank lines ignored, no duplicates, at least one.
std::vector<std::string> read_class_names(const std::string& path);

}  // namespace roast::data
