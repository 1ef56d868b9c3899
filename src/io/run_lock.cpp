#include "io/run_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include "roast/error.h"

namespace roast {
namespace fs = std::filesystem;

namespace {
std::string read_all(int fd) {
  std::string text;
  char buffer[64];
  ::lseek(fd, 0, SEEK_SET);
  for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) > 0 && text.size() < 256;) text.append(buffer, std::size_t(n));
  return text;
}

long pid_in(const std::string& text) {
  try {
    return std::stol(text);
  } catch (const std::exception&) {
    return 0;
  }
}
}  // namespace

RunLock::RunLock(const std::string& dir, bool quiet) : path_(dir + "/.lock") {
  fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0)
    fail("--out ", dir, ": cannot create the lock file ", path_, " (", std::strerror(errno), "). Choose a writable folder");
  const std::string previous = read_all(fd_);
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(fd_);
    fd_ = -1;
    if (err == EWOULDBLOCK)
      fail("--out ", dir, " is in use: process ", previous.empty() ? std::string("(unknown)") : std::to_string(pid_in(previous)),
           " is writing a run there (", path_, "). Wait for it to finish, stop it, or choose another --out. ",
           "A --resume must wait until the run it continues has stopped");
    fail("--out ", dir, ": cannot lock ", path_, " (", std::strerror(err), "). Choose a folder on a local file system");
  }
  // Ours now. A pid left in the file is a run that ended without unlocking: killed.
  const long stale = pid_in(previous);
  if (stale > 0 && stale != long(::getpid()) && !quiet)
    std::fprintf(stderr, "roast: %s: taking over the lock of process %ld, which no longer runs (it was killed or crashed)\n",
                 dir.c_str(), stale);
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) != ssize_t(pid.size())) {
    // The lock itself holds; only the note for others is missing.
  }
  // Temporary files of a killed write (NAME.tmp.PID): never renamed, never complete.
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.find(".tmp.") == std::string::npos || !entry.is_regular_file(ec)) continue;
    fs::remove(entry.path(), ec);
    if (!quiet) std::fprintf(stderr, "roast: %s: removed %s, left by an interrupted write\n", dir.c_str(), name.c_str());
  }
}

RunLock::~RunLock() {
  if (fd_ < 0) return;
  // Empty file + released flock = a clean end; the file itself stays (removing it would race
  // with a process that opened it and is waiting to lock it).
  if (::ftruncate(fd_, 0) != 0) {
  }
  ::flock(fd_, LOCK_UN);
  ::close(fd_);
}

}  // namespace roast
