// radixlm cache warm: sends a file of common requests to a server so that its
// response cache (and the prefix cache) holds them before users ask. One JSON
// object per line: a request body ("messages" makes it a chat completion,
// otherwise a completion), or {"endpoint": "/v1/chat/completions", "body": {...}}.
// A body without a "cache" field gets {"mode": "readwrite"}, so sampled requests
// are stored too (a deterministic one would be anyway). Lines are sent in order
// by --concurrency clients; each is reported as stored (a miss the server kept),
// already cached (a hit) or failed, with the reason.
#include <simdjson.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <thread>
#include <vector>

#include "net/http_client.h"
#include "tools/cli_util.h"
#include "tools/commands.h"

namespace radixlm::tools {

using net::ParseBaseUrl;
namespace {

struct WarmRequest {
  int64_t line = 0;
  std::string path;  // from the server's root
  std::string body;
};

// The request of one line, or the reason it is not one.
StatusOr<WarmRequest> ParseLine(simdjson::dom::parser& parser, const std::string& text,
                                const std::string& prefix) {
  simdjson::dom::element doc;
  if (parser.parse(text).get(doc) || !doc.is_object())
    return InvalidArgumentError("not a JSON object");
  WarmRequest r;
  simdjson::dom::element body = doc;
  std::string_view endpoint;
  if (!doc["endpoint"].get(endpoint)) {
    if (endpoint != "/v1/completions" && endpoint != "/v1/chat/completions") {
      return InvalidArgumentError("endpoint '" + std::string(endpoint) +
                                  "' (use /v1/completions or /v1/chat/completions)");
    }
    if (doc["body"].get(body) || !body.is_object())
      return InvalidArgumentError("\"body\" must be an object");
    r.path = prefix + std::string(endpoint).substr(3);
  } else {
    r.path = prefix + (doc["messages"].error() ? "/completions" : "/chat/completions");
  }
  r.body = simdjson::minify(body);
  if (body["cache"].error()) {  // absent: ask for storing
    r.body.pop_back();
    r.body += r.body.size() > 1 ? "," : "";
    r.body += "\"cache\":{\"mode\":\"readwrite\"}}";
  }
  if (!body["stream"].error())
    return InvalidArgumentError("remove \"stream\": warm-up reads whole responses");
  return r;
}

}  // namespace

int RunCacheWarm(const CacheWarmOptions& o) {
  auto target = ParseBaseUrl(o.base_url);
  if (!target.ok()) return Fail(target.status());
  std::ifstream in(o.file);
  if (!in) return Fail(NotFoundError(o.file + ": cannot open"));
  std::vector<WarmRequest> requests;
  simdjson::dom::parser parser;
  std::string text;
  int64_t bad = 0;
  for (int64_t line = 1; std::getline(in, text); ++line) {
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto r = ParseLine(parser, text, target->prefix);
    if (!r.ok()) {
      std::fprintf(stderr, "%s:%lld: %s\n", o.file.c_str(), static_cast<long long>(line),
                   r.status().message().c_str());
      ++bad;
      continue;
    }
    r->line = line;
    requests.push_back(std::move(*r));
  }
  if (bad > 0)
    return Fail(
        InvalidArgumentError(std::to_string(bad) + " bad line(s) in " + o.file + "; nothing sent"));

  std::atomic<size_t> next{0};
  std::atomic<int64_t> stored{0}, cached{0}, failed{0}, done{0};
  std::mutex print_mu;
  std::vector<std::thread> clients;
  for (int64_t c = 0; c < o.concurrency; ++c) {
    clients.emplace_back([&] {
      net::HttpTarget kept = *target;
      kept.api_key = o.api_key;
      kept.timeout_s = o.timeout_s;
      for (size_t i = next++; i < requests.size(); i = next++) {
        const WarmRequest& r = requests[i];
        net::HttpRequest request;
        request.method = "POST";
        request.path = r.path;
        request.body = r.body;
        const net::HttpResult res = net::Send(kept, request);
        std::string why;
        if (!res.ok()) {
          why = res.message;
          net::DropConnection(kept);
        } else if (res.status != 200) {
          why = "HTTP " + std::to_string(res.status) + ": " + res.body.substr(0, 200);
        } else if (res.header("x-radixlm-cache") == "hit") {
          ++cached;
        } else if (res.header("x-radixlm-cache") == "miss") {
          ++stored;
        } else {
          why =
              "the server has no response cache (no x-radixlm-cache header; start it with "
              "--response-cache)";
        }
        std::lock_guard<std::mutex> lock(print_mu);
        if (!why.empty()) {
          ++failed;
          std::fprintf(stderr, "\r%s:%lld: %s\n", o.file.c_str(), static_cast<long long>(r.line),
                       why.c_str());
        }
        std::fprintf(stderr, "\rwarming: %lld/%zu", static_cast<long long>(++done),
                     requests.size());
      }
    });
  }
  for (auto& t : clients) t.join();
  std::fprintf(stderr, "\n");
  std::printf("%zu requests: %lld stored, %lld already cached, %lld failed\n", requests.size(),
              static_cast<long long>(stored.load()), static_cast<long long>(cached.load()),
              static_cast<long long>(failed.load()));
  return failed.load() == 0 ? 0 : 1;
}

}  // namespace radixlm::tools
