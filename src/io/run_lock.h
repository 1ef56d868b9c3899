// A run folder's lock: one writer at a time, and a clean start after a killed one.
#pragma once

#include <string>

namespace roast {

// Holds DIR/.lock for as long as it lives: an exclusive flock (released by the kernel
// even when the process is killed) on a file that records the holder's pid. Constructing
// it throws roast::Error (exit 2) naming the pid when another live process holds the
// folder; a lock file left by a dead process is taken over, with a note on stderr.
// Once held, temporary files left by a killed write (NAME.tmp.PID, see write_file_atomic)
// are removed, also with a note.
class RunLock {
 public:
  explicit RunLock(const std::string& dir, bool quiet = false);
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace roast
