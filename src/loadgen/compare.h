// `radixlm bench compare A.json B.json [...]`: runs of `bench serve` side by
// side, each figure of a later run also as a ratio to the first run's
// (value / first: above 1 means more, whether more is better or worse; the
// table says which direction is better per figure).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace radixlm::loadgen {

struct CompareFigure {
  const char* key;   // in the run's JSON; "ttft_s.p50" is ttft_s -> p50
  const char* name;  // for people
  double scale;      // printed value = JSON value * scale
  bool lower_is_better;
};
const std::vector<CompareFigure>& CompareFigures();

struct CompareRun {
  std::string file;
  std::string label;  // the run's label, else the file's name
  std::string workload;
  std::string prompts_hash;
  std::map<std::string, double> figures;  // by CompareFigure::key; absent or null: missing
  std::vector<double> ttft_s;             // completed requests, for the plot
};

// Reads a `bench serve --json` file's text; `name` labels errors.
StatusOr<CompareRun> ParseRunJson(std::string_view json, const std::string& name);

// value / first; NaN when either is missing, or first is 0 (and value is not).
double CompareRatio(double first, double value);

std::string CompareTable(const std::vector<CompareRun>& runs);
std::string CompareJson(const std::vector<CompareRun>& runs);
std::string CompareSvg(const std::vector<CompareRun>& runs);

}  // namespace radixlm::loadgen
