// A small HTTP client for OpenAI-compatible servers, for the commands that
// measure one (the server demo, bench serve). It times a streamed completion at
// the client: time to the first token, the arrival of every later one, and the
// usage the server reports (prompt, completion and cached tokens).
//
// Thread-safe: each call opens its own connection. httplib stays inside
// http_client.cc.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace radixlm::tools {

struct HttpTarget {
  std::string host;
  int port = 80;
  std::string prefix;  // path before /completions, e.g. "/v1"
  std::string api_key;
  double timeout_s = 600;
};
// "http://host:port" or "http://host:port/v1" (the /v1 is assumed when absent).
StatusOr<HttpTarget> ParseBaseUrl(const std::string& url);

struct StreamResult {
  bool ok = false;
  std::string error;      // why not ok: connection, HTTP status and body, bad stream
  int http_status = 0;
  double ttft_s = 0;      // from sending to the first chunk with text or tokens
  double e2e_s = 0;
  std::vector<double> token_times_s;  // arrival of each content chunk, from sending
  std::string text;
  int64_t prompt_tokens = -1;  // from usage; -1 when the server sent none
  int64_t completion_tokens = -1;
  int64_t cached_tokens = -1;
  int64_t chunks = 0;
  std::string finish_reason;
};

// POSTs `body` (a JSON request with "stream": true) to prefix + path and reads
// the server-sent events to the end ("data: [DONE]").
StreamResult PostStreaming(const HttpTarget& target, const std::string& path, const std::string& body);

// A plain request to `path` from the server's root ("/metrics",
// "/v1/cache/stats"); returns the HTTP status and fills *response.
StatusOr<int> HttpGet(const HttpTarget& target, const std::string& path, std::string* response);
StatusOr<int> HttpPost(const HttpTarget& target, const std::string& path, const std::string& body,
                       std::string* response);

}  // namespace radixlm::tools
