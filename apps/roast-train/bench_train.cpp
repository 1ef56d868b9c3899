// `roast-train bench train`: samples/s of training steps, split forward / backward /
// optimizer, and the time per kernel family (docs/benchmarks.md).
#include <cstdio>

#include "commands.h"
#include "train/bench.h"

namespace roast {
namespace cli {
namespace {
void print_table(const nlohmann::json& r) {
  std::printf("%s (%s, %s, %lld memory floats) on %s, %d threads, batch %lld%s\n", r["config"].get<std::string>().c_str(),
              r["model"].get<std::string>().c_str(), r["scheme"].get<std::string>().c_str(),
              r["memory_floats"].get<long long>(), r["device"].get<std::string>().c_str(), r["threads"].get<int>(),
              r["batch_size"].get<long long>(), r["synthetic"].get<bool>() ? ", synthetic batches" : "");
  const auto& st = r["step_ms"];
  std::printf("samples/s %.1f   step ms: median %.2f, min %.2f, mean %.2f\n", r["samples_per_second"].get<double>(),
              st["median"].get<double>(), st["min"].get<double>(), st["mean"].get<double>());
  if (r.contains("phases_ms")) {
    const auto& ph = r["phases_ms"];
    std::printf("phases ms: forward %.2f, backward %.2f, optimizer %.2f\n", ph["forward"].get<double>(),
                ph["backward"].get<double>(), ph["optimizer"].get<double>());
  } else {
    std::printf("CUDA graphs: %lld steps replayed (whole steps timed; phases need train.cuda_graphs=false)\n",
                r["cuda_graph_replays"].get<long long>());
  }
  if (r.contains("profile_note")) std::printf("%s\n", r["profile_note"].get<std::string>().c_str());
  const auto& al = r["allocations"];
  std::printf("allocations per step: %.1f fresh, %.1f reused; peak live %.1f MB\n", al["fresh_per_step"].get<double>(),
              al["reused_per_step"].get<double>(), al["peak_live_mb"].get<double>());
  if (r.contains("peak_gpu_mb"))
    std::printf("peak GPU memory over the timed steps: %.1f MiB (tensors; captured steps' pools counted whole)\n",
                r["peak_gpu_mb"].get<double>());
  if (!r.contains("families_ms")) return;
  std::printf("kernel launches per step (uncaptured): %.0f\n", r["kernel_launches_per_step"].get<double>());
  std::printf("%-14s %9s %6s\n", "family", "ms/step", "share");
  const double step = st["mean"].get<double>();
  for (const auto& f : r["families_ms"].items())
    std::printf("%-14s %9.2f %5.1f%%\n", f.key().c_str(), f.value().get<double>(), 100.0 * f.value().get<double>() / step);
  std::printf("%-14s %9.2f %5.1f%%\n", "other", r["other_ms"].get<double>(), 100.0 * r["other_ms"].get<double>() / step);
  std::printf("\n%-24s %-12s %9s %8s\n", "kernel", "family", "ms/step", "calls");
  for (const auto& k : r["kernels"])
    std::printf("%-24s %-12s %9.3f %8.1f\n", k["kernel"].get<std::string>().c_str(), k["family"].get<std::string>().c_str(),
                k["ms_per_step"].get<double>(), k["calls_per_step"].get<double>());
}
}  // namespace

void add_bench_train_command(CLI::App& bench) {
  auto o = std::make_shared<BenchTrainOptions>();
  auto as_json = std::make_shared<bool>(false);
  auto no_profile = std::make_shared<bool>(false);
  CLI::App* train = bench.add_subcommand("train", "Time training steps of a config's model: samples/s, phases, kernel families");
  train->add_option("--config", o->config_path, "A run's JSON config")->required()->check(CLI::ExistingFile);
  train->add_option("--set", o->overrides, "Override a config key (repeatable)");
  train->add_option("--steps", o->steps, "Timed steps")->check(CLI::PositiveNumber)->capture_default_str();
  train->add_option("--warmup", o->warmup, "Untimed steps first")->check(CLI::NonNegativeNumber)->capture_default_str();
  train->add_flag("--synthetic", o->synthetic, "Random batches of the data's shape (no dataset files needed when the shape is known)");
  train->add_flag("--no-profile", *no_profile, "Do not time each kernel (CUDA: no synchronisation per kernel)");
  train->add_flag("--json", *as_json, "Print one JSON object");
  train->callback([o, as_json, no_profile] {
    o->profile = !*no_profile;
    const nlohmann::json r = bench_train(*o);
    if (*as_json)
      std::printf("%s\n", r.dump().c_str());
    else
      print_table(r);
  });
}

}  // namespace cli
}  // namespace roast
