#include "loadgen/compare.h"

#include <simdjson.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "core/json_writer.h"
#include "report/svg_chart.h"

namespace radixlm::loadgen {

using report::RenderSvg;
using report::SvgPanel;
using report::SvgSeries;

namespace {
constexpr double kMissing = std::numeric_limits<double>::quiet_NaN();
}

const std::vector<CompareFigure>& CompareFigures() {
  static const std::vector<CompareFigure> figures = {
      {"completed", "requests completed", 1, false},
      {"failed", "requests failed", 1, true},
      {"duration_s", "duration (s)", 1, true},
      {"request_throughput", "requests/s", 1, false},
      {"input_throughput", "input tokens/s", 1, false},
      {"output_throughput", "output tokens/s", 1, false},
      {"total_throughput", "total tokens/s", 1, false},
      {"cached_ratio", "cached prompt tokens (%)", 100, false},
      {"ideal_cached_ratio", "ideal cached (%)", 100, false},
      {"ttft_s.mean", "TTFT mean (ms)", 1e3, true},
      {"ttft_s.p50", "TTFT p50 (ms)", 1e3, true},
      {"ttft_s.p90", "TTFT p90 (ms)", 1e3, true},
      {"ttft_s.p99", "TTFT p99 (ms)", 1e3, true},
      {"tpot_s.mean", "TPOT mean (ms)", 1e3, true},
      {"tpot_s.p50", "TPOT p50 (ms)", 1e3, true},
      {"tpot_s.p90", "TPOT p90 (ms)", 1e3, true},
      {"tpot_s.p99", "TPOT p99 (ms)", 1e3, true},
      {"itl_s.mean", "ITL mean (ms)", 1e3, true},
      {"itl_s.p50", "ITL p50 (ms)", 1e3, true},
      {"itl_s.p90", "ITL p90 (ms)", 1e3, true},
      {"itl_s.p99", "ITL p99 (ms)", 1e3, true},
      {"e2e_s.mean", "E2E mean (ms)", 1e3, true},
      {"e2e_s.p50", "E2E p50 (ms)", 1e3, true},
      {"e2e_s.p90", "E2E p90 (ms)", 1e3, true},
      {"e2e_s.p99", "E2E p99 (ms)", 1e3, true},
  };
  return figures;
}

StatusOr<CompareRun> ParseRunJson(std::string_view json, const std::string& name) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(json.data(), json.size()).get(doc) != simdjson::SUCCESS || !doc.is_object()) {
    return InvalidArgumentError(name + ": not a JSON object");
  }
  std::string_view tool;
  if (doc["tool"].get_string().get(tool) != simdjson::SUCCESS || tool != "radixlm bench serve") {
    return InvalidArgumentError(name + ": not the JSON of `radixlm bench serve --json`");
  }
  CompareRun run;
  run.file = name;
  std::string_view s;
  if (doc["label"].get_string().get(s) == simdjson::SUCCESS && !s.empty()) {
    run.label = s;
  } else {
    run.label = name.substr(name.find_last_of('/') + 1);
  }
  if (doc["workload"].get_string().get(s) == simdjson::SUCCESS) run.workload = s;
  if (doc["prompts_hash"].get_string().get(s) == simdjson::SUCCESS) run.prompts_hash = s;
  for (const CompareFigure& f : CompareFigures()) {
    std::string pointer = "/" + std::string(f.key);
    std::replace(pointer.begin(), pointer.end(), '.', '/');
    double v;
    run.figures[f.key] =
        doc.at_pointer(pointer).get_double().get(v) == simdjson::SUCCESS ? v : kMissing;
    int64_t i;
    if (std::isnan(run.figures[f.key]) &&
        doc.at_pointer(pointer).get_int64().get(i) == simdjson::SUCCESS) {
      run.figures[f.key] = static_cast<double>(i);
    }
  }
  simdjson::dom::array records;
  if (doc["per_request"].get_array().get(records) == simdjson::SUCCESS) {
    for (simdjson::dom::element r : records) {
      bool ok = false;
      double ttft;
      if (r["ok"].get_bool().get(ok) == simdjson::SUCCESS && ok &&
          r["ttft_s"].get_double().get(ttft) == simdjson::SUCCESS) {
        run.ttft_s.push_back(ttft);
      }
    }
  }
  return run;
}

double CompareRatio(double first, double value) {
  if (std::isnan(first) || std::isnan(value)) return kMissing;
  if (first == 0) return value == 0 ? 1.0 : kMissing;
  return value / first;
}

namespace {

std::string Cell(double v, double scale) {
  if (std::isnan(v)) return "-";
  char buf[32];
  const double x = v * scale;
  const char* format = x == std::floor(x) && std::fabs(x) < 1e15 ? "%.0f"  // counts
                       : std::fabs(x) >= 100                     ? "%.1f"
                       : std::fabs(x) >= 1                       ? "%.2f"
                                                                 : "%.3f";
  std::snprintf(buf, sizeof(buf), format, x);
  return buf;
}

std::string RatioCell(double r) {
  if (std::isnan(r)) return "-";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3fx", r);
  return buf;
}

}  // namespace

std::string CompareTable(const std::vector<CompareRun>& runs) {
  std::ostringstream out;
  char buf[256];
  size_t width = 12;
  for (const CompareRun& r : runs)
    width = std::max(width, std::min<size_t>(r.label.size(), 28) + 2);
  auto label = [&](const std::string& s) { return s.size() > 28 ? s.substr(0, 25) + "..." : s; };
  std::snprintf(buf, sizeof(buf), "%-28s", "figure");
  out << buf;
  for (size_t i = 0; i < runs.size(); ++i) {
    std::snprintf(buf, sizeof(buf), "%*s", static_cast<int>(width), label(runs[i].label).c_str());
    out << buf;
    if (i > 0) {
      std::snprintf(buf, sizeof(buf), "%10s", "/ first");
      out << buf;
    }
  }
  out << "  better\n";
  for (const CompareFigure& f : CompareFigures()) {
    std::snprintf(buf, sizeof(buf), "%-28s", f.name);
    out << buf;
    const double first = runs.front().figures.at(f.key);
    for (size_t i = 0; i < runs.size(); ++i) {
      const double v = runs[i].figures.at(f.key);
      std::snprintf(buf, sizeof(buf), "%*s", static_cast<int>(width), Cell(v, f.scale).c_str());
      out << buf;
      if (i > 0) {
        std::snprintf(buf, sizeof(buf), "%10s", RatioCell(CompareRatio(first, v)).c_str());
        out << buf;
      }
    }
    out << "  " << (f.lower_is_better ? "lower" : "higher") << "\n";
  }
  for (size_t i = 1; i < runs.size(); ++i) {
    if (runs[i].workload != runs[0].workload) {
      out << "note: " << runs[i].label << " ran workload '" << runs[i].workload << "', the first '"
          << runs[0].workload << "'\n";
    } else if (!runs[i].prompts_hash.empty() && runs[i].prompts_hash != runs[0].prompts_hash) {
      out << "note: " << runs[i].label
          << " sent other prompts than the first (prompts_hash differs: other "
          << "answers in the history, a different seed or sizes, or requests not sent)\n";
    }
  }
  return out.str();
}

std::string CompareJson(const std::vector<CompareRun>& runs) {
  JsonWriter w;
  w.BeginObject();
  w.Key("tool");
  w.String("radixlm bench compare");
  w.Key("runs");
  w.BeginArray();
  for (const CompareRun& r : runs) {
    w.BeginObject();
    w.Key("file");
    w.String(r.file);
    w.Key("label");
    w.String(r.label);
    w.Key("workload");
    w.String(r.workload);
    w.Key("prompts_hash");
    w.String(r.prompts_hash);
    w.Key("figures");
    w.BeginObject();
    for (const CompareFigure& f : CompareFigures()) {
      w.Key(f.key);
      w.Double(r.figures.at(f.key));  // NaN prints null
    }
    w.EndObject();
    w.Key("ratio_to_first");
    w.BeginObject();
    for (const CompareFigure& f : CompareFigures()) {
      w.Key(f.key);
      w.Double(CompareRatio(runs.front().figures.at(f.key), r.figures.at(f.key)));
    }
    w.EndObject();
    w.EndObject();
  }
  w.EndArray();
  w.Key("lower_is_better");
  w.BeginObject();
  for (const CompareFigure& f : CompareFigures()) {
    w.Key(f.key);
    w.Bool(f.lower_is_better);
  }
  w.EndObject();
  w.EndObject();
  return w.str();
}

std::string CompareSvg(const std::vector<CompareRun>& runs) {
  SvgPanel cdf{"Time to first token (CDF)", "TTFT (ms)", "fraction of requests", false, 0, 1, {}};
  SvgPanel bars{"Mean and p99 TTFT by run", "run", "TTFT (ms)", false, 0, 0, {}};
  double lo = std::numeric_limits<double>::infinity(), hi = 0;
  for (const CompareRun& r : runs) {
    std::vector<double> t = r.ttft_s;
    std::sort(t.begin(), t.end());
    SvgSeries s{r.label, {}};
    for (size_t i = 0; i < t.size(); ++i) {
      s.points.emplace_back(t[i] * 1e3, static_cast<double>(i + 1) / static_cast<double>(t.size()));
      lo = std::min(lo, t[i] * 1e3);
      hi = std::max(hi, t[i] * 1e3);
    }
    cdf.series.push_back(std::move(s));
  }
  // Latencies spanning more than a decade read better on a log axis.
  cdf.log_x = lo > 0 && hi / lo > 20;
  SvgSeries mean{"mean", {}}, p99{"p99", {}};
  for (size_t i = 0; i < runs.size(); ++i) {
    mean.points.emplace_back(static_cast<double>(i + 1), runs[i].figures.at("ttft_s.mean") * 1e3);
    p99.points.emplace_back(static_cast<double>(i + 1), runs[i].figures.at("ttft_s.p99") * 1e3);
  }
  bars.series = {mean, p99};
  std::string title = "radixlm bench compare:";
  for (size_t i = 0; i < runs.size(); ++i) {
    title += ' ';
    title += std::to_string(i + 1);
    title += '=';
    title += runs[i].label;
  }
  return RenderSvg(title, {cdf, bars});
}

}  // namespace radixlm::loadgen
