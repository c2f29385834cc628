#include "net/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace radixlm::net {

namespace {

struct EasyDeleter {
  void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
};
using Easy = std::unique_ptr<CURL, EasyDeleter>;

struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// This thread's kept connections, one easy handle (and its connection cache)
// per host:port. Destroyed, and the connections closed, when the thread ends.
std::unordered_map<std::string, Easy>& Kept() {
  thread_local std::unordered_map<std::string, Easy> kept;
  return kept;
}

std::string Authority(const HttpTarget& target) {
  const bool v6 = target.host.find(':') != std::string::npos;
  return (v6 ? "[" + target.host + "]" : target.host) + ":" + std::to_string(target.port);
}

struct Transfer {
  const HttpRequest* request;
  CURL* curl;
  HttpResult* out;
  bool aborted = false;
  bool too_large = false;
};

size_t OnWrite(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t bytes = size * n;
  long status = 0;
  curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
  const std::string_view piece(data, bytes);
  if (t->request->on_data && status == 200) {
    if (!t->request->on_data(piece)) {
      t->aborted = true;
      return 0;  // any count but `bytes` ends the transfer
    }
    return bytes;
  }
  const size_t limit = t->request->on_data ? size_t{4096} : t->request->max_body_bytes;
  const size_t room = limit - std::min(limit, t->out->body.size());
  if (bytes > room && !t->request->on_data) {
    t->too_large = true;
    return 0;
  }
  t->out->body.append(piece.substr(0, room));
  return bytes;
}

// libcurl's progress callback: nonzero ends the transfer (CURLE_ABORTED_BY_CALLBACK).
int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  if (t->request->keep_going && !t->request->keep_going()) {
    t->aborted = true;
    return 1;
  }
  return 0;
}

// One header line: a status line starts the answer's fields afresh (after a
// 100 Continue); "name: value" lines are kept with the name lower-cased.
size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* out = static_cast<HttpResult*>(user);
  const size_t bytes = size * n;
  std::string_view line(data, bytes);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.rfind("HTTP/", 0) == 0) {
    out->headers.clear();
    return bytes;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos || out->headers.size() >= 200) return bytes;
  std::string name(line.substr(0, colon));
  for (char& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  out->headers.emplace_back(std::move(name), std::string(value));
  return bytes;
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

std::string HttpResult::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (key == name) return value;
  }
  return "";
}

StatusOr<HttpTarget> ParseBaseUrl(const std::string& url) {
  const std::string scheme = "http://";
  if (url.rfind(scheme, 0) != 0)
    return InvalidArgumentError("base URL '" + url + "' must start with http://");
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
    const std::string port = authority.substr(colon + 1);
    char* end = nullptr;
    const long value = port.empty() ? -1 : std::strtol(port.c_str(), &end, 10);
    if (port.empty() || *end != '\0' || value <= 0 || value > 65535) {
      return InvalidArgumentError("base URL '" + url + "' has a bad port");
    }
    t.port = static_cast<int>(value);
  }
  if (t.host.empty()) return InvalidArgumentError("base URL '" + url + "' has no host");
  return t;
}

HttpResult Send(const HttpTarget& target, const HttpRequest& request) {
  GlobalInit();
  HttpResult out;
  const Clock::time_point t0 = Clock::now();
  const Clock::time_point deadline =
      request.deadline != Clock::time_point{}
          ? request.deadline
          : t0 + std::chrono::duration_cast<Clock::duration>(
                     std::chrono::duration<double>(target.timeout_s));
  const double budget_s = Seconds(deadline - t0);
  if (budget_s <= 0) {
    out.error = HttpError::kTimeout;
    out.message = "the deadline passed before the request was sent";
    return out;
  }

  const std::string authority = Authority(target);
  Easy fresh;
  CURL* curl = nullptr;
  if (target.keep_alive) {
    Easy& kept = Kept()[authority];
    if (kept == nullptr) kept.reset(curl_easy_init());
    curl = kept.get();
  } else {
    fresh.reset(curl_easy_init());
    curl = fresh.get();
  }
  if (curl == nullptr) {
    out.error = HttpError::kBroken;
    out.message = "cannot start an HTTP request (out of memory)";
    return out;
  }
  curl_easy_reset(curl);  // options only: the handle's live connection stays

  std::unique_ptr<curl_slist, SlistDeleter> headers;
  auto add_header = [&headers](const std::string& line) {
    curl_slist* grown = curl_slist_append(headers.get(), line.c_str());
    if (grown != nullptr) {
      (void)headers.release();
      headers.reset(grown);
    }
  };
  if (!target.api_key.empty()) add_header("Authorization: Bearer " + target.api_key);
  for (const auto& [name, value] : request.headers) add_header(name + ": " + value);
  add_header("Expect:");  // no 100-continue round trip before a large body

  const std::string url = "http://" + authority + request.path;
  const long budget_ms = std::max(1L, static_cast<long>(budget_s * 1000.0 + 0.5));
  char error_text[CURL_ERROR_SIZE] = {};
  Transfer transfer{&request, curl, &out};
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http");
  curl_easy_setopt(curl, CURLOPT_PROXY, "");  // never a proxy from the environment
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, budget_ms);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, budget_ms);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_text);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &OnWrite);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &out);
  if (!target.keep_alive) curl_easy_setopt(curl, CURLOPT_FORBID_REUSE, 1L);
  if (request.keep_going) {
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, &OnProgress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &transfer);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  }
  if (request.method == "POST") {
    if (!request.content_type.empty()) add_header("Content-Type: " + request.content_type);
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(request.body.size()));
  } else {
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    if (request.method != "GET")
      curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers.get());

  const CURLcode code = curl_easy_perform(curl);
  out.elapsed_s = Seconds(Clock::now() - t0);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  out.status = static_cast<int>(status);
  // The handle keeps pointers to this call's headers and error buffer: clear them.
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, nullptr);

  const std::string why = error_text[0] != '\0' ? error_text : curl_easy_strerror(code);
  const std::string where = authority + request.path;
  if (code == CURLE_OK) return out;
  if (transfer.aborted) {
    DropConnection(target);  // the server may still be answering on it
    out.error = HttpError::kAborted;
    out.message = "stopped by the reader of " + where;
  } else if (transfer.too_large) {
    out.error = HttpError::kTooLarge;
    out.message = "the answer of " + where + " is larger than " +
                  std::to_string(request.max_body_bytes) + " bytes";
  } else if (code == CURLE_OPERATION_TIMEDOUT) {
    out.error = HttpError::kTimeout;
    out.message = "no complete answer from " + where + " within " + std::to_string(budget_s) + " s";
  } else if (code == CURLE_COULDNT_CONNECT || code == CURLE_COULDNT_RESOLVE_HOST) {
    out.error = HttpError::kConnect;
    out.message = "cannot connect to " + authority + " (" + why + ")";
  } else {
    out.error = HttpError::kBroken;
    out.message = "the connection to " + authority + " broke " +
                  (out.status == 0 ? std::string("before a response") : std::string("mid-answer")) +
                  " (" + why + ")";
  }
  return out;
}

void DropConnection(const HttpTarget& target) { Kept().erase(Authority(target)); }

namespace {

StatusOr<HttpResponse> Plain(const HttpTarget& target, HttpRequest request, double timeout_s) {
  if (timeout_s > 0) {
    request.deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                          std::chrono::duration<double>(timeout_s));
  }
  HttpResult r = Send(target, request);
  if (r.error == HttpError::kTimeout) return Status(StatusCode::kDeadlineExceeded, r.message);
  if (!r.ok()) {
    DropConnection(target);
    return UnavailableError(request.method + " " + request.path + ": " + r.message);
  }
  return HttpResponse{r.status, std::move(r.body), std::move(r.headers)};
}

}  // namespace

StatusOr<HttpResponse> Get(const HttpTarget& target, const std::string& path, double timeout_s) {
  HttpRequest request;
  request.path = path;
  return Plain(target, std::move(request), timeout_s);
}

StatusOr<HttpResponse> Post(const HttpTarget& target, const std::string& path,
                            const std::string& body, double timeout_s) {
  HttpRequest request;
  request.method = "POST";
  request.path = path;
  request.body = body;
  return Plain(target, std::move(request), timeout_s);
}

}  // namespace radixlm::net
