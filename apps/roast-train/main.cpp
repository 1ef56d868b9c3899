#include <CLI/CLI.hpp>
#include <iostream>

#include "bench_mm.h"
#include "roast/config.h"

int main(int argc, char** argv) {
  CLI::App app{"roast-train: train ROAST-compressed models"};
  app.set_version_flag("--version", ROAST_VERSION_STRING);
  roast_train::add_bench_command(app);
  CLI11_PARSE(app, argc, argv);
  return 0;
}
