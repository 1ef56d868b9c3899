// Child processes for `reproduce --jobs N`: each point of a suite trains in its own
// `roast-train train` process, its output in a log file, so that several small runs share
// the cores or one GPU.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

namespace roast {
namespace cli {

struct ChildExit {
  pid_t pid = 0;
  int code = 0;  // the exit status, or 128 + the signal that ended it
};

// Starts this program (/proc/self/exe) with `args` (argv[1...]), stdout and stderr appended
// to `log_file`, and `env` added to this process's environment. Throws roast::Error when the
// process cannot start.
pid_t start_self(const std::vector<std::string>& args, const std::string& log_file,
                 const std::map<std::string, std::string>& env);

// Waits for any child started by start_self to end.
ChildExit wait_any_child();

// The last line of `log_file` that starts with "error:" (or its last line), for a report.
std::string last_error_line(const std::string& log_file);

}  // namespace cli
}  // namespace roast
