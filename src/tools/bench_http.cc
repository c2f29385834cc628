// radixlm bench http: loads an HTTP front end the way crowds and bad clients
// do, and prints what it held (commands.h: BenchHttpOptions).
//
// Scenarios, each on its own event loop (Boost.Asio; responses parsed by
// Beast), one after the other:
//   health     C keep-alive connections each sending GET /health back to back
//              for S seconds: requests/s and latency;
//   burst      N connections opened at the same instant, each asking /health
//              once: connect latency, resets and failures;
//   idle       N keep-alive connections opened (in waves of 500), each asks
//              /health, then all stay idle for H seconds and ask again: how
//              many the server kept, its memory growth (--pid);
//   slowloris  N connections trickling a header a byte a second for S seconds,
//              while a probe asks /health on a new connection every 20 ms: the
//              probe's latency, and how many slow connections the server cut;
//   streams    N streaming completions at once (--model, --max-tokens): how
//              many end with [DONE], the server's memory growth (--pid).
// A failure is any connect error, reset, timeout or unexpected status. The
// table (and --json) gives every figure; exit 1 when any scenario failed.
#include <algorithm>
#include <array>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "net/http_client.h"
#include "tools/cli_util.h"
#include "tools/commands.h"

namespace radixlm::tools {

using net::ParseBaseUrl;
namespace {

namespace net = boost::asio;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i =
      std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5));
  return v[i];
}

// Resident memory of a process in MB (0 when unknown).
double RssMb(int pid) {
  if (pid <= 0) return 0;
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return 0;
}

struct Result {
  std::string name;
  int64_t requests = 0, ok = 0, failed = 0;
  double seconds = 0;
  std::vector<double> latency_ms;  // per request (connect for burst; the probe's for slowloris)
  std::vector<std::pair<std::string, double>> extra;
  std::string first_error;
  void Fail(const std::string& why) {
    ++failed;
    if (first_error.empty()) first_error = why;
  }
};

struct Conn {
  explicit Conn(net::io_context& io) : socket(io), timer(io) {}
  tcp::socket socket;
  net::steady_timer timer;
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> response;
  std::unique_ptr<http::response_parser<http::string_body>> parser;
  Clock::time_point start;
  bool closed = false;
};

std::string Get(const std::string& path, bool keep_alive) {
  return "GET " + path + " HTTP/1.1\r\nHost: bench\r\n" +
         (keep_alive ? "" : "Connection: close\r\n") + "\r\n";
}

// Sends `request` and reads one response into c->response; `done(error)`.
void Exchange(const std::shared_ptr<Conn>& c, const std::shared_ptr<std::string>& request,
              std::function<void(const std::string&)> done) {
  net::async_write(c->socket, net::buffer(*request), [c, request, done](error_code ec, size_t) {
    if (ec) return done("write: " + ec.message());
    c->parser = std::make_unique<http::response_parser<http::string_body>>();
    c->parser->body_limit(size_t{1} << 30);
    http::async_read(c->socket, c->buffer, *c->parser, [c, done](error_code rec, size_t) {
      if (rec) return done("read: " + rec.message());
      c->response = c->parser->release();
      if (c->response.result_int() != 200)
        return done("status " + std::to_string(c->response.result_int()));
      done("");
    });
  });
}

Result Health(const tcp::endpoint& ep, int connections, double seconds) {
  net::io_context io;
  Result r;
  r.name = "health";
  const auto request = std::make_shared<std::string>(Get("/health", true));
  const auto start = Clock::now();
  const auto deadline =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  std::function<void(std::shared_ptr<Conn>)> loop = [&](std::shared_ptr<Conn> c) {
    if (Clock::now() >= deadline) return;
    c->start = Clock::now();
    Exchange(c, request, [&, c](const std::string& err) {
      ++r.requests;
      if (!err.empty()) return r.Fail(err);
      ++r.ok;
      r.latency_ms.push_back(Ms(Clock::now() - c->start));
      loop(c);
    });
  };
  for (int i = 0; i < connections; ++i) {
    auto c = std::make_shared<Conn>(io);
    c->socket.async_connect(ep, [&, c](error_code ec) {
      if (ec) return r.Fail("connect: " + ec.message());
      c->socket.set_option(tcp::no_delay(true));
      loop(c);
    });
  }
  io.run();
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  r.extra.emplace_back("requests_per_s", static_cast<double>(r.ok) / r.seconds);
  return r;
}

Result Burst(const tcp::endpoint& ep, int n) {
  net::io_context io;
  Result r;
  r.name = "burst";
  const auto request = std::make_shared<std::string>(Get("/health", false));
  std::vector<double> total;
  const auto start = Clock::now();
  for (int i = 0; i < n; ++i) {
    auto c = std::make_shared<Conn>(io);
    c->start = Clock::now();
    c->socket.async_connect(ep, [&, c](error_code ec) {
      ++r.requests;
      if (ec) return r.Fail("connect: " + ec.message());
      r.latency_ms.push_back(Ms(Clock::now() - c->start));
      Exchange(c, request, [&, c](const std::string& err) {
        if (!err.empty()) return r.Fail(err);
        ++r.ok;
        total.push_back(Ms(Clock::now() - c->start));
      });
    });
  }
  io.run();
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  r.extra.emplace_back("response_p99_ms", Percentile(total, 0.99));
  return r;
}

// Opens `n` keep-alive connections in waves, each answering /health once;
// `then` runs with the open ones.
void OpenIdle(net::io_context& io, const tcp::endpoint& ep, int n, Result* r,
              std::vector<std::shared_ptr<Conn>>* open) {
  const auto request = std::make_shared<std::string>(Get("/health", true));
  for (int wave = 0; wave < n; wave += 500) {
    const int count = std::min(500, n - wave);
    for (int i = 0; i < count; ++i) {
      auto c = std::make_shared<Conn>(io);
      c->socket.async_connect(ep, [r, open, request, c](error_code ec) {
        if (ec) return r->Fail("connect: " + ec.message());
        Exchange(c, request, [r, open, c](const std::string& err) {
          if (!err.empty()) return r->Fail("first /health: " + err);
          open->push_back(c);
        });
      });
    }
    io.run();
    io.restart();
  }
}

Result Idle(const tcp::endpoint& ep, int n, double hold, int pid) {
  net::io_context io;
  Result r;
  r.name = "idle";
  const double rss_before = RssMb(pid);
  const auto start = Clock::now();
  std::vector<std::shared_ptr<Conn>> open;
  OpenIdle(io, ep, n, &r, &open);
  const double rss_open = RssMb(pid);
  std::fprintf(stderr, "bench http: %zu idle connections open; holding them %.0f s\n", open.size(),
               hold);
  net::steady_timer wait(
      io, std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(hold)));
  wait.async_wait([](error_code) {});
  io.run();
  io.restart();
  const auto request = std::make_shared<std::string>(Get("/health", true));
  for (auto& c : open) {
    c->start = Clock::now();
    Exchange(c, request, [&r, c](const std::string& err) {
      ++r.requests;
      if (!err.empty()) return r.Fail("after idling: " + err);
      ++r.ok;
      r.latency_ms.push_back(Ms(Clock::now() - c->start));
    });
  }
  io.run();
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  r.extra.emplace_back("connections_kept", static_cast<double>(r.ok));
  if (pid > 0) {
    r.extra.emplace_back("server_rss_before_mb", rss_before);
    r.extra.emplace_back("server_rss_growth_mb", std::max(rss_open, RssMb(pid)) - rss_before);
  }
  return r;
}

Result Slowloris(const tcp::endpoint& ep, int n, double seconds) {
  net::io_context io;
  Result r;
  r.name = "slowloris";
  const auto start = Clock::now();
  const auto deadline =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  int64_t cut = 0;
  std::vector<double> cut_after;  // seconds into the run
  std::function<void(std::shared_ptr<Conn>, int)> trickle = [&](std::shared_ptr<Conn> c, int sent) {
    if (c->closed) return;  // cut by the server
    if (Clock::now() >= deadline) {
      error_code ec;
      c->socket.close(ec);
      return;
    }
    auto byte = std::make_shared<std::string>(
        sent == 0 ? "POST /v1/completions HTTP/1.1\r\nHost: bench\r\nX-Slow: " : "a");
    net::async_write(c->socket, net::buffer(*byte), [&, c, byte, sent](error_code ec, size_t) {
      if (ec) return;  // closed (counted by the read)
      c->timer.expires_after(std::chrono::seconds(1));
      c->timer.async_wait([&, c, sent](error_code) { trickle(c, sent + 1); });
    });
  };
  for (int i = 0; i < n; ++i) {
    auto c = std::make_shared<Conn>(io);
    c->socket.async_connect(ep, [&, c](error_code ec) {
      if (ec) return r.Fail("slow connect: " + ec.message());
      trickle(c, 0);
      // A read that ends when the server closes the connection (it never answers).
      auto sink = std::make_shared<std::array<char, 512>>();
      c->socket.async_read_some(net::buffer(*sink), [&, c, sink](error_code rec, size_t) {
        if (!c->closed && Clock::now() < deadline) {
          c->closed = true;
          ++cut;
          cut_after.push_back(std::chrono::duration<double>(Clock::now() - start).count());
          error_code ec;
          c->socket.close(ec);
        }
        (void)rec;
      });
    });
  }
  // The probe: a new connection every 20 ms, GET /health, close.
  const auto request = std::make_shared<std::string>(Get("/health", false));
  net::steady_timer probe_timer(io);
  std::function<void()> probe = [&] {
    if (Clock::now() >= deadline) return;
    auto c = std::make_shared<Conn>(io);
    c->start = Clock::now();
    c->socket.async_connect(ep, [&, c](error_code ec) {
      ++r.requests;
      if (ec) return r.Fail("probe connect: " + ec.message());
      Exchange(c, request, [&, c](const std::string& err) {
        if (!err.empty()) return r.Fail("probe: " + err);
        ++r.ok;
        r.latency_ms.push_back(Ms(Clock::now() - c->start));
      });
    });
    probe_timer.expires_after(std::chrono::milliseconds(20));
    probe_timer.async_wait([&](error_code) { probe(); });
  };
  probe();
  io.run();
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  r.extra.emplace_back("slow_connections_cut", static_cast<double>(cut));
  if (!cut_after.empty()) r.extra.emplace_back("first_cut_s", Percentile(cut_after, 0));
  return r;
}

Result Streams(const tcp::endpoint& ep, const BenchHttpOptions& o) {
  net::io_context io;
  Result r;
  r.name = "streams";
  const std::string body = R"({"model":")" + o.model +
                           R"(","prompt":"Tell me a story about the sea.","max_tokens":)" +
                           std::to_string(o.max_tokens) + R"(,"temperature":0,"stream":true})";
  std::string head =
      "POST /v1/completions HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n";
  if (!o.api_key.empty()) head += "Authorization: Bearer " + o.api_key + "\r\n";
  const auto request = std::make_shared<std::string>(
      head + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
  const double rss_before = RssMb(o.pid);
  double rss_peak = rss_before;
  const auto start = Clock::now();
  int64_t pending = o.streams;
  for (int i = 0; i < o.streams; ++i) {
    auto c = std::make_shared<Conn>(io);
    c->start = Clock::now();
    c->socket.async_connect(ep, [&, c](error_code ec) {
      ++r.requests;
      if (ec) {
        --pending;
        return r.Fail("connect: " + ec.message());
      }
      Exchange(c, request, [&, c](const std::string& err) {
        --pending;
        if (!err.empty()) return r.Fail(err);
        if (c->response.body().find("data: [DONE]") == std::string::npos)
          return r.Fail("no [DONE]");
        ++r.ok;
        r.latency_ms.push_back(Ms(Clock::now() - c->start));
      });
    });
  }
  net::steady_timer sampler(io);
  std::function<void()> sample = [&] {
    rss_peak = std::max(rss_peak, RssMb(o.pid));
    if (pending <= 0) return;
    sampler.expires_after(std::chrono::milliseconds(100));
    sampler.async_wait([&](error_code) { sample(); });
  };
  if (o.pid > 0) sample();
  io.run();
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (o.pid > 0) r.extra.emplace_back("server_rss_growth_mb", rss_peak - rss_before);
  return r;
}

std::string Json(const std::vector<Result>& results) {
  std::ostringstream out;
  out << "{\"tool\":\"radixlm bench http\",\"scenarios\":[";
  for (size_t i = 0; i < results.size(); ++i) {
    const Result& r = results[i];
    out << (i ? "," : "") << "{\"name\":\"" << r.name << "\",\"requests\":" << r.requests
        << ",\"ok\":" << r.ok << ",\"failed\":" << r.failed << ",\"seconds\":" << r.seconds
        << ",\"latency_ms\":{\"p50\":" << Percentile(r.latency_ms, 0.5)
        << ",\"p99\":" << Percentile(r.latency_ms, 0.99)
        << ",\"max\":" << Percentile(r.latency_ms, 1.0) << "}";
    for (const auto& [k, v] : r.extra) out << ",\"" << k << "\":" << v;
    std::string err;
    for (char ch : r.first_error) err += (ch == '"' || ch == '\\') ? ' ' : ch;
    out << ",\"first_error\":\"" << err << "\"}";
  }
  out << "]}";
  return out.str();
}

}  // namespace

int RunBenchHttp(const BenchHttpOptions& o) {
  auto target = ParseBaseUrl(o.base_url);
  error_code ec;
  net::ip::address address;
  if (target.ok())
    address = net::ip::make_address(target->host == "localhost" ? "127.0.0.1" : target->host, ec);
  if (!target.ok() || ec) {
    std::cerr << "bench http: --base-url must be http://IP:PORT, not '" << o.base_url << "'\n";
    return 2;
  }
  const tcp::endpoint ep(address, static_cast<unsigned short>(target->port));
  RaiseOpenFilesLimit();  // thousands of sockets
  std::vector<Result> results;
  for (const std::string& s : o.scenarios) {
    std::fprintf(stderr, "bench http: %s...\n", s.c_str());
    if (s == "health") {
      results.push_back(Health(ep, o.health_connections, o.seconds));
    } else if (s == "burst") {
      results.push_back(Burst(ep, o.burst));
    } else if (s == "idle") {
      results.push_back(Idle(ep, o.idle, o.hold, o.pid));
    } else if (s == "slowloris") {
      results.push_back(Slowloris(ep, o.slowloris, o.seconds));
    } else if (s == "streams") {
      if (o.model.empty()) {
        std::cerr << "bench http: the streams scenario needs --model\n";
        return 2;
      }
      results.push_back(Streams(ep, o));
    } else {
      std::cerr << "bench http: unknown scenario '" << s
                << "' (health, burst, idle, slowloris, streams)\n";
      return 2;
    }
  }
  std::printf("%-10s %9s %9s %7s %8s %10s %10s  %s\n", "scenario", "requests", "ok", "failed",
              "seconds", "p50 ms", "p99 ms", "other");
  bool any_failed = false;
  for (const Result& r : results) {
    std::string other;
    char buf[96];
    for (const auto& [k, v] : r.extra) {
      std::snprintf(buf, sizeof(buf), "%s=%.1f ", k.c_str(), v);
      other += buf;
    }
    if (!r.first_error.empty()) other += "first error: " + r.first_error;
    std::printf("%-10s %9lld %9lld %7lld %8.2f %10.2f %10.2f  %s\n", r.name.c_str(),
                static_cast<long long>(r.requests), static_cast<long long>(r.ok),
                static_cast<long long>(r.failed), r.seconds, Percentile(r.latency_ms, 0.5),
                Percentile(r.latency_ms, 0.99), other.c_str());
    any_failed = any_failed || r.failed > 0;
  }
  const std::string json = Json(results);
  if (!o.json_out.empty()) {
    std::ofstream f(o.json_out);
    f << json << "\n";
    if (!f) {
      std::cerr << "bench http: cannot write " << o.json_out << "\n";
      return 2;
    }
  }
  return any_failed ? 1 : 0;
}

}  // namespace radixlm::tools
