#include "roast/data/text_corpora.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <dirent.h>
#include <nlohmann/json.hpp>

#include "data/file_io.h"
#include "roast/error.h"

namespace roast::data {
namespace {

// The JSON corpora may be stored gzip-compressed under their own names (IMDB's 66 MB
// reviews.json is 25 MB compressed, under the 64 MiB a GPU run can carry).
nlohmann::json parse_json_file(const std::string& path, const char* expected) {
  const std::vector<std::uint8_t> bytes = detail::read_file_bytes(path);
  const std::string text(bytes.begin(), bytes.end());
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    fail("'", path, "' is not valid JSON (", e.what(), "); expected ", expected,
         ". The file may be truncated: delete it and run scripts/fetch_data.sh again.");
  }
}

bool is_blank(const std::string& text) {
  return std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isspace(c) != 0; });
}

// reuters-NNN.json in `dir`, sorted by name so the document order (and thus recorded splits) is stable.
std::vector<std::string> reuters_files(const std::string& dir) {
  DIR* handle = ::opendir(dir.c_str());
  if (handle == nullptr)
    fail("Reuters folder '", dir, "' cannot be opened; expected the folder holding reuters-000.json .. "
         "reuters-021.json. Run scripts/fetch_data.sh (it puts them in data/reuters).");
  std::vector<std::string> names;
  while (const dirent* entry = ::readdir(handle)) {
    const std::string name = entry->d_name;
    if (name.size() == 16 && name.rfind("reuters-", 0) == 0 && name.compare(11, 5, ".json") == 0)
      names.push_back(name);
  }
  ::closedir(handle);
  if (names.empty())
    fail("Reuters folder '", dir, "' holds no reuters-NNN.json files; expected reuters-000.json .. reuters-021.json. "
         "Run scripts/fetch_data.sh.");
  std::sort(names.begin(), names.end());
  for (auto& name : names) name = detail::join_path(dir, name);
  return names;
}

}  // namespace

TextDataset load_imdb(const std::string& reviews_json_path) {
  const char* expected = "one JSON array of {\"t\": text, \"s\": 0 or 1}";
  const nlohmann::json reviews = parse_json_file(reviews_json_path, expected);
  if (!reviews.is_array()) fail("'", reviews_json_path, "' is not a JSON array; expected ", expected, ".");
  TextDataset out;
  out.class_names = {"negative", "positive"};
  out.texts.reserve(reviews.size());
  out.labels.reserve(reviews.size());
  for (std::size_t i = 0; i < reviews.size(); ++i) {
    const auto& review = reviews[i];
    const auto text = review.is_object() ? review.find("t") : review.end();
    const auto label = review.is_object() ? review.find("s") : review.end();
    if (!review.is_object() || text == review.end() || !text->is_string() || label == review.end() ||
        !label->is_number_integer())
      fail("'", reviews_json_path, "' record ", i, " is not {\"t\": string, \"s\": integer}; expected ", expected, ".");
    const auto value = label->get<std::int64_t>();
    if (value != 0 && value != 1)
      fail("'", reviews_json_path, "' record ", i, " has label ", value, ", expected 0 (negative) or 1 (positive).");
    out.texts.push_back(text->get<std::string>());
    out.labels.push_back(static_cast<std::int32_t>(value));
  }
  out.validate(reviews_json_path);
  return out;
}

const std::vector<std::string>& reuters_r8_class_names() {
  static const std::vector<std::string> names = {"acq", "crude", "earn", "grain", "interest", "money-fx", "ship", "trade"};
  return names;
}

TextDataset load_reuters_r8(const std::string& dir, std::vector<std::int64_t>* doc_ids) {
  const auto& names = reuters_r8_class_names();
  TextDataset out;
  out.class_names = names;
  if (doc_ids) doc_ids->clear();
  for (const std::string& path : reuters_files(dir)) {
    const char* expected = "a JSON array of {id, title, body, topics[], ...}";
    const nlohmann::json docs = parse_json_file(path, expected);
    if (!docs.is_array()) fail("'", path, "' is not a JSON array; expected ", expected, ".");
    for (std::size_t i = 0; i < docs.size(); ++i) {
      const auto& doc = docs[i];
      if (!doc.is_object()) fail("'", path, "' record ", i, " is not a JSON object; expected ", expected, ".");
      const auto topics = doc.find("topics");
      if (topics == doc.end()) continue;  // about half the collection has no topic
      if (!topics->is_array()) fail("'", path, "' record ", i, ": \"topics\" is not an array of strings.");
      if (topics->size() != 1 || !(*topics)[0].is_string()) continue;
      const auto topic = std::find(names.begin(), names.end(), (*topics)[0].get<std::string>());
      if (topic == names.end()) continue;
      const auto body = doc.find("body");
      if (body == doc.end() || !body->is_string() || is_blank(body->get_ref<const std::string&>())) continue;
      const auto title = doc.find("title");
      std::string text = title != doc.end() && title->is_string() ? title->get<std::string>() + "\n" : std::string();
      text += body->get_ref<const std::string&>();
      out.texts.push_back(std::move(text));
      out.labels.push_back(static_cast<std::int32_t>(topic - names.begin()));
      if (doc_ids) {
        const auto id = doc.find("id");
        std::int64_t value = -1;
        bool ok = false;
        if (id != doc.end() && id->is_string()) {
          const auto& digits = id->get_ref<const std::string&>();
          const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
          ok = ec == std::errc() && end == digits.data() + digits.size();
        } else if (id != doc.end() && id->is_number_integer()) {
          value = id->get<std::int64_t>();
          ok = true;
        }
        if (!ok) fail("'", path, "' record ", i, ": \"id\" is missing or not a number; expected a numeric string such as \"42\".");
        doc_ids->push_back(value);
      }
    }
  }
  out.validate(dir + " (Reuters R8)");
  return out;
}

}  // namespace roast::data
