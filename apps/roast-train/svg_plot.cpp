// The SVG writer of svg_plot.h: linear or log-10 x axis, linear y axis with "nice" ticks.
#include "svg_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

namespace roast {
namespace cli {
namespace {

const char* const kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                               "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else if (c == '"') out += "&quot;";
    else out += c;
  }
  return out;
}

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

// Tick label: 3 significant digits, compact for powers of ten.
std::string tick_text(double v) {
  char buf[32];
  const double a = std::fabs(v);
  if (a >= 1e6) std::snprintf(buf, sizeof buf, "%.3gM", v / 1e6);
  else if (a >= 1e4) std::snprintf(buf, sizeof buf, "%.3gk", v / 1e3);
  else if (a >= 1 && v == std::floor(v)) std::snprintf(buf, sizeof buf, "%.0f", v);
  else std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

// Linear ticks covering [lo, hi] with a step of 1, 2 or 5 times a power of ten.
std::vector<double> nice_ticks(double lo, double hi, int target) {
  const double span = std::max(hi - lo, 1e-12);
  const double raw = span / std::max(1, target);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double f : {1.0, 2.0, 5.0, 10.0})
    if (f * mag >= raw) {
      step = f * mag;
      break;
    }
  std::vector<double> ticks;
  for (double t = std::ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push_back(std::fabs(t) < step * 1e-9 ? 0 : t);
  return ticks;
}
}  // namespace

std::string svg_line_chart(const PlotSpec& spec, const std::vector<PlotSeries>& series) {
  const double left = 70, right = 190, top = 40, bottom = 55;
  const double pw = spec.width - left - right, ph = spec.height - top - bottom;
  double x_lo = std::numeric_limits<double>::infinity(), x_hi = -x_lo, y_lo = x_lo, y_hi = -x_lo;
  for (const PlotSeries& s : series)
    for (const PlotPoint& p : s.points) {
      if (spec.log_x && !(p.x > 0)) continue;
      x_lo = std::min(x_lo, p.x), x_hi = std::max(x_hi, p.x);
      y_lo = std::min(y_lo, p.y - p.y_err), y_hi = std::max(y_hi, p.y + p.y_err);
    }
  if (!std::isfinite(x_lo)) x_lo = 1, x_hi = 10, y_lo = 0, y_hi = 1;
  const auto fx = [&](double x) { return spec.log_x ? std::log10(std::max(x, 1e-300)) : x; };
  double ax_lo = fx(x_lo), ax_hi = fx(x_hi);
  if (spec.log_x) ax_lo = std::floor(ax_lo * 2) / 2, ax_hi = std::ceil(ax_hi * 2) / 2;
  if (ax_hi - ax_lo < 1e-12) ax_lo -= 0.5, ax_hi += 0.5;
  const double y_pad = std::max((y_hi - y_lo) * 0.08, 1e-3);
  y_lo -= y_pad, y_hi += y_pad;
  const auto px = [&](double x) { return left + (fx(x) - ax_lo) / (ax_hi - ax_lo) * pw; };
  const auto py = [&](double y) { return top + (1 - (y - y_lo) / (y_hi - y_lo)) * ph; };

  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << spec.width << "\" height=\"" << spec.height
    << "\" viewBox=\"0 0 " << spec.width << " " << spec.height << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
    << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    << "<text x=\"" << num(left + pw / 2) << "\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">" << escape(spec.title)
    << "</text>\n";
  // Grid and ticks.
  for (double t : nice_ticks(y_lo, y_hi, 6)) {
    o << "<line x1=\"" << num(left) << "\" x2=\"" << num(left + pw) << "\" y1=\"" << num(py(t)) << "\" y2=\"" << num(py(t))
      << "\" stroke=\"#e5e5e5\"/><text x=\"" << num(left - 6) << "\" y=\"" << num(py(t) + 4)
      << "\" text-anchor=\"end\">" << tick_text(t) << "</text>\n";
  }
  std::vector<double> x_ticks;
  if (spec.log_x) {
    for (double e = std::ceil(ax_lo); e <= ax_hi + 1e-9; e += 1) x_ticks.push_back(std::pow(10.0, e));
  } else {
    x_ticks = nice_ticks(ax_lo, ax_hi, 7);
  }
  for (double t : x_ticks) {
    o << "<line x1=\"" << num(px(t)) << "\" x2=\"" << num(px(t)) << "\" y1=\"" << num(top) << "\" y2=\"" << num(top + ph)
      << "\" stroke=\"#e5e5e5\"/><text x=\"" << num(px(t)) << "\" y=\"" << num(top + ph + 16)
      << "\" text-anchor=\"middle\">" << tick_text(t) << "</text>\n";
  }
  o << "<rect x=\"" << num(left) << "\" y=\"" << num(top) << "\" width=\"" << num(pw) << "\" height=\"" << num(ph)
    << "\" fill=\"none\" stroke=\"#444\"/>\n"
    << "<text x=\"" << num(left + pw / 2) << "\" y=\"" << num(spec.height - 12) << "\" text-anchor=\"middle\">"
    << escape(spec.x_label) << (spec.log_x ? " (log scale)" : "") << "</text>\n"
    << "<text transform=\"translate(16," << num(top + ph / 2) << ") rotate(-90)\" text-anchor=\"middle\">"
    << escape(spec.y_label) << "</text>\n";
  // Series.
  for (std::size_t k = 0; k < series.size(); ++k) {
    const PlotSeries& s = series[k];
    const char* color = kColors[k % (sizeof kColors / sizeof kColors[0])];
    std::vector<PlotPoint> pts;
    for (const PlotPoint& p : s.points)
      if (!spec.log_x || p.x > 0) pts.push_back(p);
    if (!s.markers_only && pts.size() > 1) {
      o << "<polyline fill=\"none\" stroke=\"" << color << "\" stroke-width=\"2\" points=\"";
      for (const PlotPoint& p : pts) o << num(px(p.x)) << "," << num(py(p.y)) << " ";
      o << "\"/>\n";
    }
    for (const PlotPoint& p : pts) {
      if (p.y_err > 0) {
        const double x = px(p.x);
        o << "<path d=\"M" << num(x) << " " << num(py(p.y - p.y_err)) << "V" << num(py(p.y + p.y_err)) << "M"
          << num(x - 4) << " " << num(py(p.y - p.y_err)) << "h8M" << num(x - 4) << " " << num(py(p.y + p.y_err))
          << "h8\" stroke=\"" << color << "\" fill=\"none\"/>\n";
      }
      if (pts.size() <= 40 || s.markers_only)
        o << "<circle cx=\"" << num(px(p.x)) << "\" cy=\"" << num(py(p.y)) << "\" r=\"3.5\" fill=\"" << color << "\"/>\n";
    }
    const double ly = top + 14 + 20.0 * double(k);
    o << "<line x1=\"" << num(left + pw + 14) << "\" x2=\"" << num(left + pw + 38) << "\" y1=\"" << num(ly - 4)
      << "\" y2=\"" << num(ly - 4) << "\" stroke=\"" << color << "\" stroke-width=\"3\"/><text x=\""
      << num(left + pw + 44) << "\" y=\"" << num(ly) << "\">" << escape(s.name) << (pts.empty() ? " (no data)" : "")
      << "</text>\n";
  }
  o << "</svg>\n";
  return o.str();
}

}  // namespace cli
}  // namespace roast
