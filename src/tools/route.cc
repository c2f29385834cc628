// `radixlm route`: wiring of router/router.h to the command line.
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "router/router.h"
#include "tools/cli_util.h"
#include "tools/commands.h"

namespace radixlm::tools {

int RunRoute(const RouteOptions& o) {
  // SIGINT/SIGTERM are taken by sigwait below; blocked before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  RaiseOpenFilesLimit();

  if (!o.replica_events.empty() && o.replica_events.size() != o.replicas.size()) {
    return Fail(InvalidArgumentError(
        "give one --replica-events per --replica (" + std::to_string(o.replicas.size()) +
        " replicas, " + std::to_string(o.replica_events.size()) + " events endpoints)"));
  }
  if (!o.replica_replay.empty() && o.replica_replay.size() != o.replicas.size()) {
    return Fail(InvalidArgumentError("give one --replica-replay per --replica"));
  }
  router::RouterOptions ro;
  for (size_t i = 0; i < o.replicas.size(); ++i) {
    router::ReplicaOptions r;
    r.url = o.replicas[i];
    if (!o.replica_events.empty()) r.events = o.replica_events[i];
    if (!o.replica_replay.empty()) r.replay = o.replica_replay[i];
    ro.replicas.push_back(r);
  }
  ro.model_dir = o.model;
  ro.page_size = o.page_size;
  ro.tenant_keys = o.tenant_keys;
  ro.host = o.host;
  ro.port = o.port;
  ro.policy.spill_bound = o.spill_bound;
  if (o.policy != "cache-aware" && o.policy != "round-robin") {
    return Fail(InvalidArgumentError("--policy must be cache-aware or round-robin, not '" +
                                     o.policy + "'"));
  }
  ro.policy.round_robin = o.policy == "round-robin";
  ro.health_interval_s = o.health_interval_s;
  ro.upstream_timeout_s = o.upstream_timeout_s;
  ro.admin_key = o.admin_key;
  for (const std::string& w : o.medium_weights) {
    const size_t eq = w.find('=');
    char* end = nullptr;
    const double weight = eq == std::string::npos ? -1 : std::strtod(w.c_str() + eq + 1, &end);
    if (eq == std::string::npos || eq == 0 || end == w.c_str() + eq + 1 || *end != '\0') {
      return Fail(InvalidArgumentError(
          "--medium-weight must be NAME=WEIGHT (e.g. DISK=0.5), not '" + w + "'"));
    }
    ro.medium_weights[w.substr(0, eq)] = weight;
  }
  auto router = router::Router::Create(ro);
  if (!router.ok()) return Fail(router.status());
  std::printf("radixlm route: %zu replicas, %s\n", ro.replicas.size(),
              (*router)->approximate() ? "approximate (no KV events: what the router sent where)"
                                       : "exact (KV events)");
  std::printf("radixlm route: listening on http://%s:%d\n", o.host.c_str(), (*router)->port());
  std::fflush(stdout);
  Status run_status;
  std::thread listener([&] { run_status = (*router)->Run(); });
  int sig = 0;
  sigwait(&signals, &sig);
  (*router)->Stop();
  listener.join();
  if (!run_status.ok()) return Fail(run_status);
  std::printf("radixlm route: stopped\n");
  return 0;
}

}  // namespace radixlm::tools
