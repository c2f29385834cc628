// radixlm demo-server: replays three everyday scenarios through the HTTP API of
// two servers, one with the prefix cache and one without (--no-prefix-cache),
// and shows per request what the cache bought: time to first token on each,
// the cached prompt tokens the server reported, the speedup, and whether the two
// answers are the same token ids (they must be: caching never changes what the
// model says).
//
//   weather chatbot   one long system prompt, five city questions
//   document Q&A      one long document, four questions about it
//   multi-turn chat   each turn sends the whole conversation so far
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "core/json_writer.h"
#include "loadgen/completion_stream.h"
#include "net/http_client.h"
#include "report/svg_chart.h"
#include "tools/cli_util.h"
#include "tools/commands.h"

namespace radixlm::tools {

using loadgen::PostStreaming;
using loadgen::StreamResult;
using net::ParseBaseUrl;
using report::RenderSvg;
using report::SvgPanel;
using report::SvgSeries;
namespace {

struct Message {
  std::string role, content;
};

const char* kWeatherSystem =
    "You are Nimbus, the forecast assistant of a regional weather service. Answer questions about "
    "current "
    "conditions and the forecast for the next five days in any city the user names. Rules: give "
    "temperatures in "
    "degrees Celsius first and Fahrenheit in parentheses; give wind in kilometres per hour with "
    "its direction; "
    "mention precipitation as a probability and an amount in millimetres; say when a warning "
    "(storm, heat, frost, "
    "flood, air quality) is in force and who issued it; never invent a warning. If the user asks "
    "about a place with "
    "several namesakes, ask which one they mean. Keep answers under eighty words unless the user "
    "asks for detail. "
    "Use plain sentences, no tables, no emoji. When conditions are dangerous, start with the "
    "safety advice. When the "
    "user asks what to wear or whether to take an umbrella, answer directly from the forecast. You "
    "may mention "
    "sunrise and sunset times, the UV index from three upward, and pollen counts in spring. Do not "
    "discuss climate "
    "policy, do not give medical advice beyond the standard heat and cold safety guidance, and do "
    "not speculate "
    "about forecasts beyond five days: say the outlook is uncertain and suggest checking again "
    "later. If data for "
    "a city is missing, say so plainly and offer the nearest station that reports. Always end with "
    "the time of the "
    "observation the answer is based on, in the city's local time.";

const char* kDocument =
    "Release notes, version 4.2 of the Harbor data platform. Storage: tables now compact small "
    "files in the "
    "background once a partition holds more than 64 of them, which cuts query planning time on "
    "streaming tables "
    "by up to a third; compaction runs at low priority and yields to queries. Snapshots older than "
    "the retention "
    "window (seven days by default, set per table) are expired by the same service, and their "
    "files are deleted "
    "after a further 24-hour grace period so that long-running readers never lose data underneath "
    "them. "
    "Query engine: joins on keys with skewed distributions are detected at run time and the hot "
    "keys are split "
    "across workers; in our benchmark suite the slowest decile of join queries got 2.4 times "
    "faster. Window "
    "functions over sorted input no longer spill to disk when the window fits in memory. The "
    "planner now pushes "
    "filters through unions and into views defined with common table expressions. Security: column "
    "masks can be "
    "defined with a SQL expression and granted per role; row filters compose with masks, and both "
    "are applied "
    "before any user-defined function sees the data. Service accounts can be limited to a list of "
    "network ranges. "
    "Audit logs now record the query text together with the effective masks and filters. "
    "Connectors: the "
    "streaming connector supports exactly-once delivery into tables with primary keys, using the "
    "table's snapshot "
    "id as the commit token; the object-store connector lists prefixes in parallel, which makes "
    "the first read of a "
    "large partitioned dataset up to five times faster. Deprecations: the legacy CSV reader is "
    "removed; the "
    "version 3 client protocol will be removed in version 5.0. Upgrade notes: upgrading from 4.0 "
    "or 4.1 needs no "
    "downtime; from 3.x, run the metadata migration first, which takes about one minute per ten "
    "thousand tables.";

struct Scenario {
  std::string name;
  std::vector<std::pair<std::string, std::vector<Message>>> requests;  // label, messages
};

std::vector<Scenario> Scenarios() {
  std::vector<Scenario> out;
  Scenario weather{"weather chatbot", {}};
  for (const char* city : {"Paris", "Tokyo", "Nairobi", "Buenos Aires", "Reykjavik"}) {
    weather.requests.push_back({city,
                                {{"system", kWeatherSystem},
                                 {"user", std::string("What is the weather like in ") + city +
                                              " today, and do I need an umbrella?"}}});
  }
  out.push_back(weather);
  Scenario doc{"document Q&A", {}};
  for (const char* q :
       {"How much faster did skewed joins get?", "When are expired snapshot files deleted?",
        "Which client protocol will be removed, and when?",
        "How long does the metadata migration from 3.x take?"}) {
    doc.requests.push_back(
        {q,
         {{"system", "Answer using only the document below.\n\n" + std::string(kDocument)},
          {"user", q}}});
  }
  out.push_back(doc);
  return out;
}

std::string ChatBody(const std::string& model, const std::vector<Message>& messages,
                     int64_t max_tokens) {
  JsonWriter w;
  w.BeginObject();
  w.Key("model");
  w.String(model);
  w.Key("messages");
  w.BeginArray();
  for (const auto& m : messages) {
    w.BeginObject();
    w.Key("role");
    w.String(m.role);
    w.Key("content");
    w.String(m.content);
    w.EndObject();
  }
  w.EndArray();
  w.Key("max_tokens");
  w.Int(max_tokens);
  w.Key("temperature");
  w.Double(0);
  w.Key("logprobs");
  w.Bool(true);  // a chunk per token, so TTFT is timed at the first
  w.Key("return_tokens_as_token_ids");
  w.Bool(true);  // answers compared by id
  w.Key("stream");
  w.Bool(true);
  w.Key("stream_options");
  w.BeginObject();
  w.Key("include_usage");
  w.Bool(true);
  w.EndObject();
  w.EndObject();
  return w.str();
}

struct Row {
  std::string scenario, label;
  StreamResult cached, cold;
  // The same token ids (with random weights most ids decode to nothing, so
  // the text alone says little); the text where a server names no ids.
  bool same() const {
    if (cached.output_ids_complete && cold.output_ids_complete)
      return cached.output_ids == cold.output_ids;
    return cached.text == cold.text;
  }
};

}  // namespace

int RunDemoServer(const DemoServerOptions& o) {
  auto cached_target = ParseBaseUrl(o.base_url);
  if (!cached_target.ok()) return Fail(cached_target.status());
  auto cold_target = ParseBaseUrl(o.baseline_url);
  if (!cold_target.ok()) return Fail(cold_target.status());
  cached_target->api_key = cold_target->api_key = o.api_key;

  std::vector<Scenario> scenarios = Scenarios();
  // Multi-turn chat: the history grows with the (cached server's) answers.
  Scenario chat{"multi-turn chat", {}};
  std::vector<Message> history = {
      {"system", "You are a friendly travel planner. Ask one question at a time."}};
  const char* turns[] = {"I want to spend a long weekend somewhere warm in March.",
                         "I like food markets and walking, not beaches.",
                         "Budget is moderate; I fly from Amsterdam.",
                         "Which of your suggestions has the best markets?"};

  std::vector<Row> rows;
  std::printf("%-16s %-44s %7s %7s %11s %11s %8s %5s\n", "scenario", "request", "prompt", "cached",
              "TTFT cache", "TTFT none", "speedup", "same");
  auto run = [&](const std::string& scenario, const std::string& label,
                 const std::vector<Message>& messages) -> bool {
    const std::string body = ChatBody(o.model, messages, o.max_tokens);
    Row row{scenario, label, PostStreaming(*cached_target, "/chat/completions", body),
            PostStreaming(*cold_target, "/chat/completions", body)};
    for (const StreamResult* r : {&row.cached, &row.cold}) {
      if (!r->ok) {
        std::fprintf(stderr, "radixlm demo-server: %s: %s\n", label.c_str(), r->error.c_str());
        return false;
      }
    }
    std::string shown = label.size() > 44 ? label.substr(0, 41) + "..." : label;
    std::printf("%-16s %-44s %7lld %7lld %9.3f s %9.3f s %7.1fx %5s\n", scenario.c_str(),
                shown.c_str(), static_cast<long long>(row.cached.prompt_tokens),
                static_cast<long long>(row.cached.cached_tokens), row.cached.ttft_s,
                row.cold.ttft_s, row.cold.ttft_s / std::max(row.cached.ttft_s, 1e-9),
                row.same() ? "yes" : "NO");
    std::fflush(stdout);
    rows.push_back(std::move(row));
    return true;
  };
  for (const Scenario& s : scenarios) {
    for (const auto& [label, messages] : s.requests) {
      if (!run(s.name, label, messages)) return 1;
    }
  }
  for (const char* turn : turns) {
    history.push_back({"user", turn});
    if (!run(chat.name, turn, history)) return 1;
    history.push_back({"assistant", rows.back().cached.text});
  }

  double ttft_cached = 0, ttft_cold = 0;
  int64_t prompt = 0, cached = 0, same = 0;
  for (const Row& r : rows) {
    ttft_cached += r.cached.ttft_s;
    ttft_cold += r.cold.ttft_s;
    prompt += r.cached.prompt_tokens;
    cached += r.cached.cached_tokens;
    same += r.same();
  }
  std::printf(
      "\n%zu requests: %lld of %lld prompt tokens from the cache (%.0f%%); mean TTFT %.3f s with "
      "the cache, "
      "%.3f s without: %.1fx faster; identical answers: %lld/%zu\n",
      rows.size(), static_cast<long long>(cached), static_cast<long long>(prompt),
      100.0 * static_cast<double>(cached) / static_cast<double>(std::max<int64_t>(prompt, 1)),
      ttft_cached / static_cast<double>(rows.size()), ttft_cold / static_cast<double>(rows.size()),
      ttft_cold / std::max(ttft_cached, 1e-9), static_cast<long long>(same), rows.size());

  if (!o.plot.empty()) {
    SvgPanel ttft{"Time to first token per request", "request", "TTFT (s)", false, 0, 0, {}};
    SvgSeries with{"prefix cache", {}}, without{"--no-prefix-cache", {}};
    SvgPanel share{"Prompt tokens from the cache", "request", "cached / prompt", false, 0, 1, {}};
    SvgSeries ratio{"prefix cache", {}};
    for (size_t i = 0; i < rows.size(); ++i) {
      const double x = static_cast<double>(i + 1);
      with.points.emplace_back(x, rows[i].cached.ttft_s);
      without.points.emplace_back(x, rows[i].cold.ttft_s);
      ratio.points.emplace_back(
          x, static_cast<double>(rows[i].cached.cached_tokens) /
                 static_cast<double>(std::max<int64_t>(rows[i].cached.prompt_tokens, 1)));
    }
    ttft.series = {with, without};
    share.series = {ratio};
    std::ofstream(o.plot) << RenderSvg(
        "radixlm: weather chatbot (1-5), document Q&A (6-9), multi-turn chat (10-13)",
        {ttft, share});
    std::printf("chart: %s\n", o.plot.c_str());
  }
  return same == static_cast<int64_t>(rows.size()) ? 0 : 1;
}

}  // namespace radixlm::tools
