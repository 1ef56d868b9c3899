// Registry<Entry>: the named things a config can choose (model types, datasets,
// optimizers, schedules, memory schemes), each registered once with its functions.
//
// Entry is a struct with a `std::string name` (the value a config writes, e.g. "mlp").
// The engine fills each registry with its built-in entries on first use, by one explicit
// call per kind (no static registration objects: the library is a static archive, and the
// linker drops objects nothing refers to). A program adds its own entries through the
// registries that roast/config_types.h exposes, before it reads a config.
//
// Unknown names are errors that list the valid ones, e.g.
//   unknown model "mpl" (did you mean "mlp"?); valid: mlp, cnn, resnet, bag, transformer
// Names are listed in the order of registration: the built-in ones in the order of
// docs/config.md, then those a program added.
//
// Thread safety: add, find, at and names may be called from any thread; an entry, once
// added, is never moved or removed, so a reference from find/at stays valid.
#pragma once

#include <algorithm>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "roast/error.h"

namespace roast {

namespace detail {
// The choice closest to `word` by edit distance, within 3 edits, or "" (for "did you mean").
inline std::string closest_name(const std::string& word, const std::vector<std::string>& choices) {
  std::string best;
  std::size_t best_distance = 4;
  for (const std::string& choice : choices) {
    std::vector<std::size_t> row(choice.size() + 1);
    for (std::size_t j = 0; j <= choice.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= word.size(); ++i) {
      std::size_t diagonal = row[0];
      row[0] = i;
      for (std::size_t j = 1; j <= choice.size(); ++j) {
        const std::size_t up = row[j];
        row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (word[i - 1] == choice[j - 1] ? 0 : 1)});
        diagonal = up;
      }
    }
    if (row[choice.size()] < best_distance) best_distance = row[choice.size()], best = choice;
  }
  return best;
}
}  // namespace detail

template <typename Entry>
class Registry {
 public:
  // `kind` names an entry in messages: "model", "dataset", "optimizer", ... `check`, when
  // given, is called by add() on each entry first and throws roast::Error for an
  // incomplete one (a missing function), so that mistakes show at registration.
  explicit Registry(std::string kind, std::function<void(const Entry&)> check = {})
      : kind_(std::move(kind)), check_(std::move(check)) {}
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  const std::string& kind() const { return kind_; }

  // Adds `entry` under entry.name. Throws roast::Error when the name is empty or taken
  // (an entry cannot be replaced: a config would silently change meaning), or when
  // `check` rejects it.
  void add(Entry entry) {
    ROAST_CHECK(!entry.name.empty(), "cannot register a ", kind_, " without a name");
    if (check_) check_(entry);
    std::lock_guard<std::mutex> lock(mutex_);
    const std::string name = entry.name;
    ROAST_CHECK(entries_.count(name) == 0, "cannot register ", kind_, " \"", name, "\": the name is taken");
    entries_.emplace(name, std::move(entry));
    order_.push_back(name);
  }

  // The entry registered as `name`, or nullptr.
  const Entry* find(const std::string& name) const {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = entries_.find(name);
    return it == entries_.end() ? nullptr : &it->second;
  }
  bool contains(const std::string& name) const { return find(name) != nullptr; }

  // The entry registered as `name`; otherwise throws roast::Error
  // "<where>: <unknown_message(name)>" (just the message when `where` is empty).
  const Entry& at(const std::string& name, const std::string& where = "") const {
    if (const Entry* entry = find(name)) return *entry;
    fail(where, where.empty() ? "" : ": ", unknown_message(name));
  }

  // Every registered name, in the order of registration.
  std::vector<std::string> names() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return order_;
  }

  // `unknown <kind> "<name>" (did you mean "<closest>"?); valid: <names()>`.
  std::string unknown_message(const std::string& name) const {
    const std::vector<std::string> valid = names();
    const std::string guess = detail::closest_name(name, valid);
    std::string list;
    for (const std::string& v : valid) list += (list.empty() ? "" : ", ") + v;
    return "unknown " + kind_ + " \"" + name + "\"" + (guess.empty() ? "" : " (did you mean \"" + guess + "\"?)") +
           "; valid: " + list;
  }

 private:
  std::string kind_;
  std::function<void(const Entry&)> check_;
  std::map<std::string, Entry> entries_;  // node-based: references stay valid across add()
  std::vector<std::string> order_;        // names in the order of registration
  mutable std::mutex mutex_;
};

}  // namespace roast
