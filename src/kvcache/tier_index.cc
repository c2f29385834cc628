#include "kvcache/tier_index.h"

#include <bit>

#include "core/check.h"

namespace radixlm::kvcache {

Status TierOptions::Validate() const {
  if (capacity_blocks <= 0 || capacity_blocks >= (int64_t{1} << 31)) {
    return InvalidArgumentError("tier '" + name + "' needs a capacity of 1 to 2^31-1 blocks, got " +
                                std::to_string(capacity_blocks));
  }
  if (admission != "all" && admission != "second-hit") {
    return InvalidArgumentError("unknown admission '" + admission + "' for tier '" + name +
                                "' (known: all, second-hit)");
  }
  if (sightings < 0 || sightings >= (int64_t{1} << 31)) {
    return InvalidArgumentError("tier '" + name + "': sightings must be in [0, 2^31)");
  }
  return OkStatus();
}

StatusOr<std::unique_ptr<TierIndex>> TierIndex::Create(const TierOptions& options) {
  RETURN_IF_ERROR(options.Validate());
  return std::unique_ptr<TierIndex>(new TierIndex(options));
}

TierIndex::TierIndex(const TierOptions& options) : options_(options) {
  if (options_.sightings == 0) options_.sightings = options_.capacity_blocks;
  table_.assign(16, kNone);
  if (options_.admission == "second-hit") {
    sightings_.resize(static_cast<size_t>(options_.sightings));
    sighting_table_.assign(std::bit_ceil(sightings_.size() * 2), kNone);
  }
}

template <typename KeyOf>
size_t TierIndex::Probe(const std::vector<uint32_t>& table, const BlockHash& hash, KeyOf key_of) {
  const size_t mask = table.size() - 1;
  size_t i = hash.lo & mask;
  while (table[i] != kNone && !(key_of(table[i]) == hash)) i = (i + 1) & mask;
  return i;
}

// Backward-shift deletion keeps probe chains whole without tombstones.
template <typename KeyOf>
void TierIndex::TableErase(std::vector<uint32_t>* table, size_t hole, KeyOf key_of) {
  std::vector<uint32_t>& t = *table;
  const size_t mask = t.size() - 1;
  t[hole] = kNone;
  size_t i = (hole + 1) & mask;
  while (t[i] != kNone) {
    const size_t home = key_of(t[i]).lo & mask;
    // Entry i may fill the hole unless its home lies cyclically in (hole, i].
    const bool stays = hole <= i ? (home > hole && home <= i) : (home > hole || home <= i);
    if (!stays) {
      t[hole] = t[i];
      t[i] = kNone;
      hole = i;
    }
    i = (i + 1) & mask;
  }
}

template <typename KeyOf>
void TierIndex::TableGrow(std::vector<uint32_t>* table, size_t min_size, KeyOf key_of) {
  std::vector<uint32_t> old = std::move(*table);
  table->assign(std::bit_ceil(min_size), kNone);
  for (uint32_t id : old) {
    if (id != kNone) (*table)[Probe(*table, key_of(id), key_of)] = id;
  }
}

TierSlot TierIndex::Find(const BlockHash& hash) const {
  const uint32_t id = table_[Probe(table_, hash, [this](uint32_t s) { return entries_[s].hash; })];
  return id == kNone ? kNoSlot : static_cast<TierSlot>(id);
}

void TierIndex::Unlink(uint32_t slot) {
  Entry& e = entries_[slot];
  if (e.prev != kNone) entries_[e.prev].next = e.next;
  if (e.next != kNone) entries_[e.next].prev = e.prev;
  if (head_ == slot) head_ = e.next;
  if (tail_ == slot) tail_ = e.prev;
  e.prev = e.next = kNone;
}

void TierIndex::PushFront(uint32_t slot) {
  Entry& e = entries_[slot];
  e.prev = kNone;
  e.next = head_;
  if (head_ != kNone) entries_[head_].prev = slot;
  head_ = slot;
  if (tail_ == kNone) tail_ = slot;
}

void TierIndex::Touch(TierSlot slot, uint64_t request) {
  const auto s = static_cast<uint32_t>(slot);
  Entry& e = entries_[s];
  CHECK(e.held) << "touching an empty slot of tier " << options_.name;
  if (e.last_request != request) {
    e.last_request = request;
    ++e.uses;
  }
  if (head_ != s) {
    Unlink(s);
    PushFront(s);
  }
}

void TierIndex::Remove(uint32_t slot) {
  auto key_of = [this](uint32_t s) { return entries_[s].hash; };
  TableErase(&table_, Probe(table_, entries_[slot].hash, key_of), key_of);
  Unlink(slot);
  entries_[slot].held = false;
  --blocks_;
}

bool TierIndex::SeenByAnother(const BlockHash& hash, uint64_t request) {
  auto key_of = [this](uint32_t i) { return sightings_[i].hash; };
  const size_t at = Probe(sighting_table_, hash, key_of);
  if (sighting_table_[at] != kNone) return sightings_[sighting_table_[at]].request != request;
  // A first sighting: remembered in the ring, the oldest forgotten when it is full.
  const size_t capacity = sightings_.size();
  if (sighting_count_ == capacity) {
    TableErase(&sighting_table_, Probe(sighting_table_, sightings_[sighting_head_].hash, key_of),
               key_of);
    sighting_head_ = (sighting_head_ + 1) % capacity;
    --sighting_count_;
  }
  const size_t pos = (sighting_head_ + sighting_count_) % capacity;
  sightings_[pos] = Sighting{hash, request};
  ++sighting_count_;
  sighting_table_[Probe(sighting_table_, hash, key_of)] = static_cast<uint32_t>(pos);
  return false;
}

TierPut TierIndex::Put(const BlockHash& hash, uint64_t request, int32_t uses, int64_t ready,
                       TierSlot* slot, std::optional<TierBlock>* evicted) {
  evicted->reset();
  *slot = Find(hash);
  if (*slot != kNoSlot) {
    if (request != kNoRequest) Touch(*slot, request);
    return TierPut::kHeld;
  }
  if (options_.admission == "second-hit" && uses < 2 &&
      (request == kNoRequest || !SeenByAnother(hash, request))) {
    return TierPut::kRefused;
  }
  uint32_t s;
  if (!free_slots_.empty()) {
    s = free_slots_.back();
    free_slots_.pop_back();
  } else if (entries_.size() < static_cast<size_t>(options_.capacity_blocks)) {
    s = static_cast<uint32_t>(entries_.size());
    entries_.emplace_back();
  } else {
    s = tail_;
    const Entry& victim = entries_[s];
    *evicted = TierBlock{victim.hash, static_cast<TierSlot>(s), victim.uses, victim.last_request,
                         victim.ready};
    Remove(s);
  }
  Entry& e = entries_[s];
  e.hash = hash;
  e.last_request = request;
  e.uses = uses > 0 ? uses : 1;
  e.ready = ready;
  e.held = true;
  PushFront(s);
  ++blocks_;
  auto key_of = [this](uint32_t id) { return entries_[id].hash; };
  if (static_cast<size_t>(blocks_) * 2 > table_.size()) {
    TableGrow(&table_, static_cast<size_t>(blocks_) * 2, key_of);
  }
  table_[Probe(table_, hash, key_of)] = s;
  *slot = static_cast<TierSlot>(s);
  return TierPut::kStored;
}

bool TierIndex::Erase(const BlockHash& hash) {
  const TierSlot slot = Find(hash);
  if (slot == kNoSlot) return false;
  Remove(static_cast<uint32_t>(slot));
  free_slots_.push_back(static_cast<uint32_t>(slot));
  return true;
}

void TierIndex::CheckInvariants() const {
  CHECK_LE(blocks_, options_.capacity_blocks) << "tier " << options_.name << " over capacity";
  CHECK_LE(entries_.size(), static_cast<size_t>(options_.capacity_blocks));
  int64_t held = 0;
  for (const Entry& e : entries_) held += e.held;
  CHECK_EQ(held, blocks_) << "tier " << options_.name << " miscounts its blocks";
  CHECK_EQ(static_cast<size_t>(blocks_) + free_slots_.size(), entries_.size())
      << "tier " << options_.name << " lost a slot";
  for (uint32_t s : free_slots_) CHECK(!entries_[s].held);
  // The recency list holds every block once, linked both ways.
  int64_t listed = 0;
  uint32_t prev = kNone;
  for (uint32_t s = head_; s != kNone; s = entries_[s].next) {
    CHECK(entries_[s].held);
    CHECK_EQ(entries_[s].prev, prev);
    CHECK(Find(entries_[s].hash) == static_cast<TierSlot>(s)) << "a block is not findable";
    prev = s;
    ++listed;
    CHECK_LE(listed, blocks_) << "tier " << options_.name << " recency list loops";
  }
  CHECK_EQ(prev, tail_);
  CHECK_EQ(listed, blocks_);
  int64_t in_table = 0;
  for (uint32_t s : table_) in_table += s != kNone;
  CHECK_EQ(in_table, blocks_);
}

}  // namespace radixlm::kvcache
