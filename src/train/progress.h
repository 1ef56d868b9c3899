// Progress reporting: a redrawn bar on a terminal, plain periodic lines otherwise.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace roast {

class Progress {
 public:
  Progress(bool enabled, std::int64_t log_every);
  // One finished step.
  void step(std::int64_t epoch, std::int64_t n_epochs, std::int64_t batch, std::int64_t n_batches, double lr,
            std::int64_t samples);
  // The mean training loss of the steps since the last call (the trainer reads the loss every
  // train.log_every steps, not every step); shown until the next one.
  void set_loss(double loss);
  // A line that must not be overwritten (evaluations, notices).
  void line(const std::string& text);

 private:
  bool enabled_, tty_;
  std::int64_t log_every_, steps_ = 0, samples_ = 0;
  double loss_ = 0;
  bool has_loss_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
  bool drawn_ = false;
};

std::string format_duration(double seconds);

}  // namespace roast
