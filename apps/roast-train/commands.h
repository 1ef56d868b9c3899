// Subcommands of roast-train; each adds itself to the app.
#pragma once

#include <CLI/CLI.hpp>

namespace roast {
namespace cli {

void add_demo_command(CLI::App& app);
void add_train_commands(CLI::App& app);  // train, eval, predict
void add_info_command(CLI::App& app);
void add_reproduce_command(CLI::App& app);
// `bench allreduce`, added to the bench command (bench_allreduce.cpp).
void add_bench_allreduce_command(CLI::App& app);
void add_bench_train_command(CLI::App& bench);  // `bench train`, under the bench command

}  // namespace cli
}  // namespace roast
