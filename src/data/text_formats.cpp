#include "roast/data/text_formats.h"

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>

#include "data/file_io.h"
#include "roast/error.h"
#include "roast/limits.h"

namespace roast::data {
namespace {

std::string folder_of(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash + 1);
}

// The class list rule shared by all readers: given, else classes.txt beside the file, else none.
std::vector<std::string> given_or_beside(std::vector<std::string> given, const std::string& path) {
  if (!given.empty()) return given;
  const std::string beside = detail::join_path(folder_of(path), "classes.txt");
  if (detail::file_exists(beside)) return detail::read_name_list(beside);
  return {};
}

// The file's text without a UTF-8 byte order mark (spreadsheet exports often start with one).
std::string read_text_without_bom(const std::string& path) {
  std::string text = detail::read_text_file(path);
  if (text.rfind("\xEF\xBB\xBF", 0) == 0) text.erase(0, 3);
  detail::require_utf8(path, text);  // texts and labels end up in JSON (checkpoints, vocab): UTF-8 only
  return text;
}

bool parse_int(std::string_view text, std::int64_t& value) {
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  return ec == std::errc() && ptr == end && !text.empty();
}

// A label as written in JSONL or TSV, resolved once the whole file (and so the class list) is known.
struct RawLabel {
  bool is_name = false;
  std::int64_t index = 0;
  std::string name;
  std::int64_t line = 0;
};

void resolve_labels(const std::string& path, const std::vector<RawLabel>& raw, std::vector<std::string> names,
                    TextDataset& out) {
  const bool any_name = std::any_of(raw.begin(), raw.end(), [](const RawLabel& l) { return l.is_name; });
  const bool any_index = std::any_of(raw.begin(), raw.end(), [](const RawLabel& l) { return !l.is_name; });
  if (names.empty() && any_name && any_index) {
    const auto first_index = std::find_if(raw.begin(), raw.end(), [](const RawLabel& l) { return !l.is_name; });
    fail("'", path, "' line ", first_index->line, ": label ", first_index->index,
         " is a number but earlier lines use class names; expected one kind throughout. "
         "Use names everywhere, or pass the class list (or put a classes.txt beside the file).");
  }
  if (names.empty() && any_name) {
    for (const auto& l : raw) names.push_back(l.name);
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    if (std::int64_t(names.size()) > limits::kMaxClasses)
      fail("'", path, "' uses ", names.size(), " distinct class names; at most ", limits::kMaxClasses,
           " classes are supported. Check that the label column holds labels.");
  } else if (names.empty()) {
    std::int64_t largest = 0;
    for (const auto& l : raw) {
      if (l.index >= limits::kMaxClasses)  // checked before the class list is allocated
        fail("'", path, "' line ", l.line, ": label ", l.index, " is beyond the largest supported class index ",
             limits::kMaxClasses - 1, "; labels are 0-based class indices. Check the file.");
      largest = std::max(largest, l.index);
    }
    for (std::int64_t c = 0; c <= largest; ++c) names.push_back(std::to_string(c));
  }
  const auto n_classes = static_cast<std::int64_t>(names.size());
  out.labels.reserve(raw.size());
  for (const auto& l : raw) {
    if (l.is_name) {
      const auto it = std::find(names.begin(), names.end(), l.name);
      if (it == names.end())
        fail("'", path, "' line ", l.line, ": label \"", l.name, "\" is not a known class; expected one of the ",
             n_classes, " classes (first: \"", names.front(), "\"). Check the class list or the file.");
      out.labels.push_back(static_cast<std::int32_t>(it - names.begin()));
    } else {
      if (l.index < 0 || l.index >= n_classes)
        fail("'", path, "' line ", l.line, ": label ", l.index, " is outside the class count, expected an index in [0, ",
             n_classes, "). Labels here are 0-based; check the class list or the file.");
      out.labels.push_back(static_cast<std::int32_t>(l.index));
    }
  }
  out.class_names = std::move(names);
}

// Calls f(line_view, line_number) for every non-blank line (a trailing '\r' removed).
template <typename F>
void for_each_line(const std::string& text, F&& f) {
  std::size_t start = 0;
  std::int64_t line_number = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    ++line_number;
    std::string_view line(text.data() + start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") != std::string_view::npos) f(line, line_number);
    start = end + 1;
  }
}

void require_records(const std::string& path, const TextDataset& out, const char* layout) {
  if (out.texts.empty())
    fail("'", path, "' holds no records; expected at least one line of ", layout, ". Check the path and the file.");
}

// --- CSV -----------------------------------------------------------------------------

// One CSV record per call; returns false at the end of the text. Tracks line numbers so
// that errors point at the line where the record starts.
class CsvReader {
 public:
  CsvReader(const std::string& path, const std::string& text) : path_(path), text_(text) {}

  bool next(std::vector<std::string>& fields, std::int64_t& record_line) {
    fields.clear();
    skip_blank_lines();
    if (pos_ >= text_.size()) return false;
    record_line = line_;
    for (;;) {
      fields.emplace_back();
      if (pos_ < text_.size() && text_[pos_] == '"') read_quoted(fields.back(), record_line, fields.size());
      else read_plain(fields.back(), fields.size());
      if (pos_ >= text_.size()) return true;
      const char c = text_[pos_++];
      if (c == ',') continue;
      if (c == '\r' && pos_ < text_.size() && text_[pos_] == '\n') ++pos_;
      ++line_;  // c was the end of the line
      return true;
    }
  }

 private:
  void skip_blank_lines() {
    while (pos_ < text_.size() && (text_[pos_] == '\n' || text_[pos_] == '\r')) {
      if (text_[pos_] == '\n') ++line_;
      ++pos_;
    }
  }

  void read_plain(std::string& field, std::size_t column) {
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (c == ',' || c == '\n' || c == '\r') return;
      if (c == '"')
        fail("'", path_, "' line ", line_, ", column ", column, ": a quote inside an unquoted field; expected "
             "the whole field in quotes with inner quotes doubled (\"\"). Fix the line's quoting.");
      field.push_back(c);
      ++pos_;
    }
  }

  void read_quoted(std::string& field, std::int64_t record_line, std::size_t column) {
    const std::int64_t opened_at = line_;
    ++pos_;  // the opening quote
    for (;;) {
      if (pos_ >= text_.size())
        fail("'", path_, "' line ", record_line, ", column ", column, ": the quoted field opened on line ", opened_at,
             " is never closed (the file ends first); expected a closing quote. Fix the quoting of that record "
             "(inner quotes must be doubled: \"\").");
      const char c = text_[pos_++];
      if (c == '"') {
        if (pos_ < text_.size() && text_[pos_] == '"') {
          field.push_back('"');
          ++pos_;
          continue;
        }
        if (pos_ < text_.size() && text_[pos_] != ',' && text_[pos_] != '\n' && text_[pos_] != '\r')
          fail("'", path_, "' line ", line_, ", column ", column, ": unexpected character '", text_[pos_],
               "' after a closing quote; expected a comma or the end of the line. ",
               opened_at != line_ ? "The quoted field opened on line " + std::to_string(opened_at) +
                                        " may be missing its closing quote. "
                                  : std::string(),
               "A quote inside a quoted field must be doubled (\"\").");
        return;
      }
      if (c == '\n') ++line_;
      field.push_back(c);
    }
  }

  const std::string& path_;
  const std::string& text_;
  std::size_t pos_ = 0;
  std::int64_t line_ = 1;
};

// The char-CNN files spell a newline as the two characters '\' 'n'.
void append_unescaped(std::string& out, const std::string& field) {
  for (std::size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 1 < field.size() && field[i + 1] == 'n') {
      out.push_back('\n');
      ++i;
    } else {
      out.push_back(field[i]);
    }
  }
}

}  // namespace

std::vector<std::string> read_class_names(const std::string& path) { return detail::read_name_list(path); }

TextDataset read_csv_dataset(const std::string& path, std::vector<std::string> class_names) {
  const std::string text = read_text_without_bom(path);
  class_names = given_or_beside(std::move(class_names), path);
  TextDataset out;
  CsvReader reader(path, text);
  std::vector<std::string> fields;
  std::int64_t line = 0, largest_index = 0;
  while (reader.next(fields, line)) {
    if (fields.size() < 2)
      fail("'", path, "' line ", line, ": ", fields.size(), " column; expected a class index and at least one "
           "text column (\"3\",\"title\",\"description\").");
    std::int64_t index = 0;
    if (!parse_int(fields[0], index))
      fail("'", path, "' line ", line, ": class \"", fields[0], "\" is not an integer; expected a 1-based class "
           "index in the first column. Files with a header line are not supported: remove the header.");
    const auto n_classes = static_cast<std::int64_t>(class_names.size());
    if (index < 1 || (n_classes > 0 && index > n_classes) || index > limits::kMaxClasses)
      fail("'", path, "' line ", line, ": class index ", index, " is outside the class count, expected 1..",
           n_classes > 0 ? std::to_string(n_classes) : std::string("K"), " (1-based)",
           n_classes > 0 ? ". Check classes.txt and the file." : ". Check the file.");
    largest_index = std::max(largest_index, index);
    std::string joined;
    for (std::size_t f = 1; f < fields.size(); ++f) {
      if (f > 1) joined.push_back(' ');
      append_unescaped(joined, fields[f]);
    }
    out.texts.push_back(std::move(joined));
    out.labels.push_back(static_cast<std::int32_t>(index - 1));
  }
  require_records(path, out, "class,\"text\"");
  if (class_names.empty())
    for (std::int64_t c = 1; c <= largest_index; ++c) class_names.push_back(std::to_string(c));
  out.class_names = std::move(class_names);
  out.validate(path);
  return out;
}

TextDataset read_jsonl_dataset(const std::string& path, std::vector<std::string> class_names) {
  const std::string text = read_text_without_bom(path);
  TextDataset out;
  std::vector<RawLabel> raw;
  for_each_line(text, [&](std::string_view line, std::int64_t line_number) {
    nlohmann::json record;
    try {
      record = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {  // syntax, or a number no double holds
      fail("'", path, "' line ", line_number, ": invalid JSON (", e.what(), "); expected one object per line.");
    }
    const char* expected = "; expected {\"text\": string, \"label\": integer or class name}.";
    if (!record.is_object()) fail("'", path, "' line ", line_number, ": not a JSON object", expected);
    const auto text_it = record.find("text");
    const auto label_it = record.find("label");
    if (text_it == record.end() || !text_it->is_string())
      fail("'", path, "' line ", line_number, ": \"text\" is missing or not a string", expected);
    RawLabel label;
    label.line = line_number;
    if (label_it != record.end() && label_it->is_number_integer()) {
      label.index = label_it->get<std::int64_t>();
    } else if (label_it != record.end() && label_it->is_string()) {
      label.is_name = true;
      label.name = label_it->get<std::string>();
    } else {
      fail("'", path, "' line ", line_number, ": \"label\" is missing or neither an integer nor a string", expected);
    }
    out.texts.push_back(text_it->get<std::string>());
    raw.push_back(std::move(label));
  });
  require_records(path, out, "{\"text\": ..., \"label\": ...}");
  resolve_labels(path, raw, given_or_beside(std::move(class_names), path), out);
  out.validate(path);
  return out;
}

TextDataset read_tsv_dataset(const std::string& path, std::vector<std::string> class_names) {
  const std::string text = read_text_without_bom(path);
  TextDataset out;
  std::vector<RawLabel> raw;
  for_each_line(text, [&](std::string_view line, std::int64_t line_number) {
    const std::size_t tab = line.find('\t');
    if (tab == std::string_view::npos || tab == 0)
      fail("'", path, "' line ", line_number, ": no label before a tab; expected label<TAB>text.");
    RawLabel label;
    label.line = line_number;
    const std::string_view field = line.substr(0, tab);
    if (!parse_int(field, label.index)) {
      label.is_name = true;
      label.name = std::string(field);
    }
    out.texts.emplace_back(line.substr(tab + 1));
    raw.push_back(std::move(label));
  });
  require_records(path, out, "label<TAB>text");
  resolve_labels(path, raw, given_or_beside(std::move(class_names), path), out);
  out.validate(path);
  return out;
}

}  // namespace roast::data
