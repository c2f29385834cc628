// cpp-httplib glue: the only file that includes httplib.h.
#include "server/http_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdio>

#include "core/logging.h"
#include "server/api_service.h"

namespace radixlm::server {
namespace {

// The listen queue. Debian's cpp-httplib is a compiled library that listens
// with a backlog of 5, which resets connections arriving together (hundreds of
// streams starting at once); listen() on the bound socket again sets this one
// (Linux caps it at net.core.somaxconn, 4,096 by default).
constexpr int kListenBacklog = 4096;

// What the log line needs from a request, kept per HTTP thread: cpp-httplib
// routes, writes and logs one request entirely on one thread.
struct RequestLog {
  std::chrono::steady_clock::time_point start;
  bool started = false;
  Usage usage;
  std::shared_ptr<EventStream> stream;
};
thread_local RequestLog t_log;

void SetJson(httplib::Response& res, const ApiResponse& r) {
  res.status = r.status;
  for (const auto& [key, value] : r.headers) res.set_header(key, value);
  res.set_content(r.body, r.content_type);
}

}  // namespace

Status HttpServerOptions::Validate() const {
  if (port < 0 || port > 65535) return InvalidArgumentError("--port must be in [0, 65535]");
  if (threads < 1) return InvalidArgumentError("--http-threads must be at least 1");
  if (max_body_bytes < 1024) return InvalidArgumentError("--max-body-bytes must be at least 1024");
  return OkStatus();
}

struct HttpServer::Impl {
  ApiService* service = nullptr;
  HttpServerOptions options;
  httplib::Server server;
  int port = 0;
  int listen_socket = -1;

  void Serve(const httplib::Request& req, httplib::Response& res) {
    ApiRequest request{req.method, req.path, req.body, req.get_header_value("Authorization")};
    ApiResponse r = service->Handle(request);
    if (!r.stream) {
      t_log.usage = r.usage;
      SetJson(res, r);
      return;
    }
    res.status = r.status;
    for (const auto& [key, value] : r.headers) res.set_header(key, value);
    std::shared_ptr<EventStream> stream = r.stream;
    t_log.stream = stream;
    res.set_chunked_content_provider(
        r.content_type,
        [stream](size_t, httplib::DataSink& sink) {
          std::string out;
          const bool more = stream->Next(&out, std::chrono::milliseconds(200));
          // Never an empty write: cpp-httplib takes it as the end of the data.
          if (!out.empty() && !sink.write(out.data(), out.size())) {
            stream->Cancel();
            return false;
          }
          if (!more) sink.done();
          return true;
        },
        [stream](bool success) {
          if (!success) stream->Cancel();
        });
  }

  void Log(const httplib::Request& req, const httplib::Response& res) {
    service->CountResponse(res.status);
    const Usage usage = t_log.stream ? t_log.stream->usage() : t_log.usage;
    const double seconds =
        t_log.started ? std::chrono::duration<double>(std::chrono::steady_clock::now() - t_log.start).count() : 0.0;
    char latency[32];
    std::snprintf(latency, sizeof(latency), "%.3fs", seconds);
    LOG(INFO) << "http " << req.method << " " << req.path << " " << res.status << " prompt=" << usage.prompt_tokens
              << " cached=" << usage.cached_tokens << " completion=" << usage.completion_tokens << " " << latency;
    t_log = RequestLog{};
  }
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpServer::~HttpServer() { Stop(); }

StatusOr<std::unique_ptr<HttpServer>> HttpServer::Create(ApiService* service, const HttpServerOptions& options) {
  RETURN_IF_ERROR(options.Validate());
  auto impl = std::make_unique<Impl>();
  impl->service = service;
  impl->options = options;
  Impl* p = impl.get();
  httplib::Server& s = impl->server;
  const size_t threads = static_cast<size_t>(options.threads);
  s.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  s.set_payload_max_length(options.max_body_bytes);
  s.set_tcp_nodelay(true);  // stream chunks leave at once
  // The listening socket passes through here before it is bound (the last one
  // made is the one bound): remember it, so its backlog can be raised.
  s.set_socket_options([p](socket_t sock) {
    httplib::default_socket_options(sock);
    p->listen_socket = sock;
  });
  s.set_keep_alive_max_count(1000);
  // An idle keep-alive connection holds a worker, and shutdown waits for it: 2 s.
  s.set_keep_alive_timeout(2);
  s.set_pre_routing_handler([](const httplib::Request&, httplib::Response&) {
    t_log = RequestLog{};
    t_log.start = std::chrono::steady_clock::now();
    t_log.started = true;
    return httplib::Server::HandlerResponse::Unhandled;
  });
  auto handler = [p](const httplib::Request& req, httplib::Response& res) { p->Serve(req, res); };
  s.Get(".*", handler);
  s.Post(".*", handler);
  s.Put(".*", handler);
  s.Patch(".*", handler);
  s.Delete(".*", handler);
  s.Options(".*", handler);
  // Statuses cpp-httplib sets itself (413 over the body limit, 400 for a bad
  // request line) get OpenAI error bodies; ours already have one.
  const size_t max_body = options.max_body_bytes;
  s.set_error_handler(httplib::Server::HandlerWithResponse([max_body](const httplib::Request&,
                                                                        httplib::Response& res) {
    if (!res.body.empty() || res.is_chunked_content_provider_) return httplib::Server::HandlerResponse::Unhandled;
    ApiError e = res.status == 413 ? ApiError::Http(413, "The request body is larger than the server's limit of " +
                                                              std::to_string(max_body) + " bytes (--max-body-bytes).")
                                   : ApiError::Http(res.status, "The HTTP request could not be processed.");
    SetJson(res, ApiService::ErrorResponse(e));
    return httplib::Server::HandlerResponse::Handled;
  }));
  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    LOG(ERROR) << "http handler threw: " << what;
    SetJson(res, ApiService::ErrorResponse(ApiError::FromStatus(InternalError("Internal server error: " + what))));
  });
  s.set_logger([p](const httplib::Request& req, const httplib::Response& res) { p->Log(req, res); });

  if (options.port == 0) {
    impl->port = s.bind_to_any_port(options.host);
    if (impl->port < 0) return Status(StatusCode::kUnavailable, "cannot bind " + options.host + " on any port");
  } else {
    if (!s.bind_to_port(options.host, options.port)) {
      return Status(StatusCode::kUnavailable,
                    "cannot bind " + options.host + ":" + std::to_string(options.port) + " (in use, or no permission)");
    }
    impl->port = options.port;
  }
  if (impl->listen_socket >= 0 && ::listen(impl->listen_socket, kListenBacklog) != 0) {
    LOG(WARNING) << "could not raise the listen backlog to " << kListenBacklog;
  }
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

int HttpServer::port() const { return impl_->port; }

Status HttpServer::Run() {
  if (!impl_->server.listen_after_bind()) return InternalError("the HTTP listener stopped with an error");
  return OkStatus();
}

void HttpServer::Stop() {
  if (impl_) impl_->server.stop();
}

}  // namespace radixlm::server
