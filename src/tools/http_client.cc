#include "tools/http_client.h"

#include <httplib.h>
#include <simdjson.h>

#include <chrono>

namespace radixlm::tools {

namespace {

double Since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

httplib::Headers Headers(const HttpTarget& target) {
  httplib::Headers h;
  if (!target.api_key.empty()) h.emplace("Authorization", "Bearer " + target.api_key);
  return h;
}

void Configure(httplib::Client& client, const HttpTarget& target) {
  const auto whole = static_cast<time_t>(target.timeout_s);
  const auto micros = static_cast<time_t>((target.timeout_s - static_cast<double>(whole)) * 1e6);
  client.set_connection_timeout(whole, micros);
  client.set_read_timeout(whole, micros);
  client.set_write_timeout(whole, micros);
  client.set_keep_alive(false);
}

// One `data:` payload of the stream. Returns false on malformed JSON.
bool ParseEvent(std::string_view payload, StreamResult* out, double now_s) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(payload.data(), payload.size()).get(doc) != simdjson::SUCCESS) return false;
  simdjson::dom::element error;
  if (doc["error"].get(error) == simdjson::SUCCESS) {
    std::string_view message;
    if (error["message"].get(message) != simdjson::SUCCESS) message = "error event";
    out->error = "error in stream: " + std::string(message);
    return true;
  }
  simdjson::dom::array choices;
  if (doc["choices"].get(choices) == simdjson::SUCCESS && choices.size() > 0) {
    bool content = false;
    for (simdjson::dom::element choice : choices) {
      std::string_view text;
      // A chunk carrying text or token logprobs is a token's arrival (an opening
      // chunk with only the role is not). The tools ask for logprobs so that a
      // token whose text is still incomplete (half a UTF-8 character, or a
      // special token) shows up too.
      if (choice["text"].get(text) == simdjson::SUCCESS ||
          choice.at_pointer("/delta/content").get(text) == simdjson::SUCCESS) {
        out->text += text;
        content = content || !text.empty();
      }
      simdjson::dom::element logprobs;
      if (choice["logprobs"].get(logprobs) == simdjson::SUCCESS && !logprobs.is_null()) content = true;
      std::string_view finish;
      if (choice["finish_reason"].get(finish) == simdjson::SUCCESS) out->finish_reason = finish;
    }
    if (content) {
      if (out->token_times_s.empty()) out->ttft_s = now_s;
      out->token_times_s.push_back(now_s);
    }
  }
  simdjson::dom::object usage;
  if (doc["usage"].get(usage) == simdjson::SUCCESS) {
    int64_t v;
    if (usage["prompt_tokens"].get(v) == simdjson::SUCCESS) out->prompt_tokens = v;
    if (usage["completion_tokens"].get(v) == simdjson::SUCCESS) out->completion_tokens = v;
    if (usage.at_pointer("/prompt_tokens_details/cached_tokens").get(v) == simdjson::SUCCESS) out->cached_tokens = v;
  }
  // llama.cpp's server reports its prompt cache in `timings`.
  int64_t cache_n;
  if (doc.at_pointer("/timings/cache_n").get(cache_n) == simdjson::SUCCESS) out->cached_tokens = cache_n;
  return true;
}

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
  if (t.host.empty() || t.port <= 0 || t.port > 65535) return InvalidArgumentError("base URL '" + url + "' has no host or a bad port");
  return t;
}

StreamResult PostStreaming(const HttpTarget& target, const std::string& path, const std::string& body) {
  StreamResult out;
  httplib::Client client(target.host, target.port);
  Configure(client, target);
  httplib::Request req;
  req.method = "POST";
  req.path = target.prefix + path;
  req.headers = Headers(target);
  req.headers.emplace("Accept", "text/event-stream");
  req.body = body;
  req.set_header("Content-Type", "application/json");
  std::string buffer, error_body;
  bool done = false, malformed = false;
  const auto t0 = std::chrono::steady_clock::now();
  req.content_receiver = [&](const char* data, size_t len, uint64_t, uint64_t) {
    buffer.append(data, len);
    size_t start = 0;
    while (true) {
      const size_t end = buffer.find("\n\n", start);
      if (end == std::string::npos) break;
      std::string_view event(buffer.data() + start, end - start);
      start = end + 2;
      for (size_t pos = 0; pos < event.size();) {
        size_t eol = event.find('\n', pos);
        if (eol == std::string_view::npos) eol = event.size();
        std::string_view line = event.substr(pos, eol - pos);
        pos = eol + 1;
        if (line.rfind("data:", 0) != 0) continue;
        line.remove_prefix(5);
        if (!line.empty() && line.front() == ' ') line.remove_prefix(1);
        if (line == "[DONE]") {
          done = true;
          continue;
        }
        ++out.chunks;
        if (!ParseEvent(line, &out, Since(t0))) malformed = true;
      }
    }
    buffer.erase(0, start);
    return true;
  };
  httplib::Response res;
  httplib::Error error = httplib::Error::Success;
  const bool sent = client.send(req, res, error);
  out.e2e_s = Since(t0);
  out.http_status = res.status;
  if (!sent) {
    out.error = "connection: " + httplib::to_string(error);
    if (res.status >= 400) out.error = "HTTP " + std::to_string(res.status) + ": " + buffer.substr(0, 300);
    return out;
  }
  if (res.status != 200) {
    out.error = "HTTP " + std::to_string(res.status) + ": " + (buffer + res.body).substr(0, 300);
    return out;
  }
  if (malformed) {
    out.error = "malformed event in the stream";
  } else if (!done && out.error.empty()) {
    out.error = "the stream ended without [DONE]";
  }
  out.ok = out.error.empty();
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
