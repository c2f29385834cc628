#include "respcache/semantic_index.h"

// hnswlib's SSE path prefetches one slot past the end of a neighbour list
// (harmless on hardware, an out-of-bounds read to AddressSanitizer); its plain
// loops give the same results and the compiler vectorises them.
#define NO_MANUAL_VECTORIZATION
#include <hnswlib/hnswlib.h>

#include <chrono>
#include <cmath>
#include <mutex>

namespace radixlm::respcache {
namespace {

constexpr size_t kInitialCapacity = 1024;
constexpr size_t kLinks = 16;            // hnswlib's M
constexpr size_t kEfConstruction = 200;  // build-time beam
constexpr size_t kEfSearch = 64;         // lookup beam (recall ~1 at cache sizes)
constexpr size_t kCandidates = 8;        // nearest looked at past expired ones

int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

// One namespace: the graph, and per label its key, expiry and vector.
struct SemanticIndex::Space {
  struct Entry {
    std::string key;
    int64_t expires_at_ms = 0;
    std::vector<float> vector;
    bool deleted = false;
  };

  explicit Space(int dimensions) : ip(static_cast<size_t>(dimensions)) { Reset(kInitialCapacity); }

  void Reset(size_t capacity) {
    graph =
        std::make_unique<hnswlib::HierarchicalNSW<float>>(&ip, capacity, kLinks, kEfConstruction);
    graph->setEf(kEfSearch);
  }

  void Insert(Entry entry) {
    if (entries.size() == graph->max_elements_) graph->resizeIndex(2 * graph->max_elements_);
    graph->addPoint(entry.vector.data(), entries.size());
    entries.push_back(std::move(entry));
  }

  // Marks expired entries deleted; rebuilds when the dead outnumber the live.
  void Sweep(int64_t now) {
    size_t dead = 0;
    for (size_t label = 0; label < entries.size(); ++label) {
      Entry& e = entries[label];
      if (!e.deleted && e.expires_at_ms <= now) {
        e.deleted = true;
        graph->markDelete(label);
      }
      dead += e.deleted ? 1 : 0;
    }
    if (dead * 2 <= entries.size() || entries.size() < 64) return;
    std::vector<Entry> live;
    for (Entry& e : entries) {
      if (!e.deleted) live.push_back(std::move(e));
    }
    entries.clear();
    Reset(std::max(kInitialCapacity, 2 * live.size()));
    for (Entry& e : live) Insert(std::move(e));
  }

  hnswlib::InnerProductSpace ip;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> graph;
  std::vector<Entry> entries;
  size_t adds_since_sweep = 0;
};

SemanticIndex::SemanticIndex(int dimensions, std::function<int64_t()> now_ms)
    : dimensions_(dimensions), now_ms_(now_ms ? std::move(now_ms) : SteadyMs) {}

SemanticIndex::~SemanticIndex() = default;

Status SemanticIndex::Normalise(std::span<const float> in, std::vector<float>* out) const {
  if (static_cast<int>(in.size()) != dimensions_) {
    return InvalidArgumentError("an embedding of " + std::to_string(in.size()) +
                                " dimensions; the index holds " + std::to_string(dimensions_));
  }
  double norm = 0;
  for (float v : in) norm += static_cast<double>(v) * v;
  norm = std::sqrt(norm);
  if (!(norm > 0) || !std::isfinite(norm))
    return InvalidArgumentError("an embedding of zero or non-finite norm");
  out->resize(in.size());
  for (size_t i = 0; i < in.size(); ++i) (*out)[i] = static_cast<float>(in[i] / norm);
  return OkStatus();
}

Status SemanticIndex::Add(const std::string& ns, std::span<const float> embedding, std::string key,
                          int64_t expires_at_ms) {
  Space::Entry entry{std::move(key), expires_at_ms, {}, false};
  RETURN_IF_ERROR(Normalise(embedding, &entry.vector));
  std::unique_lock<std::shared_mutex> lock(mu_);
  std::unique_ptr<Space>& space = spaces_[ns];
  if (!space) space = std::make_unique<Space>(dimensions_);
  // Sweeping costs a pass over the namespace: once per as many adds as it holds.
  if (++space->adds_since_sweep >= std::max<size_t>(64, space->entries.size() / 2)) {
    space->Sweep(now_ms_());
    space->adds_since_sweep = 0;
  }
  space->Insert(std::move(entry));
  return OkStatus();
}

std::optional<SemanticMatch> SemanticIndex::Nearest(const std::string& ns,
                                                    std::span<const float> embedding,
                                                    float threshold) const {
  std::vector<float> query;
  if (!Normalise(embedding, &query).ok()) return std::nullopt;
  std::shared_lock<std::shared_mutex> lock(mu_);
  auto it = spaces_.find(ns);
  if (it == spaces_.end() || it->second->entries.empty()) return std::nullopt;
  const Space& space = *it->second;
  const int64_t now = now_ms_();
  auto found = space.graph->searchKnn(query.data(), std::min(kCandidates, space.entries.size()));
  std::optional<SemanticMatch> best;
  while (!found.empty()) {  // farthest first
    const auto [distance, label] = found.top();
    found.pop();
    const Space::Entry& e = space.entries[label];
    const float similarity = 1.0f - distance;  // hnswlib's inner-product distance is 1 - <a, b>
    if (e.deleted || e.expires_at_ms <= now || similarity < threshold) continue;
    best = SemanticMatch{e.key, similarity};
  }
  return best;
}

int64_t SemanticIndex::EraseNamespace(const std::string& ns) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  auto it = spaces_.find(ns);
  if (it == spaces_.end()) return 0;
  int64_t live = 0;
  for (const auto& e : it->second->entries) live += e.deleted ? 0 : 1;
  spaces_.erase(it);
  return live;
}

int64_t SemanticIndex::EraseByPrefix(const std::string& prefix) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  int64_t live = 0;
  for (auto it = spaces_.lower_bound(prefix);
       it != spaces_.end() && it->first.starts_with(prefix);) {
    for (const auto& e : it->second->entries) live += e.deleted ? 0 : 1;
    it = spaces_.erase(it);
  }
  return live;
}

void SemanticIndex::Clear() {
  std::unique_lock<std::shared_mutex> lock(mu_);
  spaces_.clear();
}

int64_t SemanticIndex::live_entries() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  const int64_t now = now_ms_();
  int64_t live = 0;
  for (const auto& [ns, space] : spaces_) {
    for (const auto& e : space->entries) live += !e.deleted && e.expires_at_ms > now ? 1 : 0;
  }
  return live;
}

}  // namespace radixlm::respcache
