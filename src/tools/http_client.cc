#include "tools/http_client.h"

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

namespace radixlm::tools {

namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

httplib::Headers Headers(const HttpTarget& target) {
  httplib::Headers h;
  if (!target.api_key.empty()) h.emplace("Authorization", "Bearer " + target.api_key);
  return h;
}

void SetTimeouts(httplib::Client& client, double seconds) {
  seconds = std::max(seconds, 0.001);
  const auto whole = static_cast<time_t>(seconds);
  const auto micros = static_cast<time_t>((seconds - static_cast<double>(whole)) * 1e6);
  client.set_connection_timeout(whole, micros);
  client.set_read_timeout(whole, micros);
  client.set_write_timeout(whole, micros);
}

void Configure(httplib::Client& client, const HttpTarget& target) {
  SetTimeouts(client, target.timeout_s);
  client.set_keep_alive(false);
  client.set_follow_location(false);  // only the address given is contacted
  // httplib writes a request's headers and body separately; on a kept
  // connection Nagle's algorithm then holds the body until the server's
  // delayed ACK (40 ms on Linux), which measured as 40 ms more TTFT.
  client.set_tcp_nodelay(true);
}

// Shuts down the socket of a request that runs past its deadline. httplib's
// read timeout restarts with every byte, so a server that trickles bytes (or
// stalls mid-stream after a trickle) would otherwise hold a request, and the
// run, for as long as it likes. One thread serves every request.
class Watchdog {
 public:
  static Watchdog& Get() {
    static Watchdog* watchdog = new Watchdog;  // never destroyed: its thread runs to exit
    return *watchdog;
  }

  uint64_t Arm(Clock::time_point deadline, httplib::Client* client, std::atomic<bool>* fired) {
    std::lock_guard<std::mutex> lock(mu_);
    const uint64_t id = ++next_id_;
    entries_.emplace(id, Entry{deadline, client, fired});
    queue_.emplace(deadline, id);
    cv_.notify_one();
    return id;
  }
  // After this returns the watchdog never touches the client again.
  void Disarm(uint64_t id) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return;
    queue_.erase({it->second.deadline, id});
    entries_.erase(it);
  }

 private:
  struct Entry {
    Clock::time_point deadline;
    httplib::Client* client;
    std::atomic<bool>* fired;
  };

  Watchdog() { std::thread([this] { Loop(); }).detach(); }

  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      if (queue_.empty()) {
        cv_.wait(lock);
        continue;
      }
      const auto [deadline, id] = *queue_.begin();
      if (Clock::now() < deadline) {
        cv_.wait_until(lock, deadline);
        continue;
      }
      queue_.erase(queue_.begin());
      auto it = entries_.find(id);
      if (it == entries_.end()) continue;
      it->second.fired->store(true);
      it->second.client->stop();  // shuts the socket down; the blocked read returns
      entries_.erase(it);
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t next_id_ = 0;
  std::set<std::pair<Clock::time_point, uint64_t>> queue_;
  std::unordered_map<uint64_t, Entry> entries_;
};

std::string Clip(const std::string& s, size_t n = 300) { return s.size() > n ? s.substr(0, n) + "..." : s; }

}  // namespace

StatusOr<HttpTarget> ParseBaseUrl(const std::string& url) {
  const std::string scheme = "http://";
  if (url.rfind(scheme, 0) != 0) return InvalidArgumentError("base URL '" + url + "' must start with http://");
  std::string rest = url.substr(scheme.size());
  HttpTarget t;
  const size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  t.prefix = slash == std::string::npos ? "" : rest.substr(slash);
  while (!t.prefix.empty() && t.prefix.back() == '/') t.prefix.pop_back();
  if (t.prefix.empty()) t.prefix = "/v1";
  const size_t colon = authority.rfind(':');
  t.host = authority.substr(0, colon);
  if (colon != std::string::npos) {
    try {
      t.port = std::stoi(authority.substr(colon + 1));
    } catch (const std::exception&) {
      return InvalidArgumentError("base URL '" + url + "' has a bad port");
    }
  }
  if (t.host.empty() || t.port <= 0 || t.port > 65535) {
    return InvalidArgumentError("base URL '" + url + "' has no host or a bad port");
  }
  return t;
}

StreamResult PostStreaming(const HttpTarget& target, const std::string& path, const std::string& body,
                           const StreamLimits& limits) {
  StreamResult out;
  const auto t0 = Clock::now();
  const double timeout_s = limits.timeout_s > 0 ? limits.timeout_s : target.timeout_s;
  const auto request_deadline =
      t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_s));
  const bool run_ends_first = limits.run_deadline < request_deadline;
  const auto deadline = std::min(request_deadline, limits.run_deadline);
  const double budget_s = std::chrono::duration<double>(deadline - t0).count();
  auto expired = [&](const std::string& what) {
    out.failure = run_ends_first ? FailureKind::kCancelled : FailureKind::kTimeout;
    out.error = run_ends_first ? "still running when --max-duration ended (" + what + ")"
                               : "no complete answer within " + std::to_string(timeout_s) + " s (" + what + ")";
  };
  if (budget_s <= 0) {
    out.e2e_s = 0;
    expired("not sent");
    return out;
  }

  // This thread's connection to the target, kept between requests.
  thread_local std::unordered_map<std::string, std::unique_ptr<httplib::Client>> clients;
  const std::string key = target.host + ":" + std::to_string(target.port);
  std::unique_ptr<httplib::Client>& kept = clients[key];
  std::unique_ptr<httplib::Client> fresh;
  if (!target.keep_alive || kept == nullptr) {
    fresh = std::make_unique<httplib::Client>(target.host, target.port);
    Configure(*fresh, target);
    fresh->set_keep_alive(target.keep_alive);
  }
  httplib::Client& client = fresh != nullptr ? *fresh : *kept;
  SetTimeouts(client, budget_s);
  httplib::Request req;
  req.method = "POST";
  req.path = target.prefix + path;
  req.headers = Headers(target);
  req.headers.emplace("Accept", "text/event-stream");
  req.body = body;
  req.set_header("Content-Type", "application/json");

  CompletionStreamReader reader(&out);
  SseParser parser(limits.max_event_bytes);
  std::string error_body;
  int status = 0;
  bool overflow = false;
  req.response_handler = [&](const httplib::Response& res) {
    status = res.status;
    return true;
  };
  req.content_receiver = [&](const char* data, size_t len, uint64_t, uint64_t) {
    if (status != 200) {
      error_body.append(data, std::min(len, size_t{4096} - std::min(error_body.size(), size_t{4096})));
      return true;
    }
    const double now = Since(t0);
    if (!parser.Feed(std::string_view(data, len), [&](std::string_view event, std::string_view payload) {
          reader.OnEvent(event, payload, now);
        })) {
      overflow = true;
      return false;
    }
    return true;
  };

  std::atomic<bool> fired{false};
  Watchdog& watchdog = Watchdog::Get();
  const uint64_t armed = watchdog.Arm(deadline, &client, &fired);
  httplib::Response res;
  httplib::Error error = httplib::Error::Success;
  bool sent = false;
  try {
    sent = client.send(req, res, error);
  } catch (const std::exception& e) {  // httplib does not throw here; a bad_alloc could
    error = httplib::Error::Unknown;
    out.error = e.what();
  }
  watchdog.Disarm(armed);
  out.e2e_s = Since(t0);
  out.http_status = status;

  if (status != 0 && status != 200) {
    out.failure = FailureKind::kHttpStatus;
    out.error = "HTTP " + std::to_string(status) + ": " + Clip(error_body.empty() ? res.body : error_body);
  } else if (overflow) {
    out.failure = FailureKind::kMalformedStream;
    out.error = "an event of the stream is larger than " + std::to_string(limits.max_event_bytes) + " bytes";
  } else if (fired.load() || (!sent && Clock::now() >= deadline - std::chrono::milliseconds(20))) {
    expired(status == 0 ? "no response" : std::to_string(out.token_times_s.size()) + " chunks received");
  } else if (!sent) {
    out.failure = FailureKind::kConnect;
    const std::string what = httplib::to_string(error);
    if (error == httplib::Error::Connection) {
      out.error = "cannot connect to " + target.host + ":" + std::to_string(target.port) + " (" + what + ")";
    } else if (status == 0) {
      out.error = "the connection broke before a response (" + what + ")";
    } else {
      out.error = "the connection broke mid-stream after " + std::to_string(out.token_times_s.size()) +
                  " chunks (" + what + ")";
    }
  } else {
    reader.Finish(parser.has_partial_event());
  }
  out.ok = out.failure == FailureKind::kNone;
  // Keep a connection only after a clean answer: after a failure its state is
  // unknown (a stopped socket, a half-read stream), so the next one reconnects.
  if (target.keep_alive) {
    if (out.ok && fresh != nullptr) kept = std::move(fresh);
    if (!out.ok && fresh == nullptr) kept.reset();
  }
  return out;
}

StatusOr<int> HttpGet(const HttpTarget& target, const std::string& path, std::string* response) {
  httplib::Client client(target.host, target.port);
  Configure(client, target);
  auto res = client.Get(path, Headers(target));
  if (!res) return Status(StatusCode::kUnavailable, "GET " + path + ": " + httplib::to_string(res.error()));
  *response = res->body;
  return res->status;
}

StatusOr<int> HttpPost(const HttpTarget& target, const std::string& path, const std::string& body,
                       std::string* response) {
  httplib::Client client(target.host, target.port);
  Configure(client, target);
  auto res = client.Post(path.c_str(), Headers(target), body, "application/json");
  if (!res) return Status(StatusCode::kUnavailable, "POST " + path + ": " + httplib::to_string(res.error()));
  *response = res->body;
  return res->status;
}

}  // namespace radixlm::tools
