// A small SVG line-chart writer for `reproduce` (no plotting library is packaged here).
// One chart: a set of named series of (x, y, y_err) points, an optional log x axis, axis
// labels, ticks and a legend. The output is a self-contained SVG 1.1 document.
#pragma once

#include <string>
#include <vector>

namespace roast {
namespace cli {

struct PlotPoint {
  double x = 0, y = 0, y_err = 0;  // y_err: half the error bar (0: none)
};

struct PlotSeries {
  std::string name;
  std::vector<PlotPoint> points;  // drawn in the given order
  bool markers_only = false;      // a single reference point (e.g. dense) drawn without a line
};

struct PlotSpec {
  std::string title, x_label, y_label;
  bool log_x = false;
  int width = 720, height = 440;
};

// The SVG document. Series without points are listed in the legend as "(no data)".
std::string svg_line_chart(const PlotSpec& spec, const std::vector<PlotSeries>& series);

}  // namespace cli
}  // namespace roast
