// SvgChart: line charts written as standalone SVG (no external tool), for the
// miss-ratio curves and latency CDFs the simulator and benchmarks draw.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace radixlm::report {

struct SvgSeries {
  std::string label;
  std::vector<std::pair<double, double>> points;  // (x, y), drawn in order
};

struct SvgPanel {
  std::string title;
  std::string x_label;
  std::string y_label;
  bool log_x = false;
  // Fixed y range when y_max > y_min; otherwise fitted to the data.
  double y_min = 0;
  double y_max = 0;
  std::vector<SvgSeries> series;
};

// Panels side by side, one shared legend of colors by series index.
std::string RenderSvg(const std::string& title, const std::vector<SvgPanel>& panels);

}  // namespace radixlm::report
