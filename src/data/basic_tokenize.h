// Internal: the allocation-light form of basic_tokenize used by the tokenizers' hot loops.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "roast/data/tokenizer.h"

namespace roast::data::detail {

// Fills `tokens` with views into `buffer` (which it overwrites); both are reused across
// calls to avoid allocations. The views stay valid until the next call with that buffer.
void basic_tokenize_into(std::string_view text, const BasicTokenizerOptions& options, std::string& buffer,
                         std::vector<std::string_view>& tokens);

}  // namespace roast::data::detail
