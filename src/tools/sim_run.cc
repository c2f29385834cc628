// radixlm sim run: the simulator over every (policy, admission, capacity, tiers).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/json_writer.h"
#include "kvcache/eviction_policy.h"
#include "report/html_report.h"
#include "report/svg_chart.h"
#include "sim/infinite_cache.h"
#include "sim/simulator.h"
#include "sim/workloads.h"
#include "tools/commands.h"

namespace radixlm::tools {

using report::RenderSvg;
using report::SvgPanel;
using report::SvgSeries;
namespace {

struct RunFigures {
  std::string policy;
  std::string admission;
  int64_t capacity_tokens = 0;
  int64_t host_tokens = 0;  // tiers below the device (0: none)
  int64_t disk_tokens = 0;
  sim::SimResult result;
  std::vector<double> ttft_ms;
  std::vector<double> load_wait_ms;  // requests that loaded pages from a tier
  double Ttft(double q) const { return sim::Quantile(ttft_ms, q); }
  bool tiered() const { return host_tokens > 0 || disk_tokens > 0; }
  int64_t total_tokens() const { return capacity_tokens + host_tokens + disk_tokens; }
  // Tokens served from the level (0 device, then host and disk as configured).
  double LevelRate(const std::string& name) const {
    const sim::SimResult& r = result;
    if (r.hits.prompt_tokens == 0) return 0;
    int64_t tokens = name == "device" ? r.cached_by_level[0] : 0;
    for (const sim::TierFigures& t : r.tiers) {
      if (t.name == name) tokens = t.hit_tokens;
    }
    return static_cast<double>(tokens) / static_cast<double>(r.hits.prompt_tokens);
  }
  const sim::TierFigures* Tier(const std::string& name) const {
    for (const sim::TierFigures& t : result.tiers) {
      if (t.name == name) return &t;
    }
    return nullptr;
  }
};

// A tier capacity in tokens: "16000000", "16M", "500K", or KV memory ("64GiB",
// "512MiB", "1TiB") at `bytes_per_token` (nullptr: --model is bad).
StatusOr<int64_t> ParseTierCapacity(const std::string& text,
                                    const StatusOr<double>& bytes_per_token, int32_t page_size) {
  double value = 0;
  size_t used = 0;
  try {
    value = std::stod(text, &used);
  } catch (...) {
    used = 0;
  }
  const std::string unit = text.substr(used);
  const std::string bad =
      "bad tier capacity '" + text + "' (tokens, e.g. 16000000 or 16M, or memory, e.g. 64GiB)";
  if (used == 0 || !(value >= 0) || !std::isfinite(value)) return InvalidArgumentError(bad);
  double tokens = 0;
  if (unit.empty() || unit == "K" || unit == "M" || unit == "G") {
    tokens = value * (unit == "K" ? 1e3 : unit == "M" ? 1e6 : unit == "G" ? 1e9 : 1);
  } else if (unit == "MiB" || unit == "GiB" || unit == "TiB") {
    if (!bytes_per_token.ok()) return bytes_per_token.status();
    const double scale = unit == "MiB" ? 1 << 20 : unit == "GiB" ? 1 << 30 : 1099511627776.0;
    tokens = value * scale / *bytes_per_token;
  } else {
    return InvalidArgumentError(bad);
  }
  if (tokens > 1e15) return InvalidArgumentError(bad);
  const int64_t pages = static_cast<int64_t>(tokens) / page_size;
  if (value > 0 && pages == 0) {
    return InvalidArgumentError("tier capacity '" + text + "' is smaller than one page");
  }
  if (pages >= (int64_t{1} << 31)) {
    return InvalidArgumentError("tier capacity '" + text + "' is over 2^31 pages");
  }
  return pages * page_size;
}

// KV bytes per token: 2 (K and V) x layers x KV heads x head dim x bytes per value.
StatusOr<double> KvBytesPerToken(const std::string& model) {
  if (model == "llama3-8b") return 2.0 * 32 * 8 * 128 * 2;
  if (model == "llama3-70b") return 2.0 * 80 * 8 * 128 * 2;
  if (model == "qwen2.5-7b") return 2.0 * 28 * 4 * 128 * 2;
  // LAYERS:KV_HEADS:HEAD_DIM:DTYPE, e.g. 32:8:128:bf16.
  long layers = 0, heads = 0, dim = 0;
  char dtype[16] = {0};
  if (std::sscanf(model.c_str(), "%ld:%ld:%ld:%15s", &layers, &heads, &dim, dtype) == 4 &&
      layers > 0 && heads > 0 && dim > 0) {
    const std::string t = dtype;
    double bytes = t == "fp32" || t == "f32"   ? 4
                   : t == "bf16" || t == "f16" ? 2
                   : t == "fp8" || t == "int8" ? 1
                                               : 0;
    if (bytes > 0) return 2.0 * static_cast<double>(layers * heads * dim) * bytes;
  }
  return InvalidArgumentError("unknown --model '" + model +
                              "' (llama3-8b, llama3-70b, qwen2.5-7b, or LAYERS:KV_HEADS:HEAD_DIM:"
                              "DTYPE with DTYPE fp32, bf16, f16, fp8 or int8)");
}

int Fail(const Status& status) {
  std::fprintf(stderr, "radixlm sim run: %s\n", status.message().c_str());
  return 2;
}

void WriteQuantiles(JsonWriter& w, const char* name, const std::vector<double>& values) {
  w.Key(name);
  w.BeginObject();
  for (auto [label, q] :
       {std::pair<const char*, double>{"p50", 0.5}, {"p90", 0.9}, {"p99", 0.99}}) {
    w.Key(label);
    w.Double(sim::Quantile(values, q));
  }
  w.EndObject();
}

void WriteTiers(JsonWriter& w, const RunFigures& f, int32_t page_size) {
  const sim::SimResult& r = f.result;
  w.Key("host_capacity_tokens");
  w.Int(f.host_tokens);
  w.Key("disk_capacity_tokens");
  w.Int(f.disk_tokens);
  w.Key("device_hit_tokens");
  w.Int(r.cached_by_level[0]);
  w.Key("device_hit_rate");
  w.Double(f.LevelRate("device"));
  w.Key("requests_loaded");
  w.Int(r.requests_loaded);
  WriteQuantiles(w, "load_wait_ms", f.load_wait_ms);
  w.Key("evicted_pages_kept");
  w.Int(r.evicted_pages_kept);
  w.Key("evicted_pages_lost");
  w.Int(r.evicted_pages_lost);
  w.Key("tiers");
  w.BeginArray();
  for (const sim::TierFigures& t : r.tiers) {
    w.BeginObject();
    w.Key("name");
    w.String(t.name);
    w.Key("capacity_tokens");
    w.Int(t.capacity_pages * page_size);
    w.Key("admission");
    w.String(t.admission);
    w.Key("hit_tokens");
    w.Int(t.hit_tokens);
    w.Key("hit_rate");
    w.Double(f.LevelRate(t.name));
    w.Key("pages_loaded");
    w.Int(t.pages_loaded);
    w.Key("bytes_loaded");
    w.Double(t.bytes_loaded);
    w.Key("pages_written");
    w.Int(t.pages_written);
    w.Key("bytes_written");
    w.Double(t.bytes_written);
    w.Key("link_busy_load_s");
    w.Double(t.busy_up_s);
    w.Key("link_busy_write_s");
    w.Double(t.busy_down_s);
    w.Key("blocks_stored");
    w.Int(t.stats.blocks_stored);
    w.Key("blocks_refused");
    w.Int(t.stats.blocks_refused);
    w.Key("blocks_evicted");
    w.Int(t.stats.blocks_evicted);
    w.Key("blocks_dropped");
    w.Int(t.stats.blocks_dropped);
    w.Key("peak_tokens");
    w.Int(t.stats.peak_blocks * page_size);
    w.EndObject();
  }
  w.EndArray();
}

void WriteRun(JsonWriter& w, const RunFigures& f, double infinite, double oracle,
              int32_t page_size) {
  const sim::SimResult& r = f.result;
  std::vector<double> tpot, e2e;
  for (const sim::RequestRecord& rec : r.records) {
    if (rec.finish_s <= 0) continue;
    e2e.push_back((rec.finish_s - rec.arrival_s) * 1e3);
    if (rec.output_tokens > 1) {
      tpot.push_back((rec.finish_s - rec.first_token_s) * 1e3 /
                     static_cast<double>(rec.output_tokens - 1));
    }
  }
  w.BeginObject();
  w.Key("policy");
  w.String(f.policy);
  w.Key("admission");
  w.String(f.admission);
  w.Key("capacity_tokens");
  w.Int(f.capacity_tokens);
  w.Key("token_hit_rate");
  w.Double(r.hits.token_hit_rate());
  w.Key("request_hit_rate");
  w.Double(r.hits.request_hit_rate());
  w.Key("fraction_of_infinite");
  w.Double(infinite > 0 ? r.hits.token_hit_rate() / infinite : 0);
  w.Key("oracle_token_hit_rate");
  w.Double(oracle);
  w.Key("fraction_of_oracle");
  w.Double(oracle > 0 ? r.hits.token_hit_rate() / oracle : 0);
  w.Key("prefill_tokens_computed");
  w.Int(r.prefill_tokens_computed);
  w.Key("prefill_tokens_saved");
  w.Int(r.prefill_tokens_saved);
  WriteQuantiles(w, "ttft_ms", f.ttft_ms);
  WriteQuantiles(w, "tpot_ms", tpot);
  WriteQuantiles(w, "e2e_ms", e2e);
  w.Key("output_tokens_per_s");
  w.Double(r.duration_s > 0 ? static_cast<double>(r.output_tokens) / r.duration_s : 0);
  w.Key("requests_per_s");
  w.Double(r.duration_s > 0 ? static_cast<double>(r.hits.requests) / r.duration_s : 0);
  w.Key("evicted_pages");
  w.Int(r.evicted_pages);
  w.Key("preemptions");
  w.Int(r.preemptions);
  w.Key("dropped_requests");
  w.Int(r.dropped_requests);
  w.Key("peak_pages_in_use");
  w.Int(r.peak_pages_in_use);
  w.Key("steps");
  w.Int(r.steps);
  w.Key("hit_rate_by_namespace");
  w.BeginObject();
  for (const auto& [ns, hits] : r.hits_by_namespace) {
    w.Key(ns);
    w.Double(hits.token_hit_rate());
  }
  w.EndObject();
  WriteTiers(w, f, page_size);
  w.EndObject();
}

}  // namespace

int RunSimRun(const SimRunOptions& o) {
  // The trace: from a file or generated.
  sim::Trace trace;
  std::string source;
  if (!o.trace.empty()) {
    sim::TraceReadOptions read;
    read.block_tokens = o.block_tokens;
    read.skip_bad = o.skip_bad;
    auto loaded = sim::ReadTrace(o.trace, read);
    if (!loaded.ok()) return Fail(loaded.status());
    trace = std::move(loaded).value();
    source = o.trace;
  } else if (!o.generate.workload.empty()) {
    sim::WorkloadOptions w;
    w.name = o.generate.workload;
    w.seed = o.generate.seed;
    w.requests = o.generate.requests;
    w.rate = o.generate.rate;
    auto generated = sim::GenerateWorkload(w);
    if (!generated.ok()) return Fail(generated.status());
    trace = std::move(generated).value();
    source = "workload " + o.generate.workload;
  } else {
    return Fail(InvalidArgumentError("give --trace FILE or --workload NAME"));
  }
  if (o.time_scale != 1) {
    for (sim::TraceRequest& r : trace.requests) r.arrival_s *= o.time_scale;
  }
  auto profile = sim::LoadCostProfile(o.profile);
  if (!profile.ok()) return Fail(profile.status());
  for (const std::string& p : o.policies) {
    if (p == "oracle") continue;
    if (auto s = kvcache::CreateEvictionPolicy(p); !s.ok()) return Fail(s.status());
  }
  // The offline oracle runs at every capacity as the bound (with admission "all").
  std::vector<std::pair<std::string, std::string>> combos = {{"oracle", "all"}};
  for (const std::string& admission : o.admissions) {
    for (const std::string& policy : o.policies) {
      if (policy != "oracle" || admission != "all") combos.emplace_back(policy, admission);
    }
  }
  for (const std::string& a : o.admissions) {
    kvcache::AdmissionOptions admission;
    admission.policy = a;
    if (Status s = admission.Validate(); !s.ok()) return Fail(s);
  }

  std::fprintf(stderr, "radixlm sim run: %s, %zu requests\n", source.c_str(),
               trace.requests.size());
  auto infinite = sim::ReplayInfiniteCache(trace, o.page_size);
  if (!infinite.ok()) return Fail(infinite.status());
  const double infinite_rate = infinite->token_hit_rate();

  // Capacities, in tokens, rounded to whole pages.
  const StatusOr<double> kv_bytes = KvBytesPerToken(o.model);
  std::vector<int64_t> capacities = o.capacity_tokens;
  for (int64_t pages : o.capacity_pages) capacities.push_back(pages * o.page_size);
  if (!o.capacity_gib.empty()) {
    if (!kv_bytes.ok()) return Fail(kv_bytes.status());
    for (double gib : o.capacity_gib) {
      capacities.push_back(static_cast<int64_t>(gib * (1 << 30) / *kv_bytes));
    }
  }
  // The tiers below the device: every (host, disk) pair of capacities.
  std::vector<int64_t> host_sizes, disk_sizes;
  for (const auto& [texts, sizes] :
       {std::pair{&o.host_capacity, &host_sizes}, std::pair{&o.disk_capacity, &disk_sizes}}) {
    for (const std::string& text : *texts) {
      auto tokens = ParseTierCapacity(text, kv_bytes, o.page_size);
      if (!tokens.ok()) return Fail(tokens.status());
      sizes->push_back(*tokens);
    }
    if (sizes->empty()) sizes->push_back(0);
    std::sort(sizes->begin(), sizes->end());
    sizes->erase(std::unique(sizes->begin(), sizes->end()), sizes->end());
  }
  const bool any_tier = host_sizes.back() > 0 || disk_sizes.back() > 0;
  if (any_tier && !kv_bytes.ok()) return Fail(kv_bytes.status());
  sim::SimTierOptions host_tier{0, o.host_admission, o.host_bandwidth_gbs * 1e9,
                                o.host_latency_us * 1e-6};
  const bool redis = o.disk_kind == "redis";
  sim::SimTierOptions disk_tier{0, o.disk_admission,
                                o.disk_bandwidth_gbs > 0 ? o.disk_bandwidth_gbs * 1e9
                                : redis                  ? sim::kRedisBandwidth
                                                         : sim::kDiskBandwidth,
                                o.disk_latency_us >= 0 ? o.disk_latency_us * 1e-6
                                : redis                ? sim::kRedisLatency
                                                       : sim::kDiskLatency};
  if (capacities.empty()) {
    int64_t footprint = infinite->prompt_tokens - infinite->cached_tokens;
    for (int64_t div : {16, 8, 4, 2, 1})
      capacities.push_back(std::max<int64_t>(footprint / div, 1));
  }
  std::sort(capacities.begin(), capacities.end());
  capacities.erase(std::unique(capacities.begin(), capacities.end()), capacities.end());
  for (int64_t c : capacities) {
    if (c < o.page_size) return Fail(InvalidArgumentError("a capacity is smaller than one page"));
  }

  std::vector<RunFigures> runs;
  const size_t total = combos.size() * capacities.size() * host_sizes.size() * disk_sizes.size();
  for (const auto& [policy, admission] : combos) {
    for (int64_t host_tokens : host_sizes) {
      for (int64_t disk_tokens : disk_sizes) {
        for (int64_t capacity : capacities) {
          sim::SimOptions options;
          options.host = host_tier;
          options.host.capacity_pages = host_tokens / o.page_size;
          options.disk = disk_tier;
          options.disk.capacity_pages = disk_tokens / o.page_size;
          if (kv_bytes.ok()) options.kv_bytes_per_token = *kv_bytes;
          options.tier_loads_when_faster = o.tier_loads == "when-faster";
          options.page_size = o.page_size;
          options.capacity_pages = capacity / o.page_size;
          options.eviction = policy;
          options.admission.policy = admission;
          options.token_budget = o.token_budget;
          options.max_prefill_tokens = o.max_prefill_tokens;
          options.prefill_attention_span = o.prefill_attention_span;
          options.max_running = o.max_running;
          options.fairness_bound = std::chrono::milliseconds(o.fairness_bound_ms);
          options.touch_waiting = o.waiting_prefixes == "touch";
          options.profile = *profile;
          int64_t start = RealClock::Get().NowNanos();
          auto result = sim::Simulate(trace, options);
          if (!result.ok()) return Fail(result.status());
          RunFigures f;
          f.policy = policy;
          f.admission = admission;
          f.capacity_tokens = options.capacity_pages * o.page_size;
          f.host_tokens = host_tokens;
          f.disk_tokens = disk_tokens;
          f.result = std::move(result).value();
          for (const sim::RequestRecord& rec : f.result.records) {
            if (rec.finish_s > 0) f.ttft_ms.push_back((rec.first_token_s - rec.arrival_s) * 1e3);
            if (rec.cached_tokens > rec.cached_by_level[0]) {
              f.load_wait_ms.push_back(rec.load_wait_s * 1e3);
            }
          }
          runs.push_back(std::move(f));
          std::fprintf(stderr, "  [%zu/%zu] %s/%s, %lld tokens%s: hit rate %.4f (%.1f s)\n",
                       runs.size(), total, policy.c_str(), admission.c_str(),
                       static_cast<long long>(runs.back().capacity_tokens),
                       runs.back().tiered() ? (" + host " + std::to_string(host_tokens) +
                                               " + disk " + std::to_string(disk_tokens))
                                                  .c_str()
                                            : "",
                       runs.back().result.hits.token_hit_rate(),
                       static_cast<double>(RealClock::Get().NowNanos() - start) / 1e9);
        }
      }
    }
  }

  // The oracle's run with the same capacities.
  auto oracle_rate = [&](const RunFigures& of) {
    for (const RunFigures& f : runs) {
      if (f.policy == "oracle" && f.capacity_tokens == of.capacity_tokens &&
          f.host_tokens == of.host_tokens && f.disk_tokens == of.disk_tokens)
        return f.result.hits.token_hit_rate();
    }
    return 0.0;
  };
  std::printf("%s: %zu requests, page size %d, profile %s, time scale %g\n", source.c_str(),
              trace.requests.size(), o.page_size, profile->name.c_str(), o.time_scale);
  std::printf("infinite cache: %.4f of prompt tokens, %.2f%% of requests hit\n\n", infinite_rate,
              100.0 * infinite->request_hit_rate());
  // The table, as text here and as HTML with --html.
  std::vector<std::vector<std::string>> table = {
      {"policy/admission", "capacity", "hit", "req hit", "of orac.", "of inf.", "prefill comp.",
       "TTFT p50", "TTFT p99", "out tok/s", "evicted", "preempt", "dropped"}};
  // With tiers: their capacities, the hit rate by level, the bytes each way.
  if (any_tier) {
    for (const char* h : {"host", "disk", "dev hit", "host hit", "disk hit", "load p50", "load p99",
                          "to dev GB", "from dev GB", "to disk GB"})
      table[0].push_back(h);
  }
  auto cell = [](const char* format, auto value) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), format, value);
    return std::string(buf);
  };
  for (const RunFigures& f : runs) {
    const sim::SimResult& r = f.result;
    const double oracle = oracle_rate(f);
    table.push_back(
        {f.policy + "/" + f.admission, cell("%lld", static_cast<long long>(f.capacity_tokens)),
         cell("%.4f", r.hits.token_hit_rate()), cell("%.4f", r.hits.request_hit_rate()),
         cell("%.1f%%", oracle > 0 ? 100.0 * r.hits.token_hit_rate() / oracle : 0.0),
         cell("%.1f%%", infinite_rate > 0 ? 100.0 * r.hits.token_hit_rate() / infinite_rate : 0.0),
         cell("%lld", static_cast<long long>(r.prefill_tokens_computed)),
         cell("%.1fms", f.Ttft(0.5)), cell("%.1fms", f.Ttft(0.99)),
         cell("%.0f", r.duration_s > 0 ? static_cast<double>(r.output_tokens) / r.duration_s : 0.0),
         cell("%lld", static_cast<long long>(r.evicted_pages)),
         cell("%lld", static_cast<long long>(r.preemptions)),
         cell("%lld", static_cast<long long>(r.dropped_requests))});
    if (any_tier) {
      double to_device = 0;
      for (const sim::TierFigures& t : r.tiers) to_device += t.bytes_loaded;
      const sim::TierFigures* host = f.Tier("host");
      const sim::TierFigures* disk = f.Tier("disk");
      // Bytes off the device go to the first tier below it.
      const sim::TierFigures* first = host != nullptr ? host : disk;
      std::vector<std::string>& row = table.back();
      for (std::string c :
           {cell("%lld", static_cast<long long>(f.host_tokens)),
            cell("%lld", static_cast<long long>(f.disk_tokens)),
            cell("%.4f", f.LevelRate("device")), cell("%.4f", f.LevelRate("host")),
            cell("%.4f", f.LevelRate("disk")), cell("%.1fms", sim::Quantile(f.load_wait_ms, 0.5)),
            cell("%.1fms", sim::Quantile(f.load_wait_ms, 0.99)), cell("%.1f", to_device / 1e9),
            cell("%.1f", first != nullptr ? first->bytes_written / 1e9 : 0.0),
            cell("%.1f", host != nullptr && disk != nullptr ? disk->bytes_written / 1e9 : 0.0)})
        row.push_back(std::move(c));
    }
  }
  const int widths[] = {-22, 12, 8,  8, 9, 9, 14, 10, 10, 10, 9, 9,
                        8,   10, 10, 8, 8, 8, 9,  9,  10, 11, 10};
  for (const auto& row : table) {
    for (size_t i = 0; i < row.size(); ++i)
      std::printf(i == 0 ? "%*s" : " %*s", widths[i], row[i].c_str());
    std::printf("\n");
  }

  if (!o.json_out.empty()) {
    JsonWriter w;
    w.BeginObject();
    w.Key("source");
    w.String(source);
    w.Key("requests");
    w.Uint(trace.requests.size());
    w.Key("page_size");
    w.Int(o.page_size);
    w.Key("profile");
    w.String(profile->name);
    w.Key("time_scale");
    w.Double(o.time_scale);
    w.Key("infinite_token_hit_rate");
    w.Double(infinite_rate);
    w.Key("infinite_request_hit_rate");
    w.Double(infinite->request_hit_rate());
    if (any_tier) {
      w.Key("kv_bytes_per_token");
      w.Double(*kv_bytes);
      w.Key("tier_loads");
      w.String(o.tier_loads);
      w.Key("links");
      w.BeginObject();
      for (const auto& [name, t] : {std::pair{"host", &host_tier}, std::pair{"disk", &disk_tier}}) {
        w.Key(name);
        w.BeginObject();
        w.Key("bandwidth_gbs");
        w.Double(t->bandwidth_bytes_per_s / 1e9);
        w.Key("latency_us");
        w.Double(t->latency_s * 1e6);
        w.Key("admission");
        w.String(t->admission);
        w.EndObject();
      }
      w.EndObject();
    }
    w.Key("runs");
    w.BeginArray();
    for (const RunFigures& f : runs) WriteRun(w, f, infinite_rate, oracle_rate(f), o.page_size);
    w.EndArray();
    w.EndObject();
    std::ofstream out(o.json_out);
    out << w.str() << "\n";
    if (!out) return Fail(InvalidArgumentError("cannot write " + o.json_out));
  }
  if (!o.plot_out.empty() || !o.html_out.empty()) {
    SvgPanel mrc{any_tier ? "Token hit rate by KV capacity (device + tiers below)"
                          : "Token hit rate by KV capacity",
                 "capacity (tokens)",
                 "token hit rate",
                 true,
                 0,
                 1,
                 {}};
    // With tiers, what they change at one device size: the TTFT at the smallest.
    SvgPanel cdf{any_tier ? "TTFT distribution at the smallest device capacity"
                          : "TTFT distribution at the largest capacity",
                 "TTFT (ms)",
                 "fraction of requests",
                 true,
                 0,
                 1,
                 {}};
    double x_min = 0, x_max = 0;
    for (const auto& [policy, admission] : combos) {
      // Device-only runs, then runs with tiers (at their total capacity, with
      // the device's share of the hits beside them).
      for (const bool tiered : {false, true}) {
        const std::string label = policy + "/" + admission + (tiered ? " with tiers" : "");
        SvgSeries curve{label, {}};
        SvgSeries device_part{label + ": from the device", {}};
        const RunFigures* shown = nullptr;  // in the TTFT panel
        for (const RunFigures& f : runs) {
          if (f.policy != policy || f.admission != admission || f.tiered() != tiered) continue;
          const double x = static_cast<double>(f.total_tokens());
          curve.points.emplace_back(x, f.result.hits.token_hit_rate());
          device_part.points.emplace_back(x, f.LevelRate("device"));
          if (shown == nullptr || (any_tier ? f.capacity_tokens < shown->capacity_tokens ||
                                                  (f.capacity_tokens == shown->capacity_tokens &&
                                                   f.total_tokens() > shown->total_tokens())
                                            : f.total_tokens() >= shown->total_tokens())) {
            shown = &f;
          }
          x_min = x_min == 0 ? x : std::min(x_min, x);
          x_max = std::max(x_max, x);
        }
        if (shown == nullptr) continue;
        std::sort(curve.points.begin(), curve.points.end());
        std::sort(device_part.points.begin(), device_part.points.end());
        mrc.series.push_back(std::move(curve));
        if (tiered) mrc.series.push_back(std::move(device_part));
        SvgSeries dist{label, {}};
        std::vector<double> t = shown->ttft_ms;
        std::sort(t.begin(), t.end());
        // At most ~200 points a curve keeps the file small and the line exact
        // to the eye.
        const size_t stride = std::max<size_t>(1, t.size() / 200);
        for (size_t i = 0; i < t.size(); i += stride) {
          dist.points.emplace_back(std::max(t[i], 1e-3),
                                   static_cast<double>(i + 1) / static_cast<double>(t.size()));
        }
        if (!t.empty()) dist.points.emplace_back(std::max(t.back(), 1e-3), 1.0);
        cdf.series.push_back(std::move(dist));
      }
    }
    SvgSeries bound{"infinite cache", {}};
    bound.points = {{x_min, infinite_rate}, {x_max, infinite_rate}};
    mrc.series.push_back(std::move(bound));
    const std::string svg = RenderSvg("radixlm sim run: " + source, {mrc, cdf});
    if (!o.plot_out.empty()) {
      std::ofstream out(o.plot_out);
      out << svg;
      if (!out) return Fail(InvalidArgumentError("cannot write " + o.plot_out));
    }
    if (!o.html_out.empty()) {
      report::HtmlReport html("radixlm sim run: " + source);
      html.Paragraph(std::to_string(trace.requests.size()) + " requests, page size " +
                     std::to_string(o.page_size) + ", profile " + profile->name + ", time scale " +
                     cell("%g", o.time_scale) +
                     ". The infinite cache (the bound no policy passes) serves " +
                     cell("%.4f", infinite_rate) + " of prompt tokens; " +
                     cell("%.2f", 100.0 * infinite->request_hit_rate()) + "% of requests hit.");
      if (any_tier) {
        html.Paragraph(
            "Tiers below the device: host " + cell("%g", host_tier.bandwidth_bytes_per_s / 1e9) +
            " GB/s each way, " + cell("%g", host_tier.latency_s * 1e6) + " us a copy, admission " +
            host_tier.admission + "; disk (" + o.disk_kind + ") " +
            cell("%g", disk_tier.bandwidth_bytes_per_s / 1e9) + " GB/s, " +
            cell("%g", disk_tier.latency_s * 1e6) + " us, admission " + disk_tier.admission + "; " +
            cell("%g", *kv_bytes) + " bytes of KV a token; loads " + o.tier_loads +
            ". Device pages are written through to the host as they are computed; host "
            "evictions are written back to disk; a request loading pages from below waits "
            "for them alone.");
      }
      html.Heading(any_tier ? "Hit rate by capacity, and time to first token at the smallest"
                            : "Hit rate by capacity, and time to first token at the largest");
      html.Svg(svg);
      html.Heading("Every run");
      html.Table(table, "runs");
      std::ofstream out(o.html_out);
      out << html.Render();
      if (!out) return Fail(InvalidArgumentError("cannot write " + o.html_out));
    }
  }
  return 0;
}

}  // namespace radixlm::tools
