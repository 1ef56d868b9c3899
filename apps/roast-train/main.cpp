// roast-train: the command line of the roast engine.
// Exit codes: 0 success, 2 bad usage / config / data / checkpoint, 1 internal error.
#include <CLI/CLI.hpp>
#include <exception>
#include <iostream>

#include "bench_mm.h"
#include "commands.h"
#include "roast/config.h"
#include "roast/error.h"

int main(int argc, char** argv) {
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
