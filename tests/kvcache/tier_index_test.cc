// The KV tiers below the device: one tier's index (capacity, recency, admission,
// slots) and the stack of tiers (write-through, demotion, promotion, lookup).
#include <gtest/gtest.h>

#include <algorithm>
#include <list>
#include <map>
#include <random>
#include <set>
#include <vector>

#include "kvcache/block_hash.h"
#include "kvcache/tier_index.h"
#include "kvcache/tier_stack.h"

namespace radixlm::kvcache {
namespace {

BlockHash H(uint64_t i) { return Hash128Of(&i, sizeof(i), 7); }

std::unique_ptr<TierIndex> Tier(int64_t capacity, const std::string& admission = "all",
                                int64_t sightings = 0) {
  TierOptions o;
  o.capacity_blocks = capacity;
  o.admission = admission;
  o.sightings = sightings;
  auto t = TierIndex::Create(o);
  CHECK(t.ok()) << t.status().ToString();
  return std::move(t).value();
}

TierPut Put(TierIndex& t, uint64_t block, uint64_t request, int32_t uses = 1,
            std::optional<TierBlock>* evicted = nullptr, TierSlot* slot = nullptr) {
  std::optional<TierBlock> e;
  TierSlot s = kNoSlot;
  TierPut r = t.Put(H(block), request, uses, /*ready=*/0, &s, evicted ? evicted : &e);
  if (slot != nullptr) *slot = s;
  t.CheckInvariants();
  return r;
}

TEST(TierIndexTest, OptionsAreChecked) {
  TierOptions o;
  EXPECT_FALSE(o.Validate().ok());  // no capacity
  o.capacity_blocks = 4;
  EXPECT_TRUE(o.Validate().ok());
  o.admission = "third-hit";
  EXPECT_FALSE(TierIndex::Create(o).ok());
  o.admission = "second-hit";
  o.capacity_blocks = int64_t{1} << 31;
  EXPECT_FALSE(TierIndex::Create(o).ok());
}

TEST(TierIndexTest, FullTierEvictsTheLeastRecentlyUsedIntoItsSlot) {
  auto t = Tier(3);
  TierSlot slots[3];
  for (uint64_t b = 0; b < 3; ++b) {
    EXPECT_EQ(Put(*t, b, /*request=*/b, 1, nullptr, &slots[b]), TierPut::kStored);
  }
  EXPECT_EQ(t->blocks(), 3);
  // Block 0 used again: block 1 is now the least recent.
  t->Touch(t->Find(H(0)), /*request=*/9);
  std::optional<TierBlock> evicted;
  TierSlot slot = kNoSlot;
  EXPECT_EQ(Put(*t, 3, 3, 1, &evicted, &slot), TierPut::kStored);
  ASSERT_TRUE(evicted.has_value());
  EXPECT_EQ(evicted->hash, H(1));
  EXPECT_EQ(evicted->slot, slots[1]);
  EXPECT_EQ(slot, slots[1]);  // the newcomer takes the victim's slot
  EXPECT_EQ(t->blocks(), 3);  // never above capacity
  EXPECT_EQ(t->Find(H(1)), kNoSlot);
  EXPECT_NE(t->Find(H(0)), kNoSlot);
  EXPECT_EQ(t->uses(t->Find(H(0))), 2);  // requests 0 and 9
}

TEST(TierIndexTest, HeldBlocksAreTouchedAndCountRequestsOnce) {
  auto t = Tier(2);
  Put(*t, 1, /*request=*/5);
  EXPECT_EQ(Put(*t, 1, 5), TierPut::kHeld);  // the same request again: one use
  EXPECT_EQ(t->uses(t->Find(H(1))), 1);
  EXPECT_EQ(Put(*t, 1, 6), TierPut::kHeld);
  EXPECT_EQ(t->uses(t->Find(H(1))), 2);
  Put(*t, 2, 7);
  // A demotion of a held block is no use and does not refresh it.
  EXPECT_EQ(Put(*t, 1, kNoRequest, 1), TierPut::kHeld);
  EXPECT_EQ(t->uses(t->Find(H(1))), 2);
  std::optional<TierBlock> evicted;
  Put(*t, 3, 8, 1, &evicted);
  ASSERT_TRUE(evicted.has_value());
  EXPECT_EQ(evicted->hash, H(1));
  EXPECT_EQ(evicted->uses, 2);
}

TEST(TierIndexTest, SecondHitStoresWhatTwoRequestsUsed) {
  auto t = Tier(8, "second-hit");
  EXPECT_EQ(Put(*t, 1, /*request=*/1), TierPut::kRefused);
  EXPECT_EQ(Put(*t, 1, 1), TierPut::kRefused);  // the same request's second chunk
  EXPECT_EQ(Put(*t, 1, 2), TierPut::kStored);   // a second request
  // A demotion goes by the uses it carries and remembers nothing.
  EXPECT_EQ(Put(*t, 2, kNoRequest, 1), TierPut::kRefused);
  EXPECT_EQ(Put(*t, 2, 3), TierPut::kRefused);  // still its first sighting
  EXPECT_EQ(Put(*t, 3, kNoRequest, 2), TierPut::kStored);
  EXPECT_EQ(t->blocks(), 2);
}

TEST(TierIndexTest, SightingsAreBounded) {
  auto t = Tier(8, "second-hit", /*sightings=*/2);
  Put(*t, 1, 1);
  Put(*t, 2, 1);
  Put(*t, 3, 1);  // forgets block 1's sighting
  EXPECT_EQ(Put(*t, 1, 2), TierPut::kRefused);
  EXPECT_EQ(Put(*t, 3, 2), TierPut::kStored);
}

TEST(TierIndexTest, EraseFreesTheSlot) {
  auto t = Tier(2);
  TierSlot a = kNoSlot, b = kNoSlot;
  Put(*t, 1, 1, 1, nullptr, &a);
  Put(*t, 2, 1);
  EXPECT_TRUE(t->Erase(H(1)));
  EXPECT_FALSE(t->Erase(H(1)));
  t->CheckInvariants();
  std::optional<TierBlock> evicted;
  Put(*t, 3, 1, 1, &evicted, &b);
  EXPECT_FALSE(evicted.has_value());  // the freed slot, no eviction
  EXPECT_EQ(a, b);
}

// Random traffic against a plain list model of LRU with a capacity.
TEST(TierIndexTest, MatchesAnLruModel) {
  std::mt19937_64 rng(3);
  for (int64_t capacity : {1, 5, 64}) {
    auto t = Tier(capacity);
    std::list<uint64_t> model;  // most recent first
    std::map<uint64_t, TierSlot> slot_of;
    for (int op = 0; op < 4000; ++op) {
      const uint64_t block = rng() % (capacity * 3);
      const int kind = static_cast<int>(rng() % 3);
      auto in_model = std::find(model.begin(), model.end(), block);
      if (kind == 0) {
        // Find and touch.
        const TierSlot s = t->Find(H(block));
        ASSERT_EQ(s != kNoSlot, in_model != model.end());
        if (s == kNoSlot) continue;
        t->Touch(s, op);
        model.erase(in_model);
        model.push_front(block);
      } else if (kind == 1) {
        std::optional<TierBlock> evicted;
        TierSlot s = kNoSlot;
        const TierPut r = Put(*t, block, op, 1, &evicted, &s);
        if (in_model != model.end()) {
          ASSERT_EQ(r, TierPut::kHeld);
          model.erase(in_model);
        } else {
          ASSERT_EQ(r, TierPut::kStored);
          if (static_cast<int64_t>(model.size()) == capacity) {
            ASSERT_TRUE(evicted.has_value());
            ASSERT_EQ(evicted->hash, H(model.back()));
            slot_of.erase(model.back());
            model.pop_back();
          } else {
            ASSERT_FALSE(evicted.has_value());
          }
          slot_of[block] = s;
        }
        model.push_front(block);
        ASSERT_EQ(s, slot_of[block]);
      } else {
        ASSERT_EQ(t->Erase(H(block)), in_model != model.end());
        if (in_model != model.end()) {
          model.erase(in_model);
          slot_of.erase(block);
        }
      }
      t->CheckInvariants();
      ASSERT_EQ(t->blocks(), static_cast<int64_t>(model.size()));
      // Slots are distinct and within the capacity.
      std::set<TierSlot> slots;
      for (const auto& [b, s] : slot_of) {
        ASSERT_TRUE(s >= 0 && s < capacity);
        slots.insert(s);
      }
      ASSERT_EQ(slots.size(), slot_of.size());
    }
  }
}

std::unique_ptr<TierStack> Stack(int64_t host, int64_t disk,
                                 const std::string& disk_admission = "all",
                                 const std::string& host_admission = "all") {
  std::vector<TierOptions> tiers;
  TierOptions h;
  h.name = "host";
  h.capacity_blocks = host;
  h.admission = host_admission;
  tiers.push_back(h);
  if (disk > 0) {
    TierOptions d;
    d.name = "disk";
    d.capacity_blocks = disk;
    d.admission = disk_admission;
    tiers.push_back(d);
  }
  auto s = TierStack::Create(tiers);
  CHECK(s.ok()) << s.status().ToString();
  return std::move(s).value();
}

TEST(TierStackTest, ComputedPagesAreWrittenThroughOnce) {
  auto stack = Stack(4, 0);
  std::vector<TierMove> moves;
  stack->Use(H(1), /*request=*/1, kDeviceLevel, &moves);
  ASSERT_EQ(moves.size(), 1u);
  EXPECT_EQ(moves[0].from, kDeviceLevel);
  EXPECT_EQ(moves[0].to, 1);
  EXPECT_EQ(moves[0].to_slot, stack->tier(1).Find(H(1)));
  moves.clear();
  stack->Use(H(1), /*request=*/2, kDeviceLevel, &moves);  // a device hit: a use, no copy
  EXPECT_TRUE(moves.empty());
  EXPECT_EQ(stack->tier(1).uses(stack->tier(1).Find(H(1))), 2);
  EXPECT_EQ(stack->Holder(H(1)), 1);
  EXPECT_EQ(stack->stats(1).blocks_stored, 1);
  stack->CheckInvariants();
}

TEST(TierStackTest, HostEvictionsAreDemotedToDiskBeforeTheirSlotIsReused) {
  auto stack = Stack(/*host=*/2, /*disk=*/3);
  std::vector<TierMove> moves;
  for (uint64_t b = 0; b < 3; ++b) stack->Use(H(b), b, kDeviceLevel, &moves);
  // Block 0 left the host for the disk; block 2 took its host slot.
  EXPECT_EQ(stack->Holder(H(0)), 2);
  EXPECT_EQ(stack->Holder(H(2)), 1);
  ASSERT_EQ(moves.size(), 4u);
  EXPECT_EQ(moves[2].hash, H(0));
  EXPECT_EQ(moves[2].from, 1);
  EXPECT_EQ(moves[2].to, 2);
  EXPECT_EQ(moves[3].hash, H(2));
  EXPECT_EQ(moves[3].from, kDeviceLevel);
  EXPECT_EQ(moves[3].to_slot, moves[2].from_slot);
  // The disk fills and drops its own least recent block.
  for (uint64_t b = 3; b < 8; ++b) stack->Use(H(b), b, kDeviceLevel, &moves);
  EXPECT_EQ(stack->tier(1).blocks(), 2);
  EXPECT_EQ(stack->tier(2).blocks(), 3);
  EXPECT_EQ(stack->Holder(H(0)), kDeviceLevel);  // gone
  EXPECT_EQ(stack->stats(1).blocks_evicted, 6);
  EXPECT_EQ(stack->stats(1).blocks_dropped, 0);
  EXPECT_EQ(stack->stats(2).blocks_dropped, 3);
  EXPECT_LE(stack->stats(1).peak_blocks, 2);
  EXPECT_LE(stack->stats(2).peak_blocks, 3);
  stack->CheckInvariants();
}

TEST(TierStackTest, DiskAdmissionSecondHitKeepsOnlyReusedBlocks) {
  auto stack = Stack(/*host=*/1, /*disk=*/8, /*disk_admission=*/"second-hit");
  std::vector<TierMove> moves;
  stack->Use(H(1), /*request=*/1, kDeviceLevel, &moves);
  stack->Use(H(1), /*request=*/2, kDeviceLevel, &moves);  // used twice
  stack->Use(H(2), /*request=*/3, kDeviceLevel, &moves);  // evicts 1: demoted
  stack->Use(H(3), /*request=*/4, kDeviceLevel, &moves);  // evicts 2: used once, dropped
  EXPECT_EQ(stack->Holder(H(1)), 2);
  EXPECT_EQ(stack->Holder(H(2)), kDeviceLevel);
  EXPECT_EQ(stack->stats(2).blocks_refused, 1);
  EXPECT_EQ(stack->stats(1).blocks_dropped, 1);
  // Block 2 computed again by another request and evicted again: demoted twice
  // for different requests, a second hit.
  stack->Use(H(2), /*request=*/5, kDeviceLevel, &moves);
  stack->Use(H(4), /*request=*/6, kDeviceLevel, &moves);
  EXPECT_EQ(stack->Holder(H(2)), 2);
  // Block 3 pushed out twice for the same request stays out.
  stack->Use(H(3), /*request=*/4, kDeviceLevel, &moves);
  stack->Use(H(5), /*request=*/7, kDeviceLevel, &moves);
  EXPECT_EQ(stack->Holder(H(3)), kDeviceLevel);
  stack->CheckInvariants();
}

TEST(TierStackTest, PromotionFromDiskPassesThroughTheHost) {
  auto stack = Stack(/*host=*/2, /*disk=*/4);
  std::vector<TierMove> moves;
  for (uint64_t b = 0; b < 3; ++b) stack->Use(H(b), b, kDeviceLevel, &moves);
  ASSERT_EQ(stack->Holder(H(0)), 2);
  moves.clear();
  stack->Use(H(0), /*request=*/9, /*level=*/2, &moves);
  // Up into the host (evicting block 1 down to the disk), and kept on the disk.
  ASSERT_EQ(moves.size(), 2u);
  EXPECT_EQ(moves[0].hash, H(1));
  EXPECT_EQ(moves[0].to, 2);
  EXPECT_EQ(moves[1].hash, H(0));
  EXPECT_EQ(moves[1].from, 2);
  EXPECT_EQ(moves[1].to, 1);
  EXPECT_EQ(stack->Holder(H(0)), 1);
  EXPECT_NE(stack->tier(2).Find(H(0)), kNoSlot);
  EXPECT_EQ(stack->tier(2).uses(stack->tier(2).Find(H(0))), 2);
  stack->CheckInvariants();
}

TEST(TierStackTest, LookupFollowsThePromptThroughEveryTier) {
  auto stack = Stack(/*host=*/2, /*disk=*/4);
  std::vector<BlockHash> prompt;
  AppendBlockHashes(NamespaceHash("ns"), std::vector<Token>(64, 5), 16, &prompt);
  ASSERT_EQ(prompt.size(), 4u);
  std::vector<TierMove> moves;
  // Pages 0..2 written; page 0 ends up on the disk, 1 and 2 in the host.
  for (size_t p = 0; p < 3; ++p) stack->Use(prompt[p], 1, kDeviceLevel, &moves);
  TierLookup lookup;
  stack->Lookup(prompt, 0, &lookup);
  EXPECT_EQ(lookup.end_page, 3);
  EXPECT_EQ(lookup.level, (std::vector<int8_t>{2, 1, 1}));
  EXPECT_EQ(lookup.pages, (std::vector<int64_t>{0, 2, 1}));
  // From page 1 (the device holds page 0).
  stack->Lookup(prompt, 1, &lookup);
  EXPECT_EQ(lookup.end_page, 3);
  EXPECT_EQ(lookup.level.size(), 2u);
  // Lookup touches nothing: page 1 is still the host's least recent.
  stack->Use(prompt[3], 1, kDeviceLevel, &moves);
  EXPECT_EQ(stack->Holder(prompt[1]), 2);
  // A different namespace shares nothing.
  std::vector<BlockHash> other;
  AppendBlockHashes(NamespaceHash("other"), std::vector<Token>(64, 5), 16, &other);
  stack->Lookup(other, 0, &lookup);
  EXPECT_EQ(lookup.end_page, 0);
}

TEST(TierStackTest, CreateChecksItsTiers) {
  EXPECT_FALSE(TierStack::Create({}).ok());
  EXPECT_FALSE(TierStack::Create({TierOptions{}}).ok());  // no capacity
  TierOptions t;
  t.capacity_blocks = 1;
  EXPECT_FALSE(TierStack::Create({t, t, t}).ok());
}

}  // namespace
}  // namespace radixlm::kvcache
