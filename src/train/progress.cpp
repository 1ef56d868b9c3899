#include "train/progress.h"

#include <unistd.h>

#include <cstdio>

namespace roast {

std::string format_duration(double seconds) {
  const long s = long(seconds + 0.5);
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
  else std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  return buf;
}

Progress::Progress(bool enabled, std::int64_t log_every)
    : enabled_(enabled), tty_(isatty(STDERR_FILENO) != 0), log_every_(log_every), start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

void Progress::set_loss(double loss) {
  loss_ = loss;
  has_loss_ = true;
}

void Progress::step(std::int64_t epoch, std::int64_t n_epochs, std::int64_t batch, std::int64_t n_batches, double lr,
                    std::int64_t samples) {
  ++steps_;
  samples_ += samples;
  if (!enabled_) return;
  char loss[32] = "-";  // until the first read
  if (has_loss_) std::snprintf(loss, sizeof loss, "%.4f", loss_);
  const auto now = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double rate = elapsed > 0 ? double(samples_) / elapsed : 0.0;
  const double done = (double(epoch) + double(batch) / double(n_batches)) / double(n_epochs);
  const double eta = done > 0 ? elapsed * (1.0 - done) / done : 0.0;
  if (tty_) {
    if (std::chrono::duration<double>(now - last_draw_).count() < 0.1 && batch != n_batches) return;
    last_draw_ = now;
    const int width = 24, filled = int(double(width) * double(batch) / double(n_batches));
    std::string bar(std::size_t(filled), '=');
    bar.resize(std::size_t(width), ' ');
    std::fprintf(stderr, "\r\033[Kepoch %lld/%lld [%s] %lld/%lld loss %s lr %.2g %.0f samples/s ETA %s",
                 (long long)(epoch + 1), (long long)n_epochs, bar.c_str(), (long long)batch, (long long)n_batches,
                 loss, lr, rate, format_duration(eta).c_str());
    drawn_ = true;
  } else if (steps_ % log_every_ == 0) {
    std::fprintf(stderr, "epoch %lld/%lld step %lld/%lld loss %s lr %.3g %.0f samples/s ETA %s\n",
                 (long long)(epoch + 1), (long long)n_epochs, (long long)batch, (long long)n_batches, loss, lr, rate,
                 format_duration(eta).c_str());
  }
}

void Progress::line(const std::string& text) {
  if (!enabled_) return;
  if (tty_ && drawn_) std::fprintf(stderr, "\r\033[K");
  drawn_ = false;
  std::fprintf(stderr, "%s\n", text.c_str());
}

}  // namespace roast
