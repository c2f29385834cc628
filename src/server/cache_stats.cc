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

// part / whole, 0 for an empty whole.
double Share(int64_t part, int64_t whole) {
  return whole == 0 ? 0.0 : static_cast<double>(part) / static_cast<double>(whole);
}

}  // namespace

std::string FormatCacheStats(const engine::EngineSnapshot& s) {
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
  w.EndObject();
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
  w.EndObject();
  return w.str();
}

std::string FormatTenantCacheStats(const engine::EngineSnapshot& s, const TenantUsage& u) {
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
