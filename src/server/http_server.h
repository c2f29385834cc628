// HttpServer: serves an ApiService over HTTP/1.1, event-driven (Boost.Beast's
// parser over Boost.Asio; included by http_server.cc only).
//
// No thread per connection: `io_threads` event loops hold every connection
// (idle keep-alive ones cost a socket and a few KB) and handle small requests
// themselves (a hand-off costs more than an in-process response-cache hit);
// `threads` workers take requests with bodies over 64 KiB (long prompts to
// tokenize), flushes and embeddings. A non-streaming generation waits on no
// thread: the engine wakes its connection when there is news
// (ApiService::HandleAsync, DeferredResponse).
//
// Per connection:
//   reading     a request's header must arrive within header_timeout of its
//               first byte, its body within body_timeout; an idle keep-alive
//               connection (no request in progress) is closed after
//               idle_timeout. Over max_header_bytes or max_headers: 431; a body
//               over max_body_bytes, chunked or not: 413 (read no further); a
//               malformed request: 400; each with an OpenAI error body, then
//               the connection closes. `Expect: 100-continue` is answered.
//   pipelining  up to max_pipelined requests are read ahead and handled at
//               once; responses leave in request order.
//   streams     chunked text/event-stream (to an HTTP/1.0 client unchunked,
//               ended by closing the connection); the next events are taken only once
//               the previous write is done, so a client that stops reading
//               holds back only its own stream (no progress for write_timeout:
//               the connection is dropped).
//   disconnect  the socket is read while a request runs: a client that goes
//               away (streaming or not) cancels its requests, the engine frees
//               their pages, and the log line says `aborted`.
// Connections past max_connections are answered 503 and closed. One log line
// per request at its end (method, path, status, prompt/cached/completion
// tokens, latency).
//
// Lifecycle: Create binds and listens (backlog `backlog`; port() is then known,
// also with port 0); Run serves until Stop, which may be called from any
// thread, any number of times: it stops accepting, closes idle and
// half-received connections at once, lets responses being written finish for
// up to 2 s, then closes the rest and Run returns. The service must outlive
// the server.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/status.h"

namespace radixlm::server {

class ApiService;

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 8000;  // 0: any free port
  size_t max_body_bytes = size_t{8} << 20;
  int threads = 16;    // workers for large requests, flushes, embeddings
  int io_threads = 1;  // event loops
  int backlog = 4096;  // the listen queue (Linux caps it at net.core.somaxconn)
  size_t max_header_bytes = size_t{64} << 10;
  int max_headers = 100;
  int max_pipelined = 16;
  int64_t max_connections = 50000;
  std::chrono::milliseconds header_timeout{10000};
  std::chrono::milliseconds body_timeout{60000};
  std::chrono::milliseconds idle_timeout{60000};
  std::chrono::milliseconds write_timeout{60000};
  Status Validate() const;
};

class HttpServer {
 public:
  static StatusOr<std::unique_ptr<HttpServer>> Create(ApiService* service,
                                                      const HttpServerOptions& options);
  ~HttpServer();

  int port() const;
  // Blocks until Stop(); an error if the listener fails.
  Status Run();
  void Stop();
  // Connections open now.
  int64_t connections() const;

  struct Impl;  // http_server.cc's

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace radixlm::server
