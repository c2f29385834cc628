// Boost.Beast glue and the request relay; the only router file that includes
// Beast and Asio.
#include "router/router.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

#include "core/logging.h"
#include "net/http_client.h"
#include "router/block_index.h"
#include "router/event_subscriber.h"
#include "router/prompt_key.h"

namespace radixlm::router {

namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

// Whether the peer of `fd` has closed or reset its side (it will not read an
// answer). A request the client pipelined behind this one is not a close.
bool PeerClosed(int fd) {
  pollfd p{fd, POLLRDHUP, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

std::string ErrorJson(const std::string& message, const std::string& type) {
  std::string escaped;
  for (char c : message) {
    if (c == '"' || c == '\\') escaped += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    escaped += c;
  }
  return R"({"error":{"message":")" + escaped + R"(","type":")" + type +
         R"(","param":null,"code":null}})";
}

// The first "cached_tokens":N in a response body or stream piece (usage), or -1.
int64_t ReportedCachedTokens(std::string_view text) {
  const std::string_view key = "\"cached_tokens\":";
  const size_t at = text.rfind(key);
  if (at == std::string_view::npos) return -1;
  size_t i = at + key.size();
  while (i < text.size() && text[i] == ' ') ++i;
  int64_t v = 0;
  bool any = false;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    v = v * 10 + (text[i] - '0');
    any = true;
    ++i;
  }
  return any ? v : -1;
}

struct Replica {
  ReplicaOptions options;
  net::HttpTarget target;
  std::atomic<bool> healthy{true};
  std::atomic<bool> draining{false};  // POST /router/drain: no new requests
  std::atomic<int64_t> in_flight{0};
  std::atomic<int64_t> routed{0};
  std::atomic<int64_t> retried_away{0};  // requests that failed here and went elsewhere
  std::atomic<int64_t> predicted_cached_tokens{0};
  std::atomic<int64_t> reported_cached_tokens{0};
  std::unique_ptr<EventSubscriber> subscriber;
};

}  // namespace

Status RouterOptions::Validate() const {
  if (replicas.empty()) return InvalidArgumentError("give at least one --replica URL");
  if (replicas.size() > static_cast<size_t>(kMaxReplicas)) {
    return InvalidArgumentError("at most " + std::to_string(kMaxReplicas) + " replicas");
  }
  const bool events = !replicas[0].events.empty();
  for (const ReplicaOptions& r : replicas) {
    if (!r.events.empty() == events) continue;
    return InvalidArgumentError("give --replica-events for every replica or for none");
  }
  if (model_dir.empty())
    return InvalidArgumentError("--model DIR (the replicas' model) is required");
  if (page_size < 1) return InvalidArgumentError("--page-size must be >= 1");
  if (health_interval_s <= 0) return InvalidArgumentError("--health-interval must be > 0");
  if (upstream_timeout_s <= 0) return InvalidArgumentError("--upstream-timeout must be > 0");
  for (const auto& [medium, weight] : medium_weights) {
    if (medium.empty() || !(weight >= 0 && weight <= 1)) {
      return InvalidArgumentError("--medium-weight " + medium + "=" + std::to_string(weight) +
                                  ": a medium name and a weight from 0 to 1");
    }
  }
  return OkStatus();
}

struct Router::Impl {
  RouterOptions options;
  std::unique_ptr<PromptKeyer> keyer;
  std::unique_ptr<BlockIndex> index;
  std::vector<std::unique_ptr<Replica>> replicas;
  bool approximate = true;
  std::mutex pick_mu;
  uint64_t next_round_robin = 0;  // guarded by pick_mu
  std::atomic<int64_t> decisions{0};
  std::atomic<int64_t> decision_ns{0};
  std::atomic<int64_t> decision_ns_max{0};
  std::atomic<int64_t> key_ns{0};
  std::atomic<int64_t> unkeyed{0};    // requests routed without a prompt key
  std::atomic<int64_t> failed{0};     // requests answered with the router's own 502/503
  std::atomic<int64_t> cancelled{0};  // requests whose client left before the answer

  asio::io_context io;
  std::unique_ptr<tcp::acceptor> acceptor;
  int port = 0;
  std::atomic<bool> stopping{false};
  std::atomic<int> connections{0};
  std::thread health;
  std::mutex health_mu;
  std::condition_variable health_cv;

  void MarkDown(int r, const std::string& why) {
    if (replicas[r]->healthy.exchange(false)) {
      LOG(WARNING) << "router: replica " << replicas[r]->options.url << " down: " << why;
      index->Clear(r);  // its cache is gone or unknown: forget its blocks
    }
  }

  void HealthLoop() {
    while (!stopping.load()) {
      for (size_t r = 0; r < replicas.size(); ++r) {
        auto got = net::Get(replicas[r]->target, "/health", 1.0);
        if (got.ok() && got->status == 200) {
          if (!replicas[r]->healthy.exchange(true)) {
            LOG(INFO) << "router: replica " << replicas[r]->options.url << " up";
          }
        } else {
          MarkDown(static_cast<int>(r),
                   got.ok() ? "health " + std::to_string(got->status) : got.status().message());
        }
      }
      std::unique_lock lock(health_mu);
      health_cv.wait_for(lock, std::chrono::duration<double>(options.health_interval_s),
                         [&] { return stopping.load(); });
    }
  }

  // Picks a replica not in `tried`; -1 when none is healthy.
  int Pick(const PromptKey* key, uint64_t tried) {
    const auto start = SteadyClock::now();
    const int n = static_cast<int>(replicas.size());
    int matched[kMaxReplicas] = {};
    double weighted[kMaxReplicas] = {};
    if (key != nullptr) index->Match(key->hashes, std::span(matched, n), std::span(weighted, n));
    ReplicaLoad loads[kMaxReplicas];
    int chosen;
    {
      std::lock_guard lock(pick_mu);
      for (int i = 0; i < n; ++i) {
        loads[i].healthy = replicas[i]->healthy.load() && !replicas[i]->draining.load() &&
                           (tried & (uint64_t{1} << i)) == 0;
        loads[i].in_flight = replicas[i]->in_flight.load();
        loads[i].routed = replicas[i]->routed.load();
      }
      if (options.policy.round_robin) {
        chosen = -1;
        for (int k = 0; k < n && chosen < 0; ++k) {
          const int i = static_cast<int>((next_round_robin + k) % n);
          if (loads[i].healthy) chosen = i;
        }
        if (chosen >= 0) next_round_robin = chosen + 1;
      } else {
        chosen = ChooseReplica(std::span(loads, n), std::span(weighted, n), options.policy);
      }
      if (chosen >= 0) {
        replicas[chosen]->in_flight.fetch_add(1);
        replicas[chosen]->routed.fetch_add(1);
      }
    }
    const int64_t ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now() - start).count();
    decisions.fetch_add(1);
    decision_ns.fetch_add(ns);
    int64_t prev = decision_ns_max.load();
    while (ns > prev && !decision_ns_max.compare_exchange_weak(prev, ns)) {
    }
    if (chosen >= 0 && key != nullptr) {
      replicas[chosen]->predicted_cached_tokens.fetch_add(int64_t{matched[chosen]} *
                                                          options.page_size);
      if (approximate) index->Record(chosen, key->hashes);
    }
    return chosen;
  }

  std::string Metrics() const {
    std::string out;
    auto line = [&](const std::string& name, const std::string& labels, double v) {
      char buf[64];
      std::snprintf(buf, sizeof(buf), "%.17g", v);
      out += name + (labels.empty() ? "" : "{" + labels + "}") + " " + buf + "\n";
    };
    out += "# TYPE radixlm_router_requests_total counter\n";
    for (const auto& r : replicas) {
      line("radixlm_router_requests_total", "replica=\"" + r->options.url + "\"",
           static_cast<double>(r->routed.load()));
    }
    out += "# TYPE radixlm_router_in_flight gauge\n";
    for (const auto& r : replicas) {
      line("radixlm_router_in_flight", "replica=\"" + r->options.url + "\"",
           static_cast<double>(r->in_flight.load()));
    }
    out += "# TYPE radixlm_router_replica_healthy gauge\n";
    for (const auto& r : replicas) {
      line("radixlm_router_replica_healthy", "replica=\"" + r->options.url + "\"",
           r->healthy.load() ? 1 : 0);
    }
    out += "# TYPE radixlm_router_replica_draining gauge\n";
    for (const auto& r : replicas) {
      line("radixlm_router_replica_draining", "replica=\"" + r->options.url + "\"",
           r->draining.load() ? 1 : 0);
    }
    out += "# TYPE radixlm_router_retried_away_total counter\n";
    for (const auto& r : replicas) {
      line("radixlm_router_retried_away_total", "replica=\"" + r->options.url + "\"",
           static_cast<double>(r->retried_away.load()));
    }
    out += "# TYPE radixlm_router_indexed_blocks gauge\n";
    for (size_t i = 0; i < replicas.size(); ++i) {
      line("radixlm_router_indexed_blocks", "replica=\"" + replicas[i]->options.url + "\"",
           static_cast<double>(index->blocks(static_cast<int>(i))));
    }
    // By medium (the replicas' device pools and the tiers below: block_index.h),
    // each medium once some replica reported a block there.
    out += "# TYPE radixlm_router_indexed_blocks_by_medium gauge\n";
    const std::vector<std::string> mediums = index->mediums();
    for (size_t m = 1; m < mediums.size(); ++m) {
      for (size_t i = 0; i < replicas.size(); ++i) {
        line("radixlm_router_indexed_blocks_by_medium",
             "replica=\"" + replicas[i]->options.url + "\",medium=\"" + mediums[m] + "\"",
             static_cast<double>(index->blocks(static_cast<int>(i), static_cast<int>(m))));
      }
    }
    out += "# TYPE radixlm_router_predicted_cached_tokens_total counter\n";
    for (const auto& r : replicas) {
      line("radixlm_router_predicted_cached_tokens_total", "replica=\"" + r->options.url + "\"",
           static_cast<double>(r->predicted_cached_tokens.load()));
    }
    out += "# TYPE radixlm_router_reported_cached_tokens_total counter\n";
    for (const auto& r : replicas) {
      line("radixlm_router_reported_cached_tokens_total", "replica=\"" + r->options.url + "\"",
           static_cast<double>(r->reported_cached_tokens.load()));
    }
    if (!approximate) {
      out += "# TYPE radixlm_router_event_batches_total counter\n";
      for (const auto& r : replicas) {
        line("radixlm_router_event_batches_total", "replica=\"" + r->options.url + "\"",
             static_cast<double>(r->subscriber->stats().batches));
      }
    }
    out += "# TYPE radixlm_router_decision_seconds summary\n";
    line("radixlm_router_decision_seconds_sum", "", decision_ns.load() * 1e-9);
    line("radixlm_router_decision_seconds_count", "", static_cast<double>(decisions.load()));
    line("radixlm_router_decision_seconds_max", "", decision_ns_max.load() * 1e-9);
    line("radixlm_router_prompt_key_seconds_sum", "", key_ns.load() * 1e-9);
    line("radixlm_router_unkeyed_requests_total", "", static_cast<double>(unkeyed.load()));
    line("radixlm_router_failed_requests_total", "", static_cast<double>(failed.load()));
    line("radixlm_router_cancelled_requests_total", "", static_cast<double>(cancelled.load()));
    line("radixlm_router_approximate", "", approximate ? 1 : 0);
    return out;
  }

  // Writes a whole response; false when the client is gone.
  static bool Reply(tcp::socket& socket, int status, std::string_view content_type,
                    std::string body, bool keep_alive) {
    http::response<http::string_body> res{static_cast<http::status>(status), 11};
    res.set(http::field::content_type, std::string(content_type));
    res.keep_alive(keep_alive);
    res.body() = std::move(body);
    res.prepare_payload();
    boost::system::error_code ec;
    http::write(socket, res, ec);
    return !ec;
  }

  // Relays one request to replicas (fail-over included). Returns whether the
  // connection stays open.
  bool Relay(tcp::socket& socket, const http::request<http::string_body>& req,
             const std::string& path, const PromptKey* key) {
    const bool keep_alive = req.keep_alive();
    net::HttpRequest up;
    up.method = req.method() == http::verb::get ? "GET" : "POST";
    up.path = std::string(req.target());
    up.body = req.body();
    if (auto ct = req.find(http::field::content_type); ct != req.end()) {
      up.content_type = std::string(ct->value());
    }
    if (auto auth = req.find(http::field::authorization); auth != req.end()) {
      up.headers.emplace_back("Authorization", std::string(auth->value()));
    }
    // A request the router could not parse is not streamed: the replica refuses
    // it too, and its error body is relayed whole.
    const bool stream = key != nullptr && key->stream;
    uint64_t tried = 0;
    std::string last_error = "no healthy replica";
    for (size_t attempt = 0; attempt < replicas.size(); ++attempt) {
      const int r = Pick(key, tried);
      if (r < 0) break;
      Replica& replica = *replicas[r];
      tried |= uint64_t{1} << r;
      up.deadline =
          SteadyClock::now() + std::chrono::duration_cast<SteadyClock::duration>(
                                   std::chrono::duration<double>(options.upstream_timeout_s));
      bool started = false;
      bool client_gone = false;
      int64_t reported = -1;
      http::response<http::empty_body> head{http::status::ok, 11};
      http::response_serializer<http::empty_body> serializer{head};
      up.on_data = nullptr;
      up.keep_going = nullptr;
      if (!stream) {
        // A client that leaves before its answer stops the replica's work: the
        // upstream connection closes, and the replica frees the request's pages.
        up.keep_going = [&socket, &client_gone] {
          client_gone = PeerClosed(socket.native_handle());
          return !client_gone;
        };
      }
      if (stream) {
        up.on_data = [&](std::string_view piece) {
          boost::system::error_code ec;
          if (!started) {
            started = true;
            head.set(http::field::content_type, "text/event-stream");
            head.set(http::field::cache_control, "no-cache");
            head.keep_alive(keep_alive);
            head.chunked(true);
            http::write_header(socket, serializer, ec);
          }
          if (!ec && !piece.empty()) asio::write(socket, http::make_chunk(asio::buffer(piece)), ec);
          if (ec) {
            client_gone = true;
            return false;
          }
          if (int64_t c = ReportedCachedTokens(piece); c >= 0) reported = c;
          return true;
        };
      }
      net::HttpResult result = net::Send(replica.target, up);
      replica.in_flight.fetch_sub(1);
      if (reported < 0 && !started) reported = ReportedCachedTokens(result.body);
      if (reported > 0) replica.reported_cached_tokens.fetch_add(reported);
      if (client_gone) {
        cancelled.fetch_add(1);
        return false;
      }
      if (result.ok()) {
        if (started) {
          boost::system::error_code ec;
          asio::write(socket, http::make_chunk_last(), ec);
          return !ec && keep_alive;
        }
        if (result.status == 503 && attempt + 1 < replicas.size()) {
          // Overloaded or draining: another replica may take it.
          replica.retried_away.fetch_add(1);
          last_error = "replica " + replica.options.url + " answered 503";
          continue;
        }
        std::string content_type = result.header("content-type");
        if (content_type.empty()) content_type = "application/json";
        return Reply(socket, result.status, content_type, std::move(result.body), keep_alive) &&
               keep_alive;
      }
      last_error = result.message;
      if (started) {
        // Bytes were relayed: a retry would repeat them. End the stream cleanly.
        boost::system::error_code ec;
        const std::string event =
            "data: " +
            ErrorJson("replica " + replica.options.url + " failed mid-stream: " + result.message,
                      "server_error") +
            "\n\n";
        asio::write(socket, http::make_chunk(asio::buffer(event)), ec);
        if (!ec) asio::write(socket, http::make_chunk_last(), ec);
        failed.fetch_add(1);
        return false;
      }
      if (result.error == net::HttpError::kTimeout) {
        failed.fetch_add(1);
        return Reply(socket, 504, "application/json",
                     ErrorJson("replica " + replica.options.url + " timed out", "server_error"),
                     keep_alive) &&
               keep_alive;
      }
      // Nothing relayed: the replica failed before answering; try another.
      net::DropConnection(replica.target);
      replica.retried_away.fetch_add(1);
      MarkDown(r, result.message);
    }
    failed.fetch_add(1);
    return Reply(socket, tried == 0 ? 503 : 502, "application/json",
                 ErrorJson("no replica could serve the request: " + last_error, "server_error"),
                 keep_alive) &&
           keep_alive;
  }

  // POST /router/drain or /router/undrain {"replica": URL}, with the admin key.
  bool Drain(tcp::socket& socket, const http::request<http::string_body>& req, bool drain) {
    const bool keep_alive = req.keep_alive();
    auto auth = req.find(http::field::authorization);
    if (options.admin_key.empty() || auth == req.end() ||
        std::string_view(auth->value().data(), auth->value().size()) !=
            "Bearer " + options.admin_key) {
      return Reply(socket, 401, "application/json",
                   ErrorJson(options.admin_key.empty()
                                 ? "Draining needs the router started with --admin-key."
                                 : "Draining needs the admin key (Authorization: Bearer KEY).",
                             "invalid_request_error"),
                   keep_alive);
    }
    for (auto& r : replicas) {
      const std::string quoted = "\"" + r->options.url + "\"";
      if (req.body().find(quoted) == std::string::npos) continue;
      r->draining.store(drain);
      LOG(INFO) << "router: replica " << r->options.url << (drain ? " draining" : " undrained");
      return Reply(socket, 200, "application/json",
                   "{\"replica\":" + quoted + ",\"draining\":" + (drain ? "true" : "false") +
                       ",\"in_flight\":" + std::to_string(r->in_flight.load()) + "}",
                   keep_alive);
    }
    return Reply(socket, 404, "application/json",
                 ErrorJson("No replica named in the body ({\"replica\": \"http://HOST:PORT\"} as "
                           "given to --replica).",
                           "invalid_request_error"),
                 keep_alive);
  }

  bool Handle(tcp::socket& socket, const http::request<http::string_body>& req) {
    std::string path(req.target());
    if (size_t q = path.find('?'); q != std::string::npos) path.resize(q);
    const bool keep_alive = req.keep_alive();
    if (path == "/health") {
      bool any = false;
      for (const auto& r : replicas) any = any || r->healthy.load();
      return Reply(socket, any ? 200 : 503, "application/json",
                   any ? R"({"status":"ok"})" : R"({"status":"no healthy replica"})", keep_alive) &&
             keep_alive;
    }
    if (req.method() == http::verb::post &&
        (path == "/router/drain" || path == "/router/undrain")) {
      return Drain(socket, req, path == "/router/drain") && keep_alive;
    }
    if (path == "/metrics") {
      return Reply(socket, 200, "text/plain; version=0.0.4", Metrics(), keep_alive) && keep_alive;
    }
    if (req.method() == http::verb::get && path == "/v1/models") {
      return Relay(socket, req, path, nullptr);
    }
    if (req.method() == http::verb::post &&
        (path == "/v1/completions" || path == "/v1/chat/completions" || path == "/v1/embeddings")) {
      std::string_view auth;
      if (auto it = req.find(http::field::authorization); it != req.end()) {
        auth = std::string_view(it->value().data(), it->value().size());
      }
      const auto start = SteadyClock::now();
      auto key = keyer->Key(path, req.body(), auth);
      key_ns.fetch_add(
          std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now() - start).count());
      if (!key.ok()) unkeyed.fetch_add(1);  // the replica gives its own error
      return Relay(socket, req, path, key.ok() ? &*key : nullptr);
    }
    return Reply(socket, 404, "application/json",
                 ErrorJson("Unknown route " + std::string(req.method_string()) + " " + path +
                               " (the router serves /v1/completions, /v1/chat/completions, "
                               "/v1/embeddings, /v1/models, /health, /metrics)",
                           "invalid_request_error"),
                 keep_alive) &&
           keep_alive;
  }

  void Serve(tcp::socket socket) {
    // An idle keep-alive client holds its thread for at most 60 s.
    timeval tv{60, 0};
    setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    // Relayed stream chunks are small writes: without this, Nagle's algorithm and
    // the client's delayed ACK hold some of them back ~40 ms (measured: p99 TTFT
    // +40 ms through the router).
    boost::system::error_code nodelay_ec;
    socket.set_option(tcp::no_delay(true), nodelay_ec);
    boost::beast::flat_buffer buffer;
    while (!stopping.load()) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(size_t{64} << 20);
      boost::system::error_code ec;
      http::read(socket, buffer, parser, ec);
      if (ec) break;
      if (!Handle(socket, parser.get())) break;
    }
    boost::system::error_code ignored;
    socket.shutdown(tcp::socket::shutdown_both, ignored);
  }
};

Router::Router(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

Router::~Router() {
  Stop();
  if (impl_->health.joinable()) impl_->health.join();
  // Connection threads still running share impl_ (the last one frees it); each
  // ends by its upstream deadline or its client's read timeout.
}

int Router::port() const { return impl_->port; }
bool Router::approximate() const { return impl_->approximate; }

StatusOr<std::unique_ptr<Router>> Router::Create(const RouterOptions& options) {
  RETURN_IF_ERROR(options.Validate());
  auto impl = std::make_shared<Impl>();
  impl->options = options;
  ASSIGN_OR_RETURN(impl->keyer,
                   PromptKeyer::Create(options.model_dir, options.page_size, options.tenant_keys));
  const int n = static_cast<int>(options.replicas.size());
  impl->index =
      std::make_unique<BlockIndex>(n, options.approx_capacity_blocks, options.medium_weights);
  impl->approximate = options.replicas[0].events.empty();
  for (int i = 0; i < n; ++i) {
    auto replica = std::make_unique<Replica>();
    replica->options = options.replicas[i];
    auto target = net::ParseBaseUrl(options.replicas[i].url);
    if (!target.ok()) {
      return InvalidArgumentError("--replica " + options.replicas[i].url + ": " +
                                  target.status().message());
    }
    replica->target = *target;
    replica->target.timeout_s = options.upstream_timeout_s;
    if (!impl->approximate) {
      EventSubscriberOptions so;
      so.endpoint = options.replicas[i].events;
      so.replay_endpoint = options.replicas[i].replay;
      so.replica = i;
      ASSIGN_OR_RETURN(replica->subscriber, EventSubscriber::Create(so, impl->index.get()));
    }
    impl->replicas.push_back(std::move(replica));
  }
  try {
    const auto address = asio::ip::make_address(options.host);
    impl->acceptor = std::make_unique<tcp::acceptor>(impl->io);
    tcp::endpoint endpoint(address, static_cast<unsigned short>(options.port));
    impl->acceptor->open(endpoint.protocol());
    impl->acceptor->set_option(asio::socket_base::reuse_address(true));
    impl->acceptor->bind(endpoint);
    impl->acceptor->listen(1024);
    impl->port = impl->acceptor->local_endpoint().port();
  } catch (const std::exception& e) {
    return UnavailableError("cannot listen on " + options.host + ":" +
                            std::to_string(options.port) + ": " + e.what());
  }
  Impl* raw = impl.get();
  impl->health = std::thread([raw] { raw->HealthLoop(); });
  return std::unique_ptr<Router>(new Router(std::move(impl)));
}

Status Router::Run() {
  std::shared_ptr<Impl> impl = impl_;
  while (!impl->stopping.load()) {
    tcp::socket socket(impl->io);
    boost::system::error_code ec;
    impl->acceptor->accept(socket, ec);
    if (impl->stopping.load()) break;
    if (ec) continue;
    if (impl->connections.load() >= impl->options.max_connections) {
      Impl::Reply(socket, 503, "application/json",
                  ErrorJson("too many connections", "server_error"), false);
      continue;
    }
    impl->connections.fetch_add(1);
    std::thread([impl, s = std::move(socket)]() mutable {
      impl->Serve(std::move(s));
      impl->connections.fetch_sub(1);
    }).detach();
  }
  return OkStatus();
}

void Router::Stop() {
  if (impl_->stopping.exchange(true)) return;
  impl_->health_cv.notify_all();
  // Wake the blocking accept with a connection of our own.
  try {
    asio::io_context io;
    tcp::socket wake(io);
    boost::system::error_code ec;
    wake.connect(tcp::endpoint(impl_->acceptor->local_endpoint().address().is_unspecified()
                                   ? asio::ip::make_address("127.0.0.1")
                                   : impl_->acceptor->local_endpoint().address(),
                               static_cast<unsigned short>(impl_->port)),
                 ec);
  } catch (const std::exception&) {
  }
}

}  // namespace radixlm::router
