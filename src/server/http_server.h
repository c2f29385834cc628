// HttpServer: serves an ApiService over HTTP/1.1 with cpp-httplib (included by
// http_server.cc only).
//
// Every method and path goes to ApiService::Handle; the server adds what only
// the HTTP layer knows: bodies over max_body_bytes are refused with 413, a
// malformed request line with 400 (both as OpenAI error bodies), streams are
// written as chunked text/event-stream (a failed write means the client left:
// the stream is cancelled), and one log line is written per request at its end
// (method, path, status, prompt/cached/completion tokens, latency).
//
// Threads: `threads` workers (cpp-httplib's task queue); a streaming request
// holds one for its whole duration, and so does an idle keep-alive connection
// for up to 5 s.
//
// Lifecycle: Create binds the socket (port() is then known, also with port 0);
// Run serves until Stop, which may be called from any thread. The service must
// outlive the server.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "core/status.h"

namespace radixlm::server {

class ApiService;

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 8000;  // 0: any free port
  size_t max_body_bytes = size_t{8} << 20;
  int threads = 64;
  Status Validate() const;
};

class HttpServer {
 public:
  static StatusOr<std::unique_ptr<HttpServer>> Create(ApiService* service, const HttpServerOptions& options);
  ~HttpServer();

  int port() const;
  // Blocks until Stop(); an error if the listener fails.
  Status Run();
  void Stop();

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace radixlm::server
