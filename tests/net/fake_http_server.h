// FakeHttpServer: an HTTP/1.1 server for client tests, on raw sockets at
// 127.0.0.1 (an ephemeral port), a thread per connection, keep-alive. The
// handler writes whatever bytes it likes, so it can answer well, stall, trickle
// or cut the connection. Not for production: requests must carry their body by
// Content-Length.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace radixlm::testing {

class FakeHttpServer {
 public:
  struct Request {
    std::string method;
    std::string path;
    std::string headers;  // the header block as sent, lower-cased
    std::string body;
    int peer_port = 0;  // the client's port: equal ports mean one kept connection
  };
  // Sends bytes to the client; false once the client is gone.
  using Write = std::function<bool(std::string_view bytes)>;
  // Answers one request; returns whether the connection stays open for the next.
  using Handler = std::function<bool(const Request&, const Write&)>;

  explicit FakeHttpServer(Handler handler) : handler_(std::move(handler)) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (listen_fd_ < 0 || bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        listen(listen_fd_, 256) != 0) {
      std::abort();
    }
    socklen_t len = sizeof(addr);
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { Accept(); });
  }

  ~FakeHttpServer() {
    stopping_ = true;
    shutdown(listen_fd_, SHUT_RDWR);
    acceptor_.join();
    close(listen_fd_);
    std::vector<std::thread> threads;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (int fd : fds_) shutdown(fd, SHUT_RDWR);
      threads.swap(threads_);
    }
    for (std::thread& t : threads) t.join();
  }

  int port() const { return port_; }
  // True once the server is being destroyed: handlers that stall poll it.
  bool stopping() const { return stopping_; }

 private:
  void Accept() {
    while (!stopping_) {
      sockaddr_in peer{};
      socklen_t len = sizeof(peer);
      const int fd = accept(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &len);
      if (fd < 0) return;
      std::lock_guard<std::mutex> lock(mu_);
      fds_.push_back(fd);
      threads_.emplace_back([this, fd, port = ntohs(peer.sin_port)] { Serve(fd, port); });
    }
  }

  void Serve(int fd, int peer_port) {
    std::string buffer;
    const Write write = [fd](std::string_view bytes) {
      while (!bytes.empty()) {
        const ssize_t n = send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n <= 0) return false;
        bytes.remove_prefix(static_cast<size_t>(n));
      }
      return true;
    };
    while (!stopping_) {
      size_t end;
      while ((end = buffer.find("\r\n\r\n")) == std::string::npos) {
        if (!Read(fd, &buffer)) return Close(fd);
      }
      Request request;
      request.peer_port = peer_port;
      request.headers = buffer.substr(0, end + 4);
      for (char& c : request.headers)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      const size_t sp1 = buffer.find(' ');
      const size_t sp2 = buffer.find(' ', sp1 + 1);
      request.method = buffer.substr(0, sp1);
      request.path = buffer.substr(sp1 + 1, sp2 - sp1 - 1);
      size_t body_bytes = 0;
      const size_t at = request.headers.find("content-length:");
      if (at != std::string::npos)
        body_bytes = std::strtoul(request.headers.c_str() + at + 15, nullptr, 10);
      buffer.erase(0, end + 4);
      while (buffer.size() < body_bytes) {
        if (!Read(fd, &buffer)) return Close(fd);
      }
      request.body = buffer.substr(0, body_bytes);
      buffer.erase(0, body_bytes);
      if (!handler_(request, write)) break;
    }
    Close(fd);
  }

  static bool Read(int fd, std::string* buffer) {
    char chunk[4096];
    const ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
    if (n <= 0) return false;
    buffer->append(chunk, static_cast<size_t>(n));
    return true;
  }

  void Close(int fd) {
    std::lock_guard<std::mutex> lock(mu_);
    shutdown(fd, SHUT_RDWR);
    close(fd);
    std::erase(fds_, fd);
  }

  Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<int> fds_;
  std::vector<std::thread> threads_;
};

}  // namespace radixlm::testing
