#include "store/redis_store.h"

#include <hiredis/hiredis.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>

namespace radixlm::store {
namespace {

constexpr std::chrono::milliseconds kFirstBackoff{100};
constexpr std::chrono::milliseconds kMaxBackoff{5000};

timeval ToTimeval(std::chrono::milliseconds ms) {
  timeval tv;
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

// SCAN's MATCH is a glob: escape its special characters, then match the rest.
std::string GlobPrefix(std::string_view prefix) {
  std::string out;
  for (char c : prefix) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') out += '\\';
    out += c;
  }
  out += '*';
  return out;
}

}  // namespace

Status ParseRedisUrl(std::string_view url, RedisOptions* options) {
  std::string_view rest = url;
  if (rest.starts_with("redis://")) rest.remove_prefix(8);
  if (rest.ends_with("/")) rest.remove_suffix(1);
  if (rest.empty() || rest.find_first_of("/@?") != std::string_view::npos) {
    return InvalidArgumentError("redis URL '" + std::string(url) +
                                "': expected redis://HOST[:PORT] (no user, database or options)");
  }
  std::string_view host = rest;
  int port = 6379;
  if (size_t colon = rest.rfind(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    std::string_view digits = rest.substr(colon + 1);
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
    if (ec != std::errc() || end != digits.data() + digits.size() || port < 1 || port > 65535) {
      return InvalidArgumentError("redis URL '" + std::string(url) + "': bad port '" +
                                  std::string(digits) + "'");
    }
  }
  if (host.empty()) return InvalidArgumentError("redis URL '" + std::string(url) + "': no host");
  options->host = std::string(host);
  options->port = port;
  return OkStatus();
}

// A connection held for one call; returned to the pool (or closed, when a
// command on it failed) at the end of the scope.
class RedisStore::Lease {
 public:
  Lease(RedisStore* store, redisContext* context) : store_(store), context_(context) {}
  ~Lease() { store_->Release(context_, healthy_); }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;

  // Runs a command (argv form: binary-safe). On failure the connection is
  // dropped and the store backs off.
  StatusOr<Reply> Run(std::initializer_list<std::string_view> args) {
    return Run(std::vector<std::string_view>(args));
  }
  StatusOr<Reply> Run(const std::vector<std::string_view>& args) {
    std::vector<const char*> argv;
    std::vector<size_t> lengths;
    for (std::string_view a : args) {
      argv.push_back(a.data());
      lengths.push_back(a.size());
    }
    Reply reply(static_cast<redisReply*>(
        redisCommandArgv(context_, static_cast<int>(argv.size()), argv.data(), lengths.data())));
    if (!reply) {
      healthy_ = false;
      return store_->Failure(context_->errstr[0] != '\0' ? context_->errstr : "no reply");
    }
    if (reply->type == REDIS_REPLY_ERROR) {
      // The server answered: the connection is fine, the command was refused.
      return UnavailableError("redis: " + std::string(reply->str, reply->len));
    }
    return reply;
  }

  // Sends every command, then reads every reply: one round trip for the lot.
  StatusOr<std::vector<Reply>> Pipeline(
      const std::vector<std::vector<std::string_view>>& commands) {
    for (const auto& args : commands) {
      std::vector<const char*> argv;
      std::vector<size_t> lengths;
      for (std::string_view a : args) {
        argv.push_back(a.data());
        lengths.push_back(a.size());
      }
      if (redisAppendCommandArgv(context_, static_cast<int>(argv.size()), argv.data(),
                                 lengths.data()) != REDIS_OK) {
        healthy_ = false;
        return store_->Failure(context_->errstr[0] != '\0' ? context_->errstr : "cannot send");
      }
    }
    std::vector<Reply> replies;
    replies.reserve(commands.size());
    for (size_t i = 0; i < commands.size(); ++i) {
      void* raw = nullptr;
      if (redisGetReply(context_, &raw) != REDIS_OK || raw == nullptr) {
        healthy_ = false;
        return store_->Failure(context_->errstr[0] != '\0' ? context_->errstr : "no reply");
      }
      replies.emplace_back(static_cast<redisReply*>(raw));
      if (replies.back()->type == REDIS_REPLY_ERROR) {
        // The replies after it are unread: the connection is closed rather than
        // left out of step (the server is fine, so no back-off).
        healthy_ = false;
        return UnavailableError("redis: " + std::string(replies.back()->str, replies.back()->len));
      }
    }
    return replies;
  }

 private:
  RedisStore* store_;
  redisContext* context_;
  bool healthy_ = true;
};

RedisStore::RedisStore(RedisOptions options) : options_(std::move(options)) {}

RedisStore::~RedisStore() {
  std::unique_lock<std::mutex> lock(mu_);
  returned_.wait(lock, [&] { return static_cast<int>(idle_.size()) == open_; });
  for (redisContext* c : idle_) redisFree(c);
}

Status RedisStore::Failure(std::string what) {
  std::lock_guard<std::mutex> lock(mu_);
  // The idle connections went to the same server: after one broke, they are
  // most likely broken too (a restarted Redis), so none is reused.
  for (redisContext* c : idle_) redisFree(c);
  open_ -= static_cast<int>(idle_.size());
  idle_.clear();
  backoff_ = backoff_.count() == 0 ? kFirstBackoff : std::min(kMaxBackoff, backoff_ * 2);
  retry_at_ = std::chrono::steady_clock::now() + backoff_;
  return UnavailableError("redis " + options_.host + ":" + std::to_string(options_.port) + ": " +
                          what);
}

StatusOr<redisContext*> RedisStore::Acquire() {
  {
    std::unique_lock<std::mutex> lock(mu_);
    const auto now = std::chrono::steady_clock::now();
    if (now < retry_at_) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(retry_at_ - now).count();
      return UnavailableError("redis " + options_.host + ":" + std::to_string(options_.port) +
                              " is down; next try in " + std::to_string(left) + " ms");
    }
    returned_.wait(lock, [&] { return !idle_.empty() || open_ < options_.max_connections; });
    if (!idle_.empty()) {
      redisContext* c = idle_.back();
      idle_.pop_back();
      return c;
    }
    ++open_;  // reserved; connected outside the lock
  }
  redisContext* c = redisConnectWithTimeout(options_.host.c_str(), options_.port,
                                            ToTimeval(options_.connect_timeout));
  if (c == nullptr || c->err != 0 ||
      redisSetTimeout(c, ToTimeval(options_.command_timeout)) != REDIS_OK) {
    std::string what =
        c == nullptr ? "cannot allocate a connection" : std::string("connect: ") + c->errstr;
    if (c != nullptr) redisFree(c);
    {
      std::lock_guard<std::mutex> lock(mu_);
      --open_;
    }
    returned_.notify_one();
    return Failure(std::move(what));
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    backoff_ = std::chrono::milliseconds(0);
  }
  return c;
}

void RedisStore::Release(redisContext* context, bool healthy) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (healthy) {
      idle_.push_back(context);
    } else {
      redisFree(context);
      --open_;
    }
  }
  returned_.notify_one();
}

StatusOr<std::optional<std::string>> RedisStore::Get(std::string_view key) {
  auto context = Acquire();
  if (!context.ok()) return context.status();
  Lease lease(this, *context);
  auto reply = lease.Run({"GET", key});
  if (!reply.ok()) return reply.status();
  if ((*reply)->type == REDIS_REPLY_NIL) return std::optional<std::string>();
  if ((*reply)->type != REDIS_REPLY_STRING)
    return UnavailableError("redis: GET answered a non-string");
  return std::optional<std::string>(std::string((*reply)->str, (*reply)->len));
}

Status RedisStore::Set(std::string_view key, std::string_view value, int64_t ttl_ms) {
  auto context = Acquire();
  if (!context.ok()) return context.status();
  Lease lease(this, *context);
  const std::string ttl = std::to_string(std::max<int64_t>(1, ttl_ms));
  auto reply = lease.Run({"SET", key, value, "PX", ttl});
  return reply.ok() ? OkStatus() : reply.status();
}

Status RedisStore::Set(std::string_view key, std::string_view value) {
  auto context = Acquire();
  if (!context.ok()) return context.status();
  Lease lease(this, *context);
  auto reply = lease.Run({"SET", key, value});
  return reply.ok() ? OkStatus() : reply.status();
}

StatusOr<std::vector<bool>> RedisStore::Exists(std::span<const std::string> keys) {
  std::vector<bool> held(keys.size(), false);
  if (keys.empty()) return held;
  auto context = Acquire();
  if (!context.ok()) return context.status();
  Lease lease(this, *context);
  std::vector<std::vector<std::string_view>> commands;
  commands.reserve(keys.size());
  for (const std::string& key : keys) commands.push_back({"EXISTS", key});
  auto replies = lease.Pipeline(commands);
  if (!replies.ok()) return replies.status();
  for (size_t i = 0; i < keys.size(); ++i) {
    const redisReply* r = (*replies)[i].get();
    if (r->type != REDIS_REPLY_INTEGER)
      return UnavailableError("redis: EXISTS answered a non-integer");
    held[i] = r->integer > 0;
  }
  return held;
}

StatusOr<int64_t> RedisStore::DeleteByPrefix(std::string_view prefix) {
  auto context = Acquire();
  if (!context.ok()) return context.status();
  Lease lease(this, *context);
  const std::string pattern = GlobPrefix(prefix);
  std::string cursor = "0";
  int64_t deleted = 0;
  do {
    auto reply = lease.Run({"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"});
    if (!reply.ok()) return reply.status();
    const redisReply* r = reply->get();
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY) {
      return UnavailableError("redis: unexpected SCAN reply");
    }
    cursor.assign(r->element[0]->str, r->element[0]->len);
    const redisReply* keys = r->element[1];
    if (keys->elements == 0) continue;
    std::vector<std::string_view> unlink{"UNLINK"};
    for (size_t i = 0; i < keys->elements; ++i)
      unlink.emplace_back(keys->element[i]->str, keys->element[i]->len);
    auto unlinked = lease.Run(unlink);
    if (!unlinked.ok()) return unlinked.status();
    if ((*unlinked)->type != REDIS_REPLY_INTEGER)
      return UnavailableError("redis: unexpected UNLINK reply");
    deleted += (*unlinked)->integer;
  } while (cursor != "0");
  return deleted;
}

Status RedisStore::Ping() {
  auto context = Acquire();
  if (!context.ok()) return context.status();
  Lease lease(this, *context);
  auto reply = lease.Run({"PING"});
  return reply.ok() ? OkStatus() : reply.status();
}

Status RedisStore::Publish(std::string_view channel, std::string_view message) {
  auto context = Acquire();
  if (!context.ok()) return context.status();
  Lease lease(this, *context);
  auto reply = lease.Run({"PUBLISH", channel, message});
  return reply.ok() ? OkStatus() : reply.status();
}

RedisSubscriber::RedisSubscriber(RedisOptions options, std::string channel,
                                 std::function<void(std::string_view)> on_message,
                                 std::function<void()> on_subscribed)
    : options_(std::move(options)),
      channel_(std::move(channel)),
      on_message_(std::move(on_message)),
      on_subscribed_(std::move(on_subscribed)) {
  thread_ = std::thread([this] { Loop(); });
}

RedisSubscriber::~RedisSubscriber() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    // Wakes a thread blocked reading the subscription.
    if (context_ != nullptr) ::shutdown(context_->fd, SHUT_RDWR);
  }
  stopped_.notify_all();
  thread_.join();
}

int64_t RedisSubscriber::subscriptions() const {
  std::lock_guard<std::mutex> lock(mu_);
  return subscriptions_;
}

void RedisSubscriber::Loop() {
  std::chrono::milliseconds backoff{0};
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (stopped_.wait_for(lock, backoff, [&] { return stop_; })) return;
    }
    backoff = backoff.count() == 0 ? kFirstBackoff : std::min(kMaxBackoff, backoff * 2);
    redisContext* c = redisConnectWithTimeout(options_.host.c_str(), options_.port,
                                              ToTimeval(options_.connect_timeout));
    // Blocking reads without a timeout: a quiet channel is not a failure.
    if (c == nullptr || c->err != 0 || redisSetTimeout(c, timeval{0, 0}) != REDIS_OK) {
      if (c != nullptr) redisFree(c);
      continue;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) {
        redisFree(c);
        return;
      }
      context_ = c;
    }
    const char* argv[] = {"SUBSCRIBE", channel_.c_str()};
    const size_t lengths[] = {9, channel_.size()};
    Reply reply(static_cast<redisReply*>(redisCommandArgv(c, 2, argv, lengths)));
    if (reply && reply->type == REDIS_REPLY_ARRAY) {
      backoff = std::chrono::milliseconds(0);
      {
        std::lock_guard<std::mutex> lock(mu_);
        ++subscriptions_;
      }
      if (on_subscribed_) on_subscribed_();
      for (;;) {
        void* raw = nullptr;
        if (redisGetReply(c, &raw) != REDIS_OK) break;
        Reply message(static_cast<redisReply*>(raw));
        // ["message", channel, payload]
        if (message && message->type == REDIS_REPLY_ARRAY && message->elements == 3 &&
            message->element[2]->type == REDIS_REPLY_STRING) {
          on_message_(std::string_view(message->element[2]->str, message->element[2]->len));
        }
      }
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      context_ = nullptr;
    }
    redisFree(c);
  }
}

}  // namespace radixlm::store
