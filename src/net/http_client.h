// The project's HTTP client (libcurl inside http_client.cc): plain and streamed
// requests to one server, each bounded by a real deadline. The load generator,
// the server demo, cache-warm, bench response-cache and the semantic cache's
// remote embedder all speak HTTP through it.
//
// Deadline: a request ends by its deadline whatever the server does: the
// connect, the upload and every byte of the answer count against it (a server
// that trickles a byte a second cannot stretch it). A request past it fails as
// HttpError::kTimeout.
//
// Only the address given is contacted: no redirects are followed (a 3xx is just
// a status), no proxy is consulted (the environment's proxy variables are
// ignored), only http:// is spoken.
//
// Connections: each thread keeps one connection per host:port and reuses it
// (HTTP keep-alive) unless the target says not to; DropConnection closes this
// thread's one (after a failure its state is unknown). Thread-safe; nothing
// throws.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace radixlm::net {

using Clock = std::chrono::steady_clock;

struct HttpTarget {
  std::string host;
  int port = 80;
  std::string prefix;      // the API's path below the root, e.g. "/v1"
  std::string api_key;     // sent as "Authorization: Bearer KEY" when not empty
  double timeout_s = 600;  // the deadline of requests that name none
  // Reuse this thread's connection to the target; false: a new connection per
  // request, closed after it.
  bool keep_alive = true;
};
// "http://host:port" or "http://host:port/v1" (the /v1 is assumed when absent).
StatusOr<HttpTarget> ParseBaseUrl(const std::string& url);

// Why a request got no complete answer. Switches over it have no default.
enum class HttpError {
  kNone,
  kConnect,   // no connection (refused, unreachable, bad host)
  kTimeout,   // the deadline passed before the answer ended
  kBroken,    // the connection broke or the answer was not well-formed HTTP
  kAborted,   // the caller's on_data asked to stop
  kTooLarge,  // a collected body over max_body_bytes
};

struct HttpRequest {
  std::string method = "GET";  // "GET" or "POST"
  std::string path;            // from the server's root: "/metrics", "/v1/completions"
  std::string body;            // POST only
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;  // besides Authorization
  // The whole exchange ends by then; Clock::time_point{} (unset): now +
  // target.timeout_s.
  Clock::time_point deadline{};
  // Set: each piece of a 200 answer's body as it arrives (the body is not
  // collected); returning false ends the request as kAborted. A non-200 body
  // is collected either way (its first 4 KiB when on_data is set).
  std::function<bool(std::string_view piece)> on_data;
  // Set: asked about once a second while the exchange lasts (libcurl's progress
  // callback, which runs while the server is silent too); returning false ends
  // the request as kAborted and closes its connection. The router stops a
  // replica's work this way when the client of a non-streamed request leaves.
  std::function<bool()> keep_going;
  size_t max_body_bytes = size_t{64} << 20;
};

struct HttpResult {
  HttpError error = HttpError::kNone;
  std::string message;  // why, for people (names the host and what broke)
  int status = 0;       // 0: no status line came
  std::string body;
  // The final answer's header fields, names lower-cased, in order.
  std::vector<std::pair<std::string, std::string>> headers;
  double elapsed_s = 0;  // sending to the end (or the failure)
  bool ok() const { return error == HttpError::kNone; }
  // The first field named `name` (lower case), or "".
  std::string header(std::string_view name) const;
};

HttpResult Send(const HttpTarget& target, const HttpRequest& request);

// Closes this thread's kept connection to the target, if any.
void DropConnection(const HttpTarget& target);

// Shorthands: a GET of `path` or a POST of a JSON body, bounded by `timeout_s`
// (0: the target's). A transport failure is a Status (kDeadlineExceeded for
// the deadline, kUnavailable otherwise); any HTTP status is a result.
struct HttpResponse {
  int status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // as HttpResult's
};
StatusOr<HttpResponse> Get(const HttpTarget& target, const std::string& path, double timeout_s = 0);
StatusOr<HttpResponse> Post(const HttpTarget& target, const std::string& path,
                            const std::string& body, double timeout_s = 0);

}  // namespace radixlm::net
