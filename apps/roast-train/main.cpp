// roast-train: the command line of the roast engine.
// Exit codes: 0 success, 2 bad usage / config / data / checkpoint, 1 internal error.
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <cstdlib>
#include <exception>
#include <iostream>

#include "bench_mm.h"
#include "commands.h"
#include "roast/config.h"
#include "roast/error.h"

namespace {
// OpenMP threads that spin while they wait (libgomp's default) collapse when two programs
// share the cores: a transformer trained at 3 samples/s instead of 95 beside a second job.
// Passive waiting costs a few percent alone (docs/benchmarks.md). libgomp reads the policy
// when it is loaded, before main, so the program sets it and runs itself again, once; a
// policy the user chose (OMP_WAIT_POLICY or GOMP_SPINCOUNT) is kept as it is.
void default_to_passive_waiting(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr || std::getenv("GOMP_SPINCOUNT") != nullptr) return;
  if (setenv("OMP_WAIT_POLICY", "passive", 1) != 0) return;
  execv("/proc/self/exe", argv);  // returns only on failure: then run on with the default
  unsetenv("OMP_WAIT_POLICY");
}
}  // namespace

int main(int argc, char** argv) {
  default_to_passive_waiting(argv);
  CLI::App app{"roast-train: train ROAST-compressed models (one hashed parameter memory per model)"};
  app.set_version_flag("--version", ROAST_VERSION_STRING);
  app.require_subcommand(1);
  roast::cli::add_train_commands(app);
  roast::cli::add_info_command(app);
  roast::cli::add_reproduce_command(app);
  roast::cli::add_demo_command(app);
  roast_train::add_bench_command(app);
  roast::cli::add_bench_allreduce_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::RuntimeError& e) {  // a command's own exit code
    return e.get_exit_code();
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  } catch (const roast::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "internal error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
