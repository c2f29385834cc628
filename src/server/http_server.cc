// Boost.Beast glue: the only file that includes Beast and Asio.
#include "server/http_server.h"

#include <array>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstdio>
#include <deque>
#include <iterator>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_set>
#include <vector>

#include "core/logging.h"
#include "server/api_service.h"

namespace radixlm::server {
namespace {

namespace net = boost::asio;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

const char* Reason(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 413:
      return "Payload Too Large";
    case 422:
      return "Unprocessable Entity";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    default:
      return status < 300 ? "OK" : status < 500 ? "Client Error" : "Server Error";
  }
}

// The status line and headers of a response (the body follows).
std::string Head(const ApiResponse& r, bool keep_alive, bool chunked, size_t length, bool http10) {
  std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " + Reason(r.status) + "\r\n";
  out += "Content-Type: " + r.content_type + "\r\n";
  for (const auto& [key, value] : r.headers) out += key + ": " + value + "\r\n";
  // An HTTP/1.0 client knows no chunks: its stream ends when the connection does.
  if (!chunked) out += "Content-Length: " + std::to_string(length) + "\r\n";
  if (chunked && !http10) out += "Transfer-Encoding: chunked\r\n";
  if (!keep_alive) out += "Connection: close\r\n";
  if (keep_alive && http10) out += "Connection: keep-alive\r\n";
  out += "\r\n";
  return out;
}

void AppendChunk(std::string* out, const std::string& data) {
  if (data.empty()) return;
  char size[24];
  std::snprintf(size, sizeof(size), "%zx\r\n", data.size());
  *out += size;
  *out += data;
  *out += "\r\n";
}

// Handled on the event loop itself: a hand-off to a worker and back costs two
// thread wake-ups, more than a small request's whole handling (an in-process
// response-cache hit is about 0.1 ms end to end). Large bodies (long prompts to
// tokenize) and flushes (they wait for the engine's step) go to the workers.
constexpr size_t kInlineBodyBytes = size_t{64} << 10;
bool Inline(const ApiRequest& request) {
  const std::string_view path = std::string_view(request.path).substr(0, request.path.find('?'));
  if (path.find("/flush") != std::string_view::npos || path == "/v1/embeddings") return false;
  return request.body.size() <= kInlineBodyBytes;
}

ApiResponse Handle(ApiService* service, const ApiRequest& request) {
  try {
    return service->HandleAsync(request);
  } catch (const std::exception& e) {
    LOG(ERROR) << "http handler threw: " << e.what();
    return ApiService::ErrorResponse(
        ApiError::FromStatus(InternalError(std::string("Internal server error: ") + e.what())));
  }
}

}  // namespace

Status HttpServerOptions::Validate() const {
  if (port < 0 || port > 65535) return InvalidArgumentError("--port must be in [0, 65535]");
  if (threads < 1) return InvalidArgumentError("--http-threads must be at least 1");
  if (io_threads < 1 || io_threads > 256)
    return InvalidArgumentError("--http-io-threads must be in [1, 256]");
  if (max_body_bytes < 1024) return InvalidArgumentError("--max-body-bytes must be at least 1024");
  if (backlog < 1) return InvalidArgumentError("--http-backlog must be at least 1");
  if (max_header_bytes < 1024)
    return InvalidArgumentError("max_header_bytes must be at least 1024");
  if (max_headers < 1 || max_pipelined < 1)
    return InvalidArgumentError("max_headers and max_pipelined must be >= 1");
  if (max_connections < 1) return InvalidArgumentError("--max-connections must be at least 1");
  if (header_timeout.count() < 1 || body_timeout.count() < 1 || idle_timeout.count() < 1 ||
      write_timeout.count() < 1) {
    return InvalidArgumentError("HTTP timeouts must be positive");
  }
  return OkStatus();
}

class Connection;

struct HttpServer::Impl {
  ApiService* service = nullptr;
  HttpServerOptions options;
  net::io_context io;
  std::optional<net::thread_pool> workers;
  std::optional<tcp::acceptor> acceptor;
  std::optional<net::steady_timer> accept_retry;
  int port = 0;
  std::atomic<bool> stopping{false};
  std::atomic<int64_t> open{0};
  std::mutex mu;
  std::unordered_set<Connection*> connections;  // under mu
  std::vector<std::shared_ptr<Connection>> Snapshot();

  void Accept();
  void Shutdown();
  // Stops the loops once every connection is closed; past `deadline` closes
  // the rest (and, once `forced`, stops anyway).
  void WaitForClosed(Clock::time_point deadline, bool forced);
};

// One client connection. Every handler runs on the connection's strand.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(HttpServer::Impl* server, tcp::socket socket)
      : server_(server),
        opt_(server->options),
        socket_(std::move(socket)),
        strand_(socket_.get_executor()),
        read_timer_(strand_),
        write_timer_(strand_),
        tick_timer_(strand_) {
    std::lock_guard<std::mutex> lock(server_->mu);
    server_->connections.insert(this);
    server_->open.fetch_add(1);
  }
  ~Connection() {
    std::lock_guard<std::mutex> lock(server_->mu);
    server_->connections.erase(this);
    server_->open.fetch_sub(1);
  }

  void Start() {
    net::dispatch(strand_, [self = shared_from_this()] { self->ReadNext(); });
  }

  // Shutdown: what is being answered may finish; nothing more is read.
  void Close(bool force) {
    net::dispatch(strand_, [self = shared_from_this(), force] {
      self->closing_ = true;
      if (force || self->exchanges_.empty()) self->Drop(false);
    });
  }

  // A response that refuses the connection (over the limit), then close.
  void Refuse(const ApiResponse& r) {
    net::dispatch(strand_, [self = shared_from_this(), r] {
      self->closing_ = true;
      self->Answer(r, /*keep_alive=*/false);
    });
  }

 private:
  // One request from its arrival to the end of its response.
  struct Exchange {
    ApiRequest request;
    bool keep_alive = true;
    bool head = false;
    bool http10 = false;
    Clock::time_point start;
    bool handled = false;  // the service's answer (or an HTTP-layer error) is here
    bool ready = false;    // response holds the whole answer
    ApiResponse response;
    std::shared_ptr<EventStream> stream;
    std::shared_ptr<DeferredResponse> deferred;
    bool head_sent = false;
    bool done = false;  // the last bytes are written (or being written)
    bool aborted = false;
  };

  // ---- reading ----------------------------------------------------------------

  void ReadNext() {
    if (closing_ || reading_ || dropped_) return;
    if (static_cast<int>(exchanges_.size()) >= opt_.max_pipelined)
      return;  // resumed as they finish
    reading_ = true;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(opt_.max_header_bytes));
    parser_->body_limit(opt_.max_body_bytes);
    if (buffer_.size() > 0) {
      ReadHeader();
      return;
    }
    // Wait for the first byte: idle until then (no deadline while a response
    // is owed: this read only notices a client that leaves).
    waiting_idle_ = true;
    ArmIdle();
    socket_.async_wait(tcp::socket::wait_read,
                       net::bind_executor(strand_, [self = shared_from_this()](error_code ec) {
                         self->waiting_idle_ = false;
                         if (self->dropped_) return;
                         if (ec) return self->ReadFailed(ec);
                         self->ReadHeader();
                       }));
  }

  void ArmIdle() {
    if (!waiting_idle_ || !exchanges_.empty()) {
      if (waiting_idle_) read_timer_.cancel();
      return;
    }
    Arm(read_timer_, opt_.idle_timeout);
  }

  void ReadHeader() {
    Arm(read_timer_, opt_.header_timeout);
    http::async_read_header(
        socket_, buffer_, *parser_,
        net::bind_executor(
            strand_, [self = shared_from_this()](error_code ec, size_t) { self->OnHeader(ec); }));
  }

  void OnHeader(error_code ec) {
    if (ec) return ReadFailed(ec);
    const auto& req = parser_->get();
    const auto fields = static_cast<size_t>(std::distance(req.begin(), req.end()));
    if (fields > static_cast<size_t>(opt_.max_headers)) {
      return RefuseRequest(431, "The request has " + std::to_string(fields) +
                                    " header fields; the limit is " +
                                    std::to_string(opt_.max_headers) + ".");
    }
    if (parser_->content_length() && *parser_->content_length() > opt_.max_body_bytes) {
      return RefuseRequest(413, BodyTooLarge());
    }
    const auto expect = req[http::field::expect];
    if (!expect.empty() && boost::beast::iequals(expect, "100-continue") && exchanges_.empty() &&
        !writing_) {
      // The client waits for this before it sends the body.
      writing_ = true;
      static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      Arm(write_timer_, opt_.write_timeout);
      net::async_write(
          socket_, net::buffer(kContinue),
          net::bind_executor(strand_, [self = shared_from_this()](error_code wec, size_t) {
            self->writing_ = false;
            self->write_timer_.cancel();
            if (wec) return self->Drop(true);
            self->Pump();
          }));
    }
    Arm(read_timer_, opt_.body_timeout);
    http::async_read(
        socket_, buffer_, *parser_,
        net::bind_executor(
            strand_, [self = shared_from_this()](error_code rec, size_t) { self->OnBody(rec); }));
  }

  void OnBody(error_code ec) {
    read_timer_.cancel();
    reading_ = false;
    if (ec) return ReadFailed(ec);
    auto& req = parser_->get();
    auto ex = std::make_shared<Exchange>();
    ex->start = Clock::now();
    ex->request.method = std::string(req.method_string());
    ex->request.path = std::string(req.target());
    ex->request.authorization = std::string(req[http::field::authorization]);
    ex->request.body = std::move(req.body());
    ex->keep_alive = req.keep_alive();
    ex->head = req.method() == http::verb::head;
    ex->http10 = req.version() == 10;
    parser_.reset();
    exchanges_.push_back(ex);
    Dispatch(ex);
    if (ex->keep_alive) {
      ReadNext();
    } else {
      closing_ = true;  // nothing more is read; the socket is still watched
      WatchForClose();
    }
  }

  // After a last request: notice a client that leaves before its answer.
  void WatchForClose() {
    socket_.async_wait(tcp::socket::wait_read,
                       net::bind_executor(strand_, [self = shared_from_this()](error_code ec) {
                         if (self->dropped_) return;
                         error_code aec;
                         const size_t available = self->socket_.available(aec);
                         if (ec || aec || available == 0) self->Drop(true);  // end of stream
                       }));
  }

  void ReadFailed(error_code ec) {
    reading_ = false;
    read_timer_.cancel();
    if (dropped_) return;
    if (ec == http::error::header_limit) {
      return RefuseRequest(431, "The request's header is larger than the server's limit of " +
                                    std::to_string(opt_.max_header_bytes) + " bytes.");
    }
    if (ec == http::error::body_limit) return RefuseRequest(413, BodyTooLarge());
    // Beast's parse errors (not the end of the stream): a malformed request.
    const bool malformed = ec.category() == make_error_code(http::error::bad_method).category() &&
                           ec != http::error::end_of_stream && ec != http::error::partial_message;
    if (malformed)
      return RefuseRequest(400, "The HTTP request could not be parsed (" + ec.message() + ").");
    // The client left, or its time ran out: whatever it asked is abandoned.
    Drop(true);
  }

  std::string BodyTooLarge() const {
    return "The request body is larger than the server's limit of " +
           std::to_string(opt_.max_body_bytes) + " bytes (--max-body-bytes).";
  }

  // An HTTP-layer error as the answer to the request being read; then close.
  void RefuseRequest(int status, const std::string& message) {
    reading_ = false;
    read_timer_.cancel();
    parser_.reset();
    closing_ = true;
    Answer(ApiService::ErrorResponse(ApiError::Http(status, message)), /*keep_alive=*/false);
  }

  void Answer(ApiResponse r, bool keep_alive) {
    auto ex = std::make_shared<Exchange>();
    ex->start = Clock::now();
    ex->request.method = "-";
    ex->request.path = "-";
    ex->keep_alive = keep_alive;
    ex->handled = ex->ready = true;
    ex->response = std::move(r);
    exchanges_.push_back(ex);
    Pump();
  }

  // ---- handling ---------------------------------------------------------------

  void Dispatch(const std::shared_ptr<Exchange>& ex) {
    ApiService* service = server_->service;
    if (Inline(ex->request)) return OnHandled(ex, Handle(service, ex->request));
    net::post(*server_->workers, [self = shared_from_this(), ex, service] {
      ApiResponse r = Handle(service, ex->request);
      net::post(self->strand_,
                [self, ex, r = std::move(r)]() mutable { self->OnHandled(ex, std::move(r)); });
    });
  }

  void OnHandled(const std::shared_ptr<Exchange>& ex, ApiResponse r) {
    ex->handled = true;
    if (dropped_) {
      if (r.stream) r.stream->Cancel();
      if (r.deferred) r.deferred->Cancel();
      return;
    }
    std::weak_ptr<Connection> weak = weak_from_this();
    auto wake = [weak] {
      if (auto self = weak.lock()) self->Wake();
    };
    if (r.deferred) {
      ex->deferred = std::move(r.deferred);
      ex->deferred->SetWake(wake);
    } else if (r.stream) {
      if (ex->http10) ex->keep_alive = false;  // the stream's end is the connection's
      ex->stream = r.stream;
      ex->response = std::move(r);
      ex->response.stream.reset();
      ex->stream->SetWake(wake);
    } else {
      ex->response = std::move(r);
      ex->ready = true;
    }
    Pump();
  }

  // From the engine's thread: there may be news for this connection.
  void Wake() {
    if (wake_posted_.exchange(true)) return;
    net::post(strand_, [self = shared_from_this()] {
      self->wake_posted_.store(false);
      self->Pump();
    });
  }

  // ---- writing ----------------------------------------------------------------

  // Writes what the oldest exchange has ready; called whenever that may change.
  void Pump() {
    if (writing_ || dropped_ || exchanges_.empty()) return;
    Exchange& ex = *exchanges_.front();
    if (!ex.handled) return;
    std::string out;
    if (ex.deferred && !ex.ready) {
      if (!ex.deferred->Poll(&ex.response)) return;  // woken again on news
      ex.deferred->SetWake(nullptr);
      ex.ready = true;
    }
    if (ex.ready) {
      const std::string& body = ex.response.body;
      out = Head(ex.response, ex.keep_alive && !closing_after(ex), false, body.size(), ex.http10);
      if (!ex.head) out += body;
      ex.done = true;
    } else if (ex.stream) {
      std::string events;
      const bool more = ex.stream->Next(&events, std::chrono::milliseconds(0));
      if (!ex.head_sent) {
        out = Head(ex.response, ex.keep_alive && !closing_after(ex), true, 0, ex.http10);
        ex.head_sent = true;
      }
      if (!ex.head && ex.http10) out += events;
      if (!ex.head && !ex.http10) AppendChunk(&out, events);
      if (!more) {
        if (!ex.head && !ex.http10) out += "0\r\n\r\n";
        ex.stream->SetWake(nullptr);
        ex.done = true;
      }
      if (out.empty()) {
        // Woken again on news; meanwhile every 5 s, so a quiet stream (a
        // request still queued) sends its SSE keep-alive comment.
        Tick();
        return;
      }
    }
    Write(std::move(out));
  }

  // The connection ends after this exchange: a last request, or shutting down
  // with nothing read behind it.
  bool closing_after(const Exchange& ex) const {
    // (A read still waiting for a first byte holds nothing back.)
    return !ex.keep_alive || (closing_ && exchanges_.size() == 1 && (!reading_ || waiting_idle_));
  }

  void Write(std::string bytes) {
    writing_ = true;
    out_ = std::move(bytes);
    Arm(write_timer_, opt_.write_timeout);
    net::async_write(
        socket_, net::buffer(out_),
        net::bind_executor(
            strand_, [self = shared_from_this()](error_code ec, size_t) { self->OnWritten(ec); }));
  }

  void OnWritten(error_code ec) {
    writing_ = false;
    write_timer_.cancel();
    if (ec) return Drop(true);  // the client left mid-response
    Exchange& ex = *exchanges_.front();
    if (ex.done) {
      const bool last = closing_after(ex);
      Finish(ex);
      exchanges_.pop_front();
      if (last) return Linger();
      ArmIdle();
      ReadNext();  // room for more pipelined requests
    }
    Pump();
  }

  // ---- ending -----------------------------------------------------------------

  void Finish(Exchange& ex) {
    if (ex.request.method == "-" && ex.response.status < 400) return;
    server_->service->CountResponse(ex.response.status);
    // Health probes come many times a second: counted, not logged.
    if (ex.response.status == 200 && ex.request.path == "/health") return;
    const Usage usage = ex.stream     ? ex.stream->usage()
                        : ex.deferred ? ex.deferred->usage()
                                      : ex.response.usage;
    const double seconds = std::chrono::duration<double>(Clock::now() - ex.start).count();
    char latency[32];
    std::snprintf(latency, sizeof(latency), "%.3fs", seconds);
    LOG(INFO) << "http " << ex.request.method << " " << ex.request.path << " " << ex.response.status
              << (ex.aborted ? " aborted" : "") << " prompt=" << usage.prompt_tokens
              << " cached=" << usage.cached_tokens << " completion=" << usage.completion_tokens
              << " " << latency;
  }

  // Closes the socket. `abort`: the client is gone, so the requests still
  // being answered are cancelled (their pages go back at the engine's next step).
  void Drop(bool abort) {
    if (dropped_) return;
    dropped_ = true;
    for (auto& ex : exchanges_) {
      if (ex->stream) {
        ex->stream->SetWake(nullptr);
        ex->stream->Cancel();
      }
      if (ex->deferred) {
        ex->deferred->SetWake(nullptr);
        ex->deferred->Cancel();
      }
      if (abort && ex->handled && ex->request.method != "-") {
        ex->aborted = true;
        if (!ex->done || writing_) {
          ex->response.status = ex->stream ? ex->response.status : 499;
          Finish(*ex);
        }
      }
    }
    exchanges_.clear();
    CancelTimers();
    error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
  }

  // Ends a connection after its last response: closing at once with unread
  // input (a refused body) would reset it and could lose the response, so our
  // side is shut first and what still comes is read and dropped, for 2 s at
  // most.
  void Linger() {
    if (dropped_) return;
    dropped_ = true;
    CancelTimers();
    error_code ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    if (ec) {
      socket_.close(ec);
      return;
    }
    read_timer_.expires_after(std::chrono::seconds(2));
    read_timer_.async_wait(net::bind_executor(strand_, [self = shared_from_this()](error_code wec) {
      if (wec) return;
      error_code cec;
      self->socket_.close(cec);
    }));
    Discard();
  }

  void Discard() {
    socket_.async_read_some(
        net::buffer(discard_),
        net::bind_executor(strand_, [self = shared_from_this()](error_code ec, size_t) {
          if (!ec) return self->Discard();
          self->read_timer_.cancel();
          error_code cec;
          self->socket_.close(cec);
        }));
  }

  void CancelTimers() {
    read_timer_.cancel();
    write_timer_.cancel();
    tick_timer_.cancel();
  }

  void Tick() {
    if (ticking_) return;
    ticking_ = true;
    tick_timer_.expires_after(std::chrono::seconds(5));
    tick_timer_.async_wait(net::bind_executor(strand_, [self = shared_from_this()](error_code ec) {
      self->ticking_ = false;
      if (!ec && !self->dropped_) self->Pump();
    }));
  }

  void Arm(net::steady_timer& timer, std::chrono::milliseconds after) {
    timer.expires_after(after);
    timer.async_wait(
        net::bind_executor(strand_, [self = shared_from_this(), &timer](error_code ec) {
          if (ec || timer.expiry() > Clock::now()) return;  // cancelled or re-armed
          self->Drop(true);
        }));
  }

  HttpServer::Impl* server_;
  const HttpServerOptions& opt_;
  tcp::socket socket_;
  net::strand<net::any_io_executor> strand_;
  net::steady_timer read_timer_;
  net::steady_timer write_timer_;
  net::steady_timer tick_timer_;
  bool ticking_ = false;
  boost::beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::deque<std::shared_ptr<Exchange>> exchanges_;
  std::string out_;
  std::array<char, 4096> discard_;
  std::atomic<bool> wake_posted_{false};
  bool reading_ = false;
  bool waiting_idle_ = false;
  bool writing_ = false;
  bool closing_ = false;
  bool dropped_ = false;
};

std::vector<std::shared_ptr<Connection>> HttpServer::Impl::Snapshot() {
  std::vector<std::shared_ptr<Connection>> out;
  std::lock_guard<std::mutex> lock(mu);
  for (Connection* c : connections) {
    if (auto p = c->weak_from_this().lock()) out.push_back(std::move(p));
  }
  return out;
}

void HttpServer::Impl::Accept() {
  acceptor->async_accept(net::make_strand(io), [this](error_code ec, tcp::socket socket) {
    if (stopping.load()) return;
    if (ec) {
      // Out of descriptors (or a transient error): try again shortly, not in a spin.
      if (ec != net::error::operation_aborted) {
        LOG(WARNING) << "accept: " << ec.message();
        accept_retry->expires_after(std::chrono::milliseconds(50));
        accept_retry->async_wait([this](error_code wec) {
          if (!wec && !stopping.load()) Accept();
        });
      }
      return;
    }
    error_code oec;
    socket.set_option(tcp::no_delay(true), oec);  // stream chunks leave at once
    auto connection = std::make_shared<Connection>(this, std::move(socket));
    if (open.load() > options.max_connections) {
      connection->Refuse(ApiService::ErrorResponse(ApiError::FromStatus(
          Status(StatusCode::kUnavailable, "The server holds its limit of " +
                                               std::to_string(options.max_connections) +
                                               " connections (--max-connections); retry later."))));
    } else {
      connection->Start();
    }
    Accept();
  });
}

void HttpServer::Impl::Shutdown() {
  error_code ec;
  acceptor->close(ec);
  accept_retry->cancel();
  for (auto& c : Snapshot()) c->Close(false);
  // Responses still being written get 2 s; then everything closes.
  WaitForClosed(Clock::now() + std::chrono::seconds(2), false);
}

void HttpServer::Impl::WaitForClosed(Clock::time_point deadline, bool forced) {
  if (open.load() == 0) {
    io.stop();
    return;
  }
  if (Clock::now() >= deadline) {
    if (forced) {
      io.stop();
      return;
    }
    for (auto& c : Snapshot()) c->Close(true);
    deadline = Clock::now() + std::chrono::milliseconds(200);
    forced = true;
  }
  auto timer = std::make_shared<net::steady_timer>(io, std::chrono::milliseconds(20));
  timer->async_wait(
      [this, timer, deadline, forced](error_code) { WaitForClosed(deadline, forced); });
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() {
  Stop();
  if (impl_->workers) impl_->workers->join();
}

StatusOr<std::unique_ptr<HttpServer>> HttpServer::Create(ApiService* service,
                                                         const HttpServerOptions& options) {
  RETURN_IF_ERROR(options.Validate());
  auto impl = std::make_unique<Impl>();
  impl->service = service;
  impl->options = options;
  impl->workers.emplace(static_cast<size_t>(options.threads));
  impl->accept_retry.emplace(impl->io);
  error_code ec;
  const auto address =
      net::ip::make_address(options.host == "localhost" ? "127.0.0.1" : options.host, ec);
  if (ec) return InvalidArgumentError("--host " + options.host + " is not an IP address");
  const tcp::endpoint endpoint(address, static_cast<unsigned short>(options.port));
  tcp::acceptor& a = impl->acceptor.emplace(impl->io);
  a.open(endpoint.protocol(), ec);
  if (!ec) a.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(endpoint, ec);
  if (ec) {
    return Status(StatusCode::kUnavailable, "cannot bind " + options.host + ":" +
                                                std::to_string(options.port) + " (" + ec.message() +
                                                ")");
  }
  a.listen(options.backlog, ec);
  if (ec)
    return Status(StatusCode::kUnavailable,
                  "cannot listen on " + options.host + ": " + ec.message());
  impl->port = a.local_endpoint().port();
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

int HttpServer::port() const { return impl_->port; }
int64_t HttpServer::connections() const { return impl_->open.load(); }

Status HttpServer::Run() {
  if (impl_->stopping.load()) return OkStatus();
  impl_->Accept();
  std::vector<std::thread> loops;
  for (int i = 1; i < impl_->options.io_threads; ++i)
    loops.emplace_back([this] { impl_->io.run(); });
  impl_->io.run();
  for (auto& t : loops) t.join();
  return OkStatus();
}

void HttpServer::Stop() {
  if (!impl_ || impl_->stopping.exchange(true)) return;
  net::post(impl_->io, [impl = impl_.get()] { impl->Shutdown(); });
}

}  // namespace radixlm::server
