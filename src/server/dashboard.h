// The dashboard's server side (GET /dashboard, GET /v1/cache/tree,
// GET /v1/dashboard/events; routes in api_service.h).
//
//   /dashboard             one HTML page (dashboard.html, compiled in: its CSS
//                          and JavaScript inline, no build step, nothing fetched
//                          from elsewhere)
//   /v1/cache/tree         the prefix cache's heaviest branches as rows
//                          (kvcache/cache_summary.h), ?max_nodes=N (1..20000,
//                          default 2000; at most N rows): {"object":
//                          "cache.tree", "page_size", "entries", "namespaces",
//                          "age_s" (how old the summary is: TreeSummaries
//                          shares one among the callers of a scope),
//                          "rows": [{"parent", "ns", "depth", "tokens",
//                          "own_pages", "pages", "nodes", "hits",
//                          "locked_pages", "idle_s", "children", "expanded"}]}
//   /v1/dashboard/events   server-sent events, one a second: {"time_ms",
//                          "stats": the body of /v1/cache/stats, "ttft" and
//                          "queue": cumulative {"count", "sum_s", "p50_s",
//                          "p99_s"}, "tenants": pages per tenant (operator view)}
//
// With API keys a tenant's tree holds its own namespaces only, and its events
// its own figures; an operator's metrics key sees everything.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/status.h"
#include "kvcache/cache_summary.h"
#include "server/event_stream.h"

namespace radixlm::server {

// The page.
const std::string& DashboardHtml();

// The tree's JSON; `now_ns` (the cache's clock) turns last uses into idle seconds.
// `age_s`: how long ago the summary was made.
std::string FormatCacheTree(const kvcache::CacheSummary& summary, int32_t page_size, int64_t now_ns,
                            double age_s = 0);

// The summaries behind /v1/cache/tree, shared by every page that polls it. A
// summary walks the whole cache on the engine's step thread (a serving cache
// of a million entries: about 17 ms of CPU on the development machine), so its
// cost must not grow with the number of viewers:
// - one summary per scope (the whole cache, or one tenant's namespaces)
//   answers every caller of that scope while it is younger than `min_age` (1 s);
// - an older one is replaced only while summarizing keeps within `max_share`
//   (0.5%, half the dashboard's whole budget of 1% of the server) of the step
//   thread: after a summary that took the step thread c seconds, the next
//   one, of any scope, waits until c * (1 / max_share - 1) has passed since it
//   ended. Until then callers get their scope's latest summary, however old
//   (its age goes out as age_s);
// - a scope with none yet is summarized at once (its first caller waits);
// - a summary with fewer rows than a caller asks for counts as old; a caller
//   asking for fewer gets the first max_nodes rows of a larger one, which are
//   the summary with that budget (kvcache::TruncateSummary).
// One summary is made at a time, in one SummaryScratch kept between them.
// Trim (the DashboardTicker calls it each second) drops the scopes' summaries
// nobody has asked for in `keep` (60 s), and the scratch with the last.
// Thread-safe. Time comes from `clock` (not owned).
class TreeSummaries {
 public:
  struct Options {
    double max_share = 0.005;
    int64_t min_age_ns = 1'000'000'000;
    int64_t keep_ns = 60'000'000'000;
  };
  // Summarizes on the step thread; sets the seconds the step thread spent.
  using SummarizeFn = std::function<StatusOr<kvcache::CacheSummary>(
      const kvcache::SummaryOptions& options, double* step_seconds)>;
  struct Stats {
    int64_t summaries = 0;    // made
    int64_t shared = 0;       // answers from a summary made earlier
    double step_seconds = 0;  // the step thread's, summarizing
  };
  struct Tree {
    std::shared_ptr<const kvcache::CacheSummary> summary;
    double age_s = 0;
  };

  TreeSummaries(SummarizeFn summarize, const Clock* clock, Options options);
  TreeSummaries(SummarizeFn summarize, const Clock* clock)
      : TreeSummaries(std::move(summarize), clock, Options()) {}
  ~TreeSummaries();

  // The tree of `scope`, the namespaces `include` accepts (null: all); the
  // same scope name must always come with the same namespaces.
  StatusOr<Tree> Get(const std::string& scope, std::function<bool(std::string_view)> include,
                     int64_t max_nodes);
  void Trim();
  Stats stats() const;

 private:
  struct Entry {
    std::shared_ptr<const kvcache::CacheSummary> summary;
    int64_t max_nodes = 0;  // asked for when made
    int64_t made_ns = 0;
    int64_t asked_ns = 0;
  };
  // Under mu_: the entry's summary cut to max_nodes, or null when a new one
  // is due and allowed.
  std::shared_ptr<const kvcache::CacheSummary> Usable(const Entry* entry, int64_t max_nodes,
                                                      int64_t now) const;

  SummarizeFn summarize_;
  const Clock* clock_;
  Options options_;
  std::mutex summarize_mu_;  // one summary at a time; guards scratch_
  std::unique_ptr<kvcache::SummaryScratch> scratch_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;
  int64_t next_allowed_ns_ = 0;  // the share's bound: no new summary before
  Stats stats_;
};

// Parses ?max_nodes=N from a request path; `fallback` when absent. Out of
// [1, 20000] or not a number: an error naming the parameter.
StatusOr<int64_t> MaxNodesParam(std::string_view path, int64_t fallback);

// Calls every registered function once a second from one thread: the event
// streams' wakes, TreeSummaries::Trim. They must be quick (the streams' only
// post to their connections' event loops).
class DashboardTicker {
 public:
  DashboardTicker();
  ~DashboardTicker();
  // Returns a registration id for Remove.
  uint64_t Add(std::function<void()> wake);
  void Remove(uint64_t id);

 private:
  void Loop();
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  uint64_t next_id_ = 0;
  std::vector<std::pair<uint64_t, std::function<void()>>> wakes_;
  std::thread thread_;
};

// An endless event stream: an event from `sample` at most once a second (the
// first at once), until Cancel or until `sample` returns "" (the server is
// shutting down).
class DashboardStream final : public EventStream {
 public:
  DashboardStream(DashboardTicker* ticker, std::function<std::string()> sample);
  ~DashboardStream() override;
  bool Next(std::string* out, std::chrono::milliseconds wait) override;
  void Cancel() override;
  void SetWake(std::function<void()> wake) override;
  Usage usage() const override { return {}; }

 private:
  DashboardTicker* ticker_;
  std::function<std::string()> sample_;
  std::mutex mu_;
  uint64_t registration_ = 0;
  bool registered_ = false;
  bool cancelled_ = false;
  std::chrono::steady_clock::time_point last_{};
  bool sent_ = false;
};

}  // namespace radixlm::server
