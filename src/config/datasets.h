// Datasets by name (roast/config_types.h): the built-in entries and where files are
// looked for. Engine code.
#pragma once

#include <string>

#include "roast/config_types.h"

namespace roast {

// Adds the built-in sets in the order of docs/config.md; dataset_registry() calls it once.
void register_builtin_datasets(Registry<DatasetType>& registry);

// Where `type`'s files are looked for when data.path is "": type.default_path when
// absolute, else under $ROAST_DATA_DIR (default "data", where scripts/fetch_data.sh puts
// the fetched sets when run from the repository root).
std::string default_data_path(const DatasetType& type);

}  // namespace roast
