// Router: `radixlm route`, an OpenAI-compatible front for N replicas of
// `radixlm serve` that sends each request to the replica holding the longest
// cached prefix of its prompt, weighed against load (router/policy.h).
//
// What it knows of the replicas' caches: with events (each replica's
// --kv-events-endpoint given), exactly what they hold (router/event_subscriber.h
// into a BlockIndex, per medium: the device pool and the tiers below it, a page
// weighed by where it is); without, approximately: what it sent where
// (BlockIndex's Record). Prompts are tokenized and hashed as the replicas do
// (router/prompt_key.h).
//
// Requests. POST /v1/completions, /v1/chat/completions, /v1/embeddings are
// routed; GET /v1/models goes to any healthy replica; the body, the
// Authorization header, the status and the answer pass through unchanged
// (server-sent events are relayed chunk by chunk as they arrive). /health answers
// 200 while a replica is healthy (503 otherwise); /metrics is the router's own
// (Prometheus text: per replica routed requests, in flight, health, draining,
// indexed blocks, predicted and reported cached prompt tokens; decision time).
// POST /router/drain {"replica": URL} (Authorization: Bearer the admin key) stops
// new requests to a replica, its in-flight ones finish (the answer says how many
// are left); POST /router/undrain takes it back.
//
// A client that leaves before its answer, streamed or not, ends the upstream
// request too (its connection closes), so the replica stops generating and
// frees the request's pages; counted as cancelled in /metrics.
//
// Fail-over: a replica that refuses the connection, breaks it or answers 503
// before anything was relayed is marked unhealthy and the request is retried on
// the next choice (each replica at most once); once bytes of a stream were
// relayed a failure ends the stream with an error event (no client hangs: every
// upstream call has a deadline, `upstream_timeout_s`). A health check (GET
// /health every `health_interval_s`, 1 s deadline) marks replicas up and down; a
// replica going down has its blocks forgotten.
//
// I/O: Boost.Beast (header-only, as the server uses it) for the front, a thread
// per connection: the router's work per request is microseconds of hashing and a
// relay, and a blocking relay keeps streaming pass-through and client-disconnect
// handling simple; the project's libcurl client (net/http_client.h) upstream,
// because it already gives every call a whole-exchange deadline, keep-alive per
// thread and streamed bodies. Beast is included by router.cc only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "router/policy.h"

namespace radixlm::router {

struct ReplicaOptions {
  std::string url;     // http://HOST:PORT
  std::string events;  // tcp://HOST:PORT, its --kv-events-endpoint; empty: none
  std::string replay;  // its --kv-events-replay-endpoint; empty: none
};

struct RouterOptions {
  std::vector<ReplicaOptions> replicas;  // 1..64; all with events or none
  std::string model_dir;                 // the replicas' model (tokenizer, chat template)
  int page_size = 16;                    // the replicas' --page-size
  bool tenant_keys = false;              // replicas run with --api-key (namespaces by key)
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: any free port
  PolicyOptions policy;
  double health_interval_s = 1;
  double upstream_timeout_s = 600;
  size_t approx_capacity_blocks = 1 << 20;  // per replica, approximate mode
  int max_connections = 4096;
  std::string admin_key;  // opens POST /router/drain and /router/undrain; empty: closed
  // A cached page's weight by medium (block_index.h), overriding the defaults.
  std::map<std::string, double, std::less<>> medium_weights;
  Status Validate() const;
};

class Router {
 public:
  // Loads the tokenizer, connects to the replicas' events, binds the port.
  static StatusOr<std::unique_ptr<Router>> Create(const RouterOptions& options);
  ~Router();
  int port() const;
  bool approximate() const;
  // Serves until Stop (from any thread).
  Status Run();
  void Stop();
  struct Impl;

 private:
  explicit Router(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;  // shared with the connection threads
};

}  // namespace radixlm::router
