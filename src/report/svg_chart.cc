#include "report/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <utility>

#include "report/html_report.h"

namespace radixlm::report {
namespace {

constexpr double kPanelWidth = 520, kPanelHeight = 360;
constexpr double kLeft = 70, kRight = 20, kTop = 64, kBottom = 60;
// A palette that stays apart for the color-blind (Okabe-Ito).
const char* const kColors[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                               "#E69F00", "#56B4E9", "#000000", "#F0E442"};
constexpr size_t kNumColors = sizeof(kColors) / sizeof(kColors[0]);

std::string Number(double v) {
  char buf[32];
  for (auto [scale, suffix] : {std::pair<double, const char*>{1e9, "G"}, {1e6, "M"}, {1e3, "k"}}) {
    if (std::fabs(v) >= scale && std::fabs(v) < scale * 1000) {
      std::snprintf(buf, sizeof(buf), "%.3g%s", v / scale, suffix);
      return buf;
    }
  }
  if (v != 0 && (std::fabs(v) >= 1e6 || std::fabs(v) < 1e-3)) {
    std::snprintf(buf, sizeof(buf), "%.2g", v);
  } else if (std::fabs(v) >= 100) {
    std::snprintf(buf, sizeof(buf), "%.0f", v);
  } else {
    std::snprintf(buf, sizeof(buf), "%.3g", v);
  }
  return buf;
}

// About five round tick values covering [lo, hi].
std::vector<double> Ticks(double lo, double hi, bool log) {
  std::vector<double> ticks;
  if (log) {
    for (double p = std::floor(std::log10(lo)); p <= std::ceil(std::log10(hi)); ++p) {
      double v = std::pow(10.0, p);
      if (v >= lo * 0.999 && v <= hi * 1.001) ticks.push_back(v);
    }
    if (ticks.size() >= 2) return ticks;
    log = false;  // less than a decade: round linear ticks read better
  }
  double span = hi - lo;
  double step = std::pow(10.0, std::floor(std::log10(span / 5)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (span / (step * m) <= 6) {
      step *= m;
      break;
    }
  }
  for (double v = std::ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push_back(v);
  return ticks;
}

void DrawPanel(std::string& svg, const SvgPanel& panel, double x0) {
  double xmin = std::numeric_limits<double>::infinity(), xmax = -xmin;
  double ymin = xmin, ymax = -xmin;
  for (const SvgSeries& s : panel.series) {
    for (const auto& [x, y] : s.points) {
      if (panel.log_x && x <= 0) continue;
      xmin = std::min(xmin, x);
      xmax = std::max(xmax, x);
      ymin = std::min(ymin, y);
      ymax = std::max(ymax, y);
    }
  }
  if (!std::isfinite(xmin)) xmin = 0, xmax = 1, ymin = 0, ymax = 1;
  if (panel.y_max > panel.y_min) ymin = panel.y_min, ymax = panel.y_max;
  if (xmax <= xmin) xmax = xmin + 1;
  if (ymax <= ymin) ymax = ymin + 1;
  const double w = kPanelWidth - kLeft - kRight, h = kPanelHeight - kTop - kBottom;
  auto px = [&](double x) {
    double t = panel.log_x
                   ? (std::log10(x) - std::log10(xmin)) / (std::log10(xmax) - std::log10(xmin))
                   : (x - xmin) / (xmax - xmin);
    return x0 + kLeft + t * w;
  };
  auto py = [&](double y) { return kTop + h - (y - ymin) / (ymax - ymin) * h; };
  char buf[512];
  std::snprintf(buf, sizeof(buf),
                "<text x=\"%.1f\" y=\"50\" font-size=\"15\" font-weight=\"bold\">", x0 + kLeft);
  svg += buf + HtmlEscape(panel.title) + "</text>\n";
  std::snprintf(buf, sizeof(buf),
                "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
                "stroke=\"#888\"/>\n",
                x0 + kLeft, kTop, w, h);
  svg += buf;
  for (double t : Ticks(xmin, xmax, panel.log_x)) {
    std::snprintf(buf, sizeof(buf),
                  "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                  "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\">%s</text>\n",
                  px(t), kTop, px(t), kTop + h, px(t), kTop + h + 16, Number(t).c_str());
    svg += buf;
  }
  for (double t : Ticks(ymin, ymax, false)) {
    std::snprintf(buf, sizeof(buf),
                  "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                  "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%s</text>\n",
                  x0 + kLeft, py(t), x0 + kLeft + w, py(t), x0 + kLeft - 6, py(t) + 4,
                  Number(t).c_str());
    svg += buf;
  }
  std::snprintf(buf, sizeof(buf),
                "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"middle\">",
                x0 + kLeft + w / 2, kTop + h + 40);
  svg += buf + HtmlEscape(panel.x_label) + "</text>\n";
  std::snprintf(buf, sizeof(buf),
                "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"middle\" "
                "transform=\"rotate(-90 %.1f %.1f)\">",
                x0 + 18, kTop + h / 2, x0 + 18, kTop + h / 2);
  svg += buf + HtmlEscape(panel.y_label) + "</text>\n";
  for (size_t i = 0; i < panel.series.size(); ++i) {
    std::string path;
    for (const auto& [x, y] : panel.series[i].points) {
      if (panel.log_x && x <= 0) continue;
      std::snprintf(buf, sizeof(buf), "%s%.1f,%.1f", path.empty() ? "" : " ", px(x),
                    py(std::clamp(y, ymin, ymax)));
      path += buf;
    }
    const char* color = kColors[i % kNumColors];
    svg += "<polyline fill=\"none\" stroke-width=\"2\" stroke=\"";
    svg += color;
    // Past the palette, the same colors come back dashed.
    if (i >= kNumColors) svg += "\" stroke-dasharray=\"6 3";
    svg += "\" points=\"" + path + "\"/>\n";
    if (panel.series[i].points.size() <= 24) {
      for (const auto& [x, y] : panel.series[i].points) {
        if (panel.log_x && x <= 0) continue;
        std::snprintf(buf, sizeof(buf), "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n",
                      px(x), py(std::clamp(y, ymin, ymax)), color);
        svg += buf;
      }
    }
  }
}

}  // namespace

std::string RenderSvg(const std::string& title, const std::vector<SvgPanel>& panels) {
  size_t legend_rows = 0;
  for (const SvgPanel& p : panels) legend_rows = std::max(legend_rows, p.series.size());
  const double width = kPanelWidth * std::max<size_t>(1, panels.size());
  const double height = kPanelHeight + 30 + 18.0 * static_cast<double>(legend_rows);
  char buf[256];
  std::snprintf(
      buf, sizeof(buf),
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
      "font-family=\"sans-serif\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
      width, height);
  std::string svg = buf;
  svg +=
      "<text x=\"10\" y=\"20\" font-size=\"13\" fill=\"#444\">" + HtmlEscape(title) + "</text>\n";
  for (size_t i = 0; i < panels.size(); ++i) {
    DrawPanel(svg, panels[i], kPanelWidth * static_cast<double>(i));
    for (size_t k = 0; k < panels[i].series.size(); ++k) {
      const double y = kPanelHeight + 10 + 18.0 * static_cast<double>(k);
      const double x = kPanelWidth * static_cast<double>(i) + kLeft;
      std::snprintf(buf, sizeof(buf),
                    "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"4\" fill=\"%s\"/>"
                    "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\">",
                    x, y - 4, kColors[k % kNumColors], x + 20, y);
      svg += buf;
      svg += HtmlEscape(panels[i].series[k].label) + "</text>\n";
    }
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace radixlm::report
