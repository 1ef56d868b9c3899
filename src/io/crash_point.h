// Fault injection for the kill -9 tests (tests/unit/test_kill_resume.cpp): with the
// environment variable ROAST_CRASH_AT=POINT:N, the N-th time the process passes
// crash_point(POINT) it sends itself SIGKILL. Points: "step" (inside a training step,
// after backward, before the optimizer), "write" (inside write_file_atomic, after the
// temporary file is written and before it is renamed). Unset: a no-op costing one
// branch.
#pragma once

namespace roast {
void crash_point(const char* point);
}  // namespace roast
