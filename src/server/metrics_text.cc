#include "server/metrics_text.h"

#include <charconv>
#include <cmath>

#include "respcache/response_cache.h"
#include "respcache/semantic_cache.h"

namespace radixlm::server {
namespace {

std::string Number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, r.ptr);
}

std::string Join(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  if (b.empty()) return a;
  return a + "," + b;
}

}  // namespace

std::string PrometheusText::Label(const std::string& key, const std::string& value) {
  std::string out = key + "=\"";
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out + "\"";
}

void PrometheusText::Family(const std::string& name, const char* type, const char* help) {
  out_ += "# HELP " + name + " " + help + "\n";
  out_ += "# TYPE " + name + " " + type + "\n";
}

void PrometheusText::Sample(const std::string& name, const std::string& labels, double value) {
  out_ += name;
  if (!labels.empty()) out_ += "{" + labels + "}";
  out_ += " " + Number(value) + "\n";
}

void PrometheusText::Histogram(const std::string& name, const char* help, const std::string& labels,
                               const HistogramSnapshot& h) {
  Family(name, "histogram", help);
  HistogramSeries(name, labels, h);
}

void PrometheusText::HistogramSeries(const std::string& name, const std::string& labels,
                                     const HistogramSnapshot& h) {
  uint64_t cumulative = 0;
  for (size_t i = 0; i < h.bounds.size(); ++i) {
    cumulative += i < h.counts.size() ? h.counts[i] : 0;
    Sample(name + "_bucket", Join(labels, Label("le", Number(h.bounds[i]))),
           static_cast<double>(cumulative));
  }
  // +Inf is the count itself, so the buckets always end where _count is.
  Sample(name + "_bucket", Join(labels, Label("le", "+Inf")), static_cast<double>(h.count));
  Sample(name + "_sum", labels, h.sum);
  Sample(name + "_count", labels, static_cast<double>(h.count));
}

namespace {

void FormatResponseCacheMetrics(const respcache::ResponseCache& cache,
                                const respcache::SemanticCache* semantic, PrometheusText* p) {
  std::vector<std::pair<std::string, const respcache::LayerStats*>> layers;
  auto add = [&](respcache::Layer l, const respcache::LayerStats& stats) {
    layers.emplace_back(PrometheusText::Label("layer", respcache::LayerName(l)), &stats);
  };
  add(respcache::Layer::kL1, cache.stats(respcache::Layer::kL1));
  if (cache.has_l2()) add(respcache::Layer::kL2, cache.stats(respcache::Layer::kL2));
  if (semantic != nullptr) add(respcache::Layer::kSemantic, semantic->stats());
  p->Family("radixlm:response_cache_hits_total", "counter",
            "Response-cache lookups answered, by layer.");
  for (const auto& [label, stats] : layers)
    p->Sample("radixlm:response_cache_hits_total", label, stats->hits.load());
  p->Family("radixlm:response_cache_misses_total", "counter",
            "Response-cache lookups not answered, by layer.");
  for (const auto& [label, stats] : layers) {
    p->Sample("radixlm:response_cache_misses_total", label, stats->misses.load());
  }
  p->Family("radixlm:response_cache_hit_seconds", "histogram",
            "Time of a response-cache lookup that hit (semantic: the embedding included).");
  for (const auto& [label, stats] : layers) {
    p->HistogramSeries("radixlm:response_cache_hit_seconds", label, stats->hit_seconds.Snapshot());
  }
  p->Family("radixlm:response_cache_miss_seconds", "histogram",
            "Time of a response-cache lookup that missed.");
  for (const auto& [label, stats] : layers) {
    p->HistogramSeries("radixlm:response_cache_miss_seconds", label,
                       stats->miss_seconds.Snapshot());
  }
  auto one = [&](const char* name, const char* type, const char* help, int64_t value) {
    p->Family(name, type, help);
    p->Sample(name, "", static_cast<double>(value));
  };
  one("radixlm:response_cache_stores_total", "counter", "Responses written to the response cache.",
      cache.stores());
  one("radixlm:response_cache_store_errors_total", "counter",
      "Redis errors and timeouts (the request went on without the store).", cache.store_errors());
  one("radixlm:response_cache_remote_flushes_total", "counter",
      "Flushes on other replicas applied to the in-process layer (Redis pub/sub).",
      cache.remote_flushes());
  one("radixlm:response_cache_l1_bytes", "gauge", "Bytes held by the in-process layer.",
      cache.l1_bytes());
  one("radixlm:response_cache_l1_capacity_bytes", "gauge", "The in-process layer's bound.",
      cache.l1_capacity_bytes());
  one("radixlm:response_cache_l1_entries", "gauge", "Responses held by the in-process layer.",
      cache.l1_entries());
  one("radixlm:response_cache_l1_evictions_total", "counter",
      "Entries the in-process layer dropped for space.", cache.l1_evictions());
  if (semantic != nullptr) {
    one("radixlm:response_cache_semantic_entries", "gauge", "Live vectors in the semantic index.",
        semantic->entries());
    one("radixlm:response_cache_embed_errors_total", "counter",
        "Embeddings the semantic cache could not get (the call went on as a miss).",
        semantic->embed_errors());
  }
}

}  // namespace

std::string FormatMetrics(const MetricsInput& in) {
  PrometheusText p;
  const engine::EngineSnapshot& s = in.snapshot;
  const std::string model = PrometheusText::Label("model_name", in.model_name);
  auto one = [&](const char* name, const char* type, const char* help, double value) {
    p.Family(name, type, help);
    p.Sample(name, model, value);
  };
  auto d = [](int64_t v) { return static_cast<double>(v); };

  one("radixlm:num_requests_running", "gauge", "Requests prefilling or decoding.",
      d(s.running_requests));
  one("radixlm:num_requests_waiting", "gauge", "Requests waiting to be admitted.",
      d(s.waiting_requests));
  one("radixlm:num_sequences_running", "gauge",
      "Sequences running (a request with n samples has n).", d(s.running_sequences));
  one("radixlm:kv_cache_usage_perc", "gauge",
      "Fraction of KV pages held by running sequences (1 = full; evictable cached pages count as "
      "free).",
      s.kv_usage());
  one("radixlm:prefix_cache_queries_total", "counter",
      "Prompt tokens looked up in the prefix cache.", d(s.cache.match_tokens));
  one("radixlm:prefix_cache_hits_total", "counter", "Prompt tokens found in the prefix cache.",
      d(s.cache.match_tokens_hit));
  one("radixlm:prefix_cache_hit_rate", "gauge",
      "prefix_cache_hits_total / prefix_cache_queries_total.",
      s.cache.match_tokens == 0 ? 0.0 : d(s.cache.match_tokens_hit) / d(s.cache.match_tokens));

  p.Family("radixlm:cache_pages", "gauge",
           "KV pages by state (free + cached + locked + in_use = total).");
  const std::pair<const char*, int64_t> states[] = {{"free", s.pages_free},
                                                    {"cached", s.pages_cached},
                                                    {"locked", s.pages_locked},
                                                    {"in_use", s.pages_in_use}};
  for (const auto& [state, pages] : states) {
    p.Sample("radixlm:cache_pages", Join(model, PrometheusText::Label("state", state)), d(pages));
  }
  one("radixlm:cache_pages_total", "gauge", "KV pages in the pool.", d(s.pages_total));
  one("radixlm:cache_page_size", "gauge", "Tokens per KV page.", d(s.page_size));
  one("radixlm:cache_tokens", "gauge", "Tokens held by the prefix cache.",
      d(s.cache.cached_tokens));
  one("radixlm:cache_namespaces", "gauge", "Prefix-cache namespaces in use.",
      d(s.cache.namespaces));
  one("radixlm:cache_evictions_total", "counter", "Prefix-cache entries evicted.",
      d(s.cache.evictions));
  one("radixlm:cache_pages_evicted_total", "counter", "KV pages freed by eviction.",
      d(s.cache.pages_evicted));
  one("radixlm:cache_cow_copies_total", "counter",
      "Matches ending inside a page (boundary page copied).", d(s.cache.cow_copies));
  one("radixlm:cache_flushed_pages_total", "counter", "KV pages freed by cache flushes.",
      d(s.cache.flushed_pages));
  one("radixlm:num_preemptions_total", "counter", "Running requests preempted for want of pages.",
      d(s.preemptions));
  one("radixlm:engine_steps_total", "counter", "Engine steps (forward passes).", d(s.steps));
  one("radixlm:engine_step_seconds_total", "counter", "Time inside engine steps.", s.step_seconds);
  p.Family("radixlm:engine_phase_seconds_total", "counter",
           "The engine thread's time by phase: schedule, launch, wait (for the device), process, "
           "release "
           "(inside steps), deliver (publishing results), idle (no work).");
  for (int phase = 0; phase < engine::kStepPhases; ++phase) {
    p.Sample(
        "radixlm:engine_phase_seconds_total",
        Join(model, PrometheusText::Label(
                        "phase", engine::StepPhaseName(static_cast<engine::StepPhase>(phase)))),
        s.phase_seconds[phase]);
  }
  const std::pair<const char*, double> outside_steps[] = {{"deliver", s.deliver_seconds},
                                                          {"idle", s.idle_seconds}};
  for (const auto& [phase, seconds] : outside_steps) {
    p.Sample("radixlm:engine_phase_seconds_total",
             Join(model, PrometheusText::Label("phase", phase)), seconds);
  }
  one("radixlm:device_busy_seconds_total", "counter",
      "The device's own time for the engine's steps (first kernel to last, by device events; the "
      "forward "
      "pass on the CPU backend).",
      s.device_seconds);
  one("radixlm:engine_overlap", "gauge",
      "1 when steps are planned while the device runs the previous one.", s.overlap ? 1.0 : 0.0);
  one("radixlm:prefix_cache_seconds_total", "counter",
      "Time inside prefix-cache calls during steps (ranking the queue, matching, inserting).",
      s.cache_seconds);
  one("radixlm:constrained_rows_total", "counter",
      "Rows sampled under a grammar's token mask (response_format, forced tool calls).",
      d(s.constrained_rows));
  one("radixlm:grammar_seconds_total", "counter",
      "The engine thread's time on constrained rows: token masks and grammar steps.",
      s.grammar_seconds);
  one("radixlm:prompt_tokens_total", "counter", "Prompt tokens of admitted requests.",
      d(s.prompt_tokens));
  one("radixlm:prompt_tokens_cached_total", "counter",
      "Prompt tokens served from the prefix cache.", d(s.cached_prompt_tokens));
  if (s.host_tier) {
    const engine::KvTierStats& t = s.tiers;
    const auto tier = Join(model, PrometheusText::Label("tier", "host"));
    const auto family = [&](const char* name, const char* type, const char* help, double value) {
      p.Family(name, type, help);
      p.Sample(name, tier, value);
    };
    family("radixlm:prompt_tokens_cached_by_tier_total", "counter",
           "Prompt tokens served from the prefix cache that were loaded from a tier below the "
           "device.",
           d(s.host_cached_prompt_tokens));
    family("radixlm:kv_tier_blocks", "gauge", "KV pages (blocks) a tier below the device holds.",
           d(t.host_blocks));
    family("radixlm:kv_tier_capacity_blocks", "gauge", "KV pages a tier below the device can hold.",
           d(t.host_capacity_blocks));
    family("radixlm:kv_tier_loaded_blocks_total", "counter",
           "KV pages loaded from a tier into the device pool (prefix hits below the device).",
           d(t.loaded_blocks));
    family("radixlm:kv_tier_written_blocks_total", "counter",
           "KV pages written from the device to a tier (write-through).", d(t.written_blocks));
    family("radixlm:kv_tier_loaded_bytes_total", "counter",
           "Bytes moved from a tier to the device.", d(t.loaded_blocks * t.block_bytes));
    family("radixlm:kv_tier_written_bytes_total", "counter",
           "Bytes moved from the device to a tier.", d(t.written_blocks * t.block_bytes));
    family("radixlm:kv_tier_evicted_blocks_total", "counter",
           "KV pages a tier dropped to make room.", d(t.evicted_blocks));
    family("radixlm:kv_tier_refused_blocks_total", "counter",
           "KV pages a tier's admission turned away (second-hit).", d(t.refused_blocks));
    family("radixlm:kv_tier_copy_seconds_total", "counter",
           "The engine thread's time making (CPU) or enqueueing (GPU) tier copies.",
           static_cast<double>(t.copy_ns) / 1e9);
    if (!t.store.empty()) {
      const auto store = Join(model, PrometheusText::Label("tier", t.store));
      const auto sfamily = [&](const char* name, const char* type, const char* help, double v) {
        p.Family(name, type, help);
        p.Sample(name, store, v);
      };
      sfamily("radixlm:kv_store_loaded_blocks_total", "counter",
              "KV pages read from the disk or Redis tier into the host tier.",
              d(t.store_loaded_blocks));
      sfamily("radixlm:kv_store_put_blocks_total", "counter",
              "KV pages handed to the disk or Redis tier to store.", d(t.store_put_blocks));
      sfamily("radixlm:kv_store_loading_blocks", "gauge",
              "KV pages being read from the disk or Redis tier now.", d(t.store_loading_blocks));
      sfamily("radixlm:kv_store_misses_total", "counter",
              "Reads of the disk or Redis tier that found no block.", d(t.store_misses));
      sfamily("radixlm:kv_store_defects_total", "counter",
              "Blocks read from the disk or Redis tier that failed a check (torn, corrupt, "
              "another model's): misses, never served.",
              d(t.store_defects));
      sfamily("radixlm:kv_store_errors_total", "counter",
              "Disk or Redis failures while reading or writing blocks (misses, dropped writes).",
              d(t.store_read_errors + t.store_write_errors));
      sfamily("radixlm:kv_store_dropped_puts_total", "counter",
              "Blocks not stored because the disk or Redis write queue was full.",
              d(t.store_dropped_puts));
      if (t.store_blocks >= 0) {
        sfamily("radixlm:kv_tier_blocks_stored", "gauge", "KV pages the disk tier holds.",
                d(t.store_blocks));
      }
    }
  }
  one("radixlm:prompt_tokens_computed_total", "counter",
      "Prompt tokens prefilled (recomputation after preemption included).",
      d(s.computed_prompt_tokens));
  one("radixlm:generation_tokens_total", "counter", "Generated tokens.", d(s.generation_tokens));

  p.Family("radixlm:request_success_total", "counter", "Finished requests by finish reason.");
  const std::pair<const char*, int64_t> reasons[] = {{"stop", s.requests_stop},
                                                     {"length", s.requests_length},
                                                     {"abort", s.requests_cancelled},
                                                     {"error", s.requests_error}};
  for (const auto& [reason, count] : reasons) {
    p.Sample("radixlm:request_success_total",
             Join(model, PrometheusText::Label("finished_reason", reason)), d(count));
  }

  if (in.pins) {
    const kvcache::PinStats& pins = *in.pins;
    one("radixlm:cache_pins", "gauge", "Live pins (cache_control) on cached prefixes.",
        d(pins.pins));
    p.Family(
        "radixlm:cache_pinned_pages", "gauge",
        "KV pages held by pins: pinned (locked in the cache) or reserved (the pinning request has "
        "not cached the prefix yet).");
    p.Sample("radixlm:cache_pinned_pages", Join(model, PrometheusText::Label("state", "pinned")),
             d(pins.pages_pinned));
    p.Sample("radixlm:cache_pinned_pages", Join(model, PrometheusText::Label("state", "reserved")),
             d(pins.pages_reserved));
    p.Family(
        "radixlm:cache_pinned_pages_by_tenant", "gauge",
        "KV pages held by each tenant's pins (pinned and reserved; tenant \"\" without API keys).");
    for (const auto& [tenant, pages] : pins.pages_by_owner) {
      p.Sample("radixlm:cache_pinned_pages_by_tenant",
               Join(model, PrometheusText::Label("tenant", tenant)), d(pages));
    }
    p.Family(
        "radixlm:cache_pinned_pages_budget", "gauge",
        "Pinned pages allowed: per tenant (serve --max-pinned-pages-per-tenant) and for the server "
        "(--max-pinned-pages).");
    p.Sample("radixlm:cache_pinned_pages_budget",
             Join(model, PrometheusText::Label("scope", "tenant")),
             d(in.pin_options.max_pages_per_owner));
    p.Sample("radixlm:cache_pinned_pages_budget",
             Join(model, PrometheusText::Label("scope", "server")),
             d(in.pin_options.max_pages_total));
  }

  one("radixlm:cache_tree_summaries_total", "counter",
      "Summaries of the prefix cache made for /v1/cache/tree (each walks the cache on the step "
      "thread).",
      d(in.tree_summaries));
  one("radixlm:cache_tree_shared_total", "counter",
      "/v1/cache/tree answers given from a summary made for an earlier call.", d(in.tree_shared));
  one("radixlm:cache_tree_summary_seconds_total", "counter",
      "Step-thread seconds spent summarizing the prefix cache for /v1/cache/tree.",
      in.tree_summary_seconds);
  p.Histogram("radixlm:time_to_first_token_seconds", "Time to first token.", model, in.ttft);
  p.Histogram("radixlm:inter_token_latency_seconds", "Time between consecutive tokens.", model,
              in.inter_token_latency);
  p.Histogram("radixlm:e2e_request_latency_seconds", "Request latency, arrival to finish.", model,
              in.e2e_latency);
  p.Histogram("radixlm:request_queue_time_seconds", "Time waiting before admission.", model,
              in.queue_time);
  p.Family("radixlm:step_device_seconds", "histogram",
           "The device's own time per engine step, by kind: decode tokens only, decode beside "
           "prefill chunks (mixed), prefill only.");
  p.Family("radixlm:step_interval_seconds", "histogram",
           "Wall time per engine step, by kind, from its launch (or the previous step's end, "
           "when launched before it) to its end: the cadence decoding streams follow.");
  for (int k = 0; k < engine::kStepKinds; ++k) {
    const std::string label =
        Join(model,
             PrometheusText::Label("kind", engine::StepKindName(static_cast<engine::StepKind>(k))));
    p.HistogramSeries("radixlm:step_device_seconds", label, in.step_device[k]);
  }
  for (int k = 0; k < engine::kStepKinds; ++k) {
    const std::string label =
        Join(model,
             PrometheusText::Label("kind", engine::StepKindName(static_cast<engine::StepKind>(k))));
    p.HistogramSeries("radixlm:step_interval_seconds", label, in.step_interval[k]);
  }

  if (in.response_cache != nullptr)
    FormatResponseCacheMetrics(*in.response_cache, in.semantic_cache, &p);

  p.Family("radixlm:http_requests_total", "counter", "HTTP responses by status code.");
  for (const auto& [code, count] : in.http_requests) {
    p.Sample("radixlm:http_requests_total", PrometheusText::Label("code", std::to_string(code)),
             d(count));
  }
  return p.str();
}

}  // namespace radixlm::server
