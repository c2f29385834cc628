// A small HTTP client for OpenAI-compatible servers, for the commands that
// measure one (the server demo, bench serve). It times a streamed completion at
// the client: time to the first token, the arrival of every later one, and the
// usage the server reports (prompt, completion and cached tokens); sse_stream.h
// reads the stream.
//
// Only the address given is contacted: no redirects are followed (a 3xx is an
// HTTP-status failure), no proxy is consulted. Nothing a server does makes a
// call throw or hang past its deadline: a request that runs past it has its
// socket shut down by a watchdog thread, whatever the server sends meanwhile.
//
// Thread-safe: a call uses its thread's connection to the target (or a new
// one); a connection that saw any failure is dropped, so the next request
// starts on a fresh one. httplib stays inside http_client.cc.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "tools/sse_stream.h"

namespace radixlm::tools {

struct HttpTarget {
  std::string host;
  int port = 80;
  std::string prefix;  // path before /completions, e.g. "/v1"
  std::string api_key;
  double timeout_s = 600;
  // Streamed requests reuse one connection per thread (HTTP keep-alive), as
  // clients with a connection pool do; false: a new connection per request.
  bool keep_alive = true;
};
// "http://host:port" or "http://host:port/v1" (the /v1 is assumed when absent).
StatusOr<HttpTarget> ParseBaseUrl(const std::string& url);

struct StreamLimits {
  // Whole-request limit (0: the target's timeout_s). A request still running
  // then fails as kTimeout.
  double timeout_s = 0;
  // The run's end: a request still running then fails as kCancelled.
  std::chrono::steady_clock::time_point run_deadline = std::chrono::steady_clock::time_point::max();
  size_t max_event_bytes = size_t{8} << 20;
};

// POSTs `body` (a JSON request with "stream": true) to prefix + path and reads
// the server-sent events to the end ("data: [DONE]"). Never throws; every way
// of going wrong is a FailureKind in the result.
StreamResult PostStreaming(const HttpTarget& target, const std::string& path, const std::string& body,
                           const StreamLimits& limits = {});

// A plain request to `path` from the server's root ("/metrics",
// "/v1/cache/stats"); returns the HTTP status and fills *response.
StatusOr<int> HttpGet(const HttpTarget& target, const std::string& path, std::string* response);
StatusOr<int> HttpPost(const HttpTarget& target, const std::string& path, const std::string& body,
                       std::string* response);

}  // namespace radixlm::tools
