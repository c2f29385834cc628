// `radixlm bench compare A.json B.json [...]`: the runs' table, and optionally
// their JSON and SVG (loadgen/compare.h computes them).
#include <cstdio>
#include <fstream>
#include <sstream>

#include "loadgen/compare.h"
#include "tools/cli_util.h"
#include "tools/commands.h"

namespace radixlm::tools {

using loadgen::CompareRun;

int RunBenchCompare(const BenchCompareOptions& o) {
  if (o.files.empty())
    return Fail(InvalidArgumentError("bench compare needs at least one JSON file"));
  std::vector<CompareRun> runs;
  for (const std::string& file : o.files) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return Fail(NotFoundError("cannot open " + file));
    std::stringstream text;
    text << in.rdbuf();
    auto run = loadgen::ParseRunJson(text.str(), file);
    if (!run.ok()) return Fail(run.status());
    runs.push_back(std::move(*run));
  }
  std::fputs(loadgen::CompareTable(runs).c_str(), stdout);
  if (!o.json_out.empty()) {
    std::ofstream out(o.json_out);
    out << loadgen::CompareJson(runs) << "\n";
    if (!out) return Fail(InternalError("cannot write " + o.json_out));
  }
  if (!o.plot_out.empty()) {
    std::ofstream out(o.plot_out);
    out << loadgen::CompareSvg(runs);
    if (!out) return Fail(InternalError("cannot write " + o.plot_out));
  }
  return 0;
}

}  // namespace radixlm::tools
