// The dashboard's server side (GET /dashboard, GET /v1/cache/tree,
// GET /v1/dashboard/events; routes in api_service.h).
//
//   /dashboard             one HTML page (dashboard.html, compiled in: its CSS
//                          and JavaScript inline, no build step, nothing fetched
//                          from elsewhere)
//   /v1/cache/tree         the prefix cache's heaviest branches as rows
//                          (kvcache/cache_summary.h), ?max_nodes=N (1..20000,
//                          default 2000): {"object": "cache.tree", "page_size",
//                          "entries", "namespaces", "rows": [{"parent", "ns",
//                          "depth", "tokens", "own_pages", "pages", "nodes",
//                          "hits", "locked_pages", "idle_s", "children",
//                          "expanded"}]}
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
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "kvcache/cache_summary.h"
#include "server/event_stream.h"

namespace radixlm::server {

// The page.
const std::string& DashboardHtml();

// The tree's JSON; `now_ns` (the cache's clock) turns last uses into idle seconds.
std::string FormatCacheTree(const kvcache::CacheSummary& summary, int32_t page_size,
                            int64_t now_ns);

// Parses ?max_nodes=N from a request path; `fallback` when absent. Out of
// [1, 20000] or not a number: an error naming the parameter.
StatusOr<int64_t> MaxNodesParam(std::string_view path, int64_t fallback);

// Wakes every registered stream once a second from one thread.
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
