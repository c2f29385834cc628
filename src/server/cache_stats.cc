#include "server/cache_stats.h"

#include "core/json_writer.h"

namespace radixlm::server {
namespace {

void Field(JsonWriter& w, const char* key, int64_t value) {
  w.Key(key);
  w.Int(value);
}

// Opens the object with what every view shows: its scope and the cache's shape.
void BeginStats(JsonWriter& w, const char* scope, const engine::EngineSnapshot& s) {
  w.BeginObject();
  w.Key("scope");
  w.String(scope);
  w.Key("prefix_cache");
  w.Bool(s.prefix_cache);
  Field(w, "page_size", s.page_size);
}

void PinFields(JsonWriter& w, const PinSummary& p) {
  if (!p.enabled) return;
  w.Key("pins");
  w.BeginObject();
  Field(w, "pins", p.pins);
  Field(w, "pages_pinned", p.pages_pinned);
  Field(w, "pages_reserved", p.pages_reserved);
  Field(w, "budget_pages_per_tenant", p.budget_per_tenant);
  Field(w, "budget_pages", p.budget_total);
  w.EndObject();
}

// part / whole, 0 for an empty whole.
double Share(int64_t part, int64_t whole) {
  return whole == 0 ? 0.0 : static_cast<double>(part) / static_cast<double>(whole);
}

}  // namespace

std::string FormatCacheStats(const engine::EngineSnapshot& s, const PinSummary& pins) {
  JsonWriter w;
  auto field = [&](const char* key, int64_t value) { Field(w, key, value); };
  BeginStats(w, "server", s);
  w.Key("pages");
  w.BeginObject();
  field("total", s.pages_total);
  field("free", s.pages_free);
  field("cached", s.pages_cached);
  field("locked", s.pages_locked);
  field("in_use", s.pages_in_use);
  w.EndObject();
  w.Key("kv");
  w.BeginObject();
  w.Key("format");
  w.String(s.kv_format);
  field("page_bytes", s.page_bytes);
  field("pool_tokens", s.pages_total * s.page_size);
  w.EndObject();
  w.Key("hit_rate");
  w.Double(Share(s.cache.match_tokens_hit, s.cache.match_tokens));
  w.Key("kv_usage");
  w.Double(s.kv_usage());
  w.Key("requests");
  w.BeginObject();
  field("running", s.running_requests);
  field("waiting", s.waiting_requests);
  field("preemptions", s.preemptions);
  field("prompt_tokens", s.prompt_tokens);
  field("cached_prompt_tokens", s.cached_prompt_tokens);
  field("generation_tokens", s.generation_tokens);
  if (s.host_tier) field("host_cached_prompt_tokens", s.host_cached_prompt_tokens);
  if (!s.tiers.store.empty()) field("store_cached_prompt_tokens", s.store_cached_prompt_tokens);
  w.EndObject();
  if (s.host_tier) {
    const engine::KvTierStats& t = s.tiers;
    w.Key("tiers");
    w.BeginObject();
    w.Key("host");
    w.BeginObject();
    field("blocks", t.host_blocks);
    field("capacity_blocks", t.host_capacity_blocks);
    field("block_bytes", t.block_bytes);
    field("loaded_blocks", t.loaded_blocks);
    field("written_blocks", t.written_blocks);
    field("evicted_blocks", t.evicted_blocks);
    field("refused_blocks", t.refused_blocks);
    w.EndObject();
    if (!t.store.empty()) {
      w.Key(t.store);
      w.BeginObject();
      field("blocks", t.store_blocks);
      field("loaded_blocks", t.store_loaded_blocks);
      field("put_blocks", t.store_put_blocks);
      field("loading_blocks", t.store_loading_blocks);
      field("misses", t.store_misses);
      field("defects", t.store_defects);
      field("errors", t.store_read_errors + t.store_write_errors);
      field("dropped_puts", t.store_dropped_puts);
      field("skipped_blocks", t.store_skipped_blocks);
      field("skipped_requests", t.store_skipped_requests);
      w.Key("read_seconds_per_block");
      w.Double(t.store_read_seconds);
      w.EndObject();
    }
    w.EndObject();
  }
  const kvcache::CacheStats& c = s.cache;
  w.Key("cache");
  w.BeginObject();
  field("namespaces", c.namespaces);
  field("nodes", c.nodes);
  field("cached_tokens", c.cached_tokens);
  field("pages_cached", c.pages_cached);
  field("pages_locked", c.pages_locked);
  field("evictable_entries", c.evictable_entries);
  field("match_requests", c.match_requests);
  field("match_hits", c.match_hits);
  field("match_tokens", c.match_tokens);
  field("match_tokens_hit", c.match_tokens_hit);
  field("inserts", c.inserts);
  field("inserted_tokens", c.inserted_tokens);
  field("duplicate_pages", c.duplicate_pages);
  field("not_admitted_tokens", c.not_admitted_tokens);
  field("evictions", c.evictions);
  field("pages_evicted", c.pages_evicted);
  field("cow_copies", c.cow_copies);
  field("splits", c.splits);
  field("flushed_pages", c.flushed_pages);
  w.EndObject();
  PinFields(w, pins);
  w.EndObject();
  return w.str();
}

std::string FormatTenantCacheStats(const engine::EngineSnapshot& s, const TenantUsage& u,
                                   const PinSummary& pins) {
  JsonWriter w;
  auto field = [&](const char* key, int64_t value) { Field(w, key, value); };
  BeginStats(w, "tenant", s);
  w.Key("hit_rate");
  w.Double(Share(u.cached_prompt_tokens, u.prompt_tokens));
  w.Key("requests");
  w.BeginObject();
  field("finished", u.requests);
  field("running", u.running);
  field("prompt_tokens", u.prompt_tokens);
  field("cached_prompt_tokens", u.cached_prompt_tokens);
  field("generation_tokens", u.generation_tokens);
  field("response_cache_hits", u.response_cache_hits);
  w.EndObject();
  PinFields(w, pins);
  w.EndObject();
  return w.str();
}

std::string FormatPins(const std::vector<kvcache::PinInfo>& pins, const kvcache::PinOptions& budget,
                       bool show_tenant, int64_t now_ns, int64_t now_unix) {
  JsonWriter w;
  constexpr int64_t kNs = 1000000000;
  // Clock nanoseconds to Unix seconds, rounded to the nearest second.
  auto unix_time = [&](int64_t ns) {
    return now_unix + (ns - now_ns + (ns >= now_ns ? kNs / 2 : -kNs / 2)) / kNs;
  };
  int64_t pages = 0;
  w.BeginObject();
  w.Key("object");
  w.String("list");
  w.Key("data");
  w.BeginArray();
  for (const kvcache::PinInfo& p : pins) {
    pages += p.pages;
    w.BeginObject();
    w.Key("id");
    w.String("pin-" + std::to_string(p.id));
    w.Key("object");
    w.String("cache.pin");
    Field(w, "tokens", p.tokens);
    Field(w, "pages", p.pages);
    w.Key("active");
    w.Bool(p.active);
    Field(w, "created_at", unix_time(p.created_ns));
    Field(w, "expires_at", unix_time(p.expires_ns));
    w.Key("expires_in");
    w.Double(static_cast<double>(p.expires_ns - now_ns) / static_cast<double>(kNs));
    if (show_tenant) {
      w.Key("tenant");
      w.String(p.owner);
    }
    w.EndObject();
  }
  w.EndArray();
  Field(w, "pages", pages);
  Field(w, "budget_pages_per_tenant", budget.max_pages_per_owner);
  Field(w, "budget_pages", budget.max_pages_total);
  w.EndObject();
  return w.str();
}

std::string FormatFlushResult(int64_t flushed_pages) {
  JsonWriter w;
  w.BeginObject();
  w.Key("flushed_pages");
  w.Int(flushed_pages);
  w.EndObject();
  return w.str();
}

}  // namespace radixlm::server
