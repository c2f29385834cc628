#include "backend/cuda/attention_plan.h"

#include <algorithm>
#include <bit>
#include <tuple>

#include "core/check.h"

namespace radixlm::backend::cuda {

namespace {
// Below this many keys a split's merge costs more than the parallelism gains.
constexpr int64_t kMinSplitKeys = 128;
// Blocks of the attention kernels resident on one multiprocessor (registers and
// shared memory allow three): splits fill at most one such wave.
constexpr int64_t kBlocksPerSm = 3;
}  // namespace

void PlanAttention(const std::vector<AttentionPlanSeq>& seqs, int64_t heads, int64_t kv_heads,
                   int64_t num_sms, int64_t max_partials, std::vector<AttentionBlock>* blocks,
                   std::vector<AttentionMerge>* merges, int64_t window) {
  const int64_t group = heads / kv_heads;
  const int64_t q_block = std::max<int64_t>(1, kAttentionRows / group);
  // The keys each (sequence, kv head, query block) reads, from a tile boundary.
  struct Base {
    int32_t seq, kv_head, q0, qn;
    int64_t first, keys;
  };
  std::vector<Base> bases;
  int64_t tiles = 0;  // the step's work, in key tiles
  for (size_t si = 0; si < seqs.size(); ++si) {
    const AttentionPlanSeq& s = seqs[si];
    for (int64_t g = 0; g < kv_heads; ++g) {
      for (int64_t q0 = 0; q0 < s.tokens; q0 += q_block) {
        const int64_t qn = std::min(q_block, s.tokens - q0);
        const int64_t keys = s.start + q0 + qn;  // what the block's last query sees
        // The block's first query's window, from a tile boundary (0: no window).
        const int64_t first = window > 0 ? std::max<int64_t>(0, s.start + q0 - window + 1) /
                                               kAttentionKeys * kAttentionKeys
                                         : 0;
        bases.push_back({static_cast<int32_t>(si), static_cast<int32_t>(g),
                         static_cast<int32_t>(q0), static_cast<int32_t>(qn), first, keys});
        tiles += (keys - first + kAttentionKeys - 1) / kAttentionKeys;
      }
    }
  }
  // A block's share of one wave's work (kBlocksPerSm resident a multiprocessor):
  // a block longer than that is split into pieces of about that length (splits
  // of at least kMinSplitKeys), so that neither a few long blocks (a causal
  // prompt's last queries, a chunk late in a long prompt beside short decode
  // rows) nor too few blocks leave multiprocessors idle at the end.
  const int64_t slots = std::max<int64_t>(1, kBlocksPerSm * num_sms);
  const int64_t share_keys = std::max(kMinSplitKeys, (tiles + slots - 1) / slots * kAttentionKeys);
  for (bool allow_split : {true, false}) {
    blocks->clear();
    merges->clear();
    int32_t partials = 0;
    for (const Base& base : bases) {
      const int64_t range = base.keys - base.first;
      int64_t splits = 1;
      if (allow_split && range > share_keys) {
        splits = std::min<int64_t>(kAttentionMaxSplits, (range + share_keys - 1) / share_keys);
      }
      const int64_t split_len =
          (((range + splits - 1) / splits + kAttentionKeys - 1) / kAttentionKeys) * kAttentionKeys;
      splits = (range + split_len - 1) / split_len;
      AttentionBlock b{base.seq, base.kv_head, base.q0, base.qn, 0, 0, -1};
      if (splits > 1) {
        b.merge = static_cast<int32_t>(merges->size());
        merges->push_back(
            {b.seq, b.kv_head, b.q_begin, b.q_count, partials, static_cast<int32_t>(splits)});
      }
      for (int64_t k = 0; k < splits; ++k) {
        b.k_begin = static_cast<int32_t>(base.first + k * split_len);
        b.k_end = static_cast<int32_t>(std::min(base.keys, base.first + (k + 1) * split_len));
        b.partial = splits > 1 ? partials++ : -1;
        blocks->push_back(b);
      }
    }
    if (partials <= max_partials) break;
  }
  // Longest first: the GPU starts blocks in grid order, so the longest blocks
  // would otherwise start last and run alone at the end. Stable, so a block's
  // splits stay in key order.
  std::stable_sort(blocks->begin(), blocks->end(),
                   [](const AttentionBlock& x, const AttentionBlock& y) {
                     return x.k_end - x.k_begin > y.k_end - y.k_begin;
                   });
}

int64_t DecodeSplitKeys(int64_t keys) {
  // Multiples of 32 keys (the decode kernel's warps take 16 at a time), at least
  // kDecodeSplitMinKeys, few enough that no sequence needs more than
  // kDecodeMaxSplits.
  const int64_t even = (keys + kDecodeMaxSplits - 1) / kDecodeMaxSplits;
  return std::max(kDecodeSplitMinKeys, (even + 31) / 32 * 32);
}

bool DecodeMmaForSequence(const AttentionPlanSeq& seq, int64_t window) {
  int64_t keys = seq.start + seq.tokens;
  if (window > 0) keys = std::min(keys, window);
  return keys <= kDecodeMmaMaxKeys;
}

int32_t MarkDecodeForms(const std::vector<AttentionPlanSeq>& seqs, int64_t window,
                        std::vector<AttentionBlock>* blocks) {
  int32_t forms = 0;
  for (AttentionBlock& b : *blocks) {
    if (b.seq < 0) continue;  // padding
    b.mma = DecodeMmaForSequence(seqs[static_cast<size_t>(b.seq)], window) ? 1 : 0;
    forms |= b.mma != 0 ? 1 : 2;
  }
  return forms;
}

namespace {

// The cascade groups of a decode plan (DecodeCascade): per sequence its shared
// splits (0: none), and the groups' members (indices into seqs), each group at
// most kCascadeMaxMembers.
struct CascadeGroups {
  std::vector<int64_t> shared;               // per sequence
  std::vector<std::vector<size_t>> members;  // per group
  std::vector<int64_t> group_shared;         // per group
};

CascadeGroups FindCascadeGroups(const std::vector<AttentionPlanSeq>& seqs, int64_t page_size,
                                const std::vector<int64_t>& split_len,
                                const std::vector<int64_t>& keys) {
  CascadeGroups out;
  out.shared.assign(seqs.size(), 0);
  auto eligible = [&](size_t i) {
    return seqs[i].pages != nullptr && seqs[i].num_pages > 0 &&
           split_len[i] <= kCascadeMaxSplitKeys && keys[i] > split_len[i];
  };
  std::vector<size_t> order;
  for (size_t i = 0; i < seqs.size(); ++i) {
    if (eligible(i)) order.push_back(i);
  }
  // By split length, then page table: sequences on longer common prefixes sit
  // side by side, so a run's common prefix is its first and last member's.
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) {
    if (split_len[x] != split_len[y]) return split_len[x] < split_len[y];
    const AttentionPlanSeq &a = seqs[x], &b = seqs[y];
    return std::lexicographical_compare(a.pages, a.pages + a.num_pages, b.pages,
                                        b.pages + b.num_pages);
  });
  // The whole splits of `x` that lie within its common leading pages with
  // `leader` and before either's last key.
  auto shared_splits = [&](size_t leader, size_t x) {
    const AttentionPlanSeq &a = seqs[leader], &b = seqs[x];
    const int64_t n = std::min(a.num_pages, b.num_pages);
    int64_t same = 0;
    while (same < n && a.pages[same] == b.pages[same]) ++same;
    const int64_t shared_keys = std::min({same * page_size, keys[leader] - 1, keys[x] - 1});
    return shared_keys / split_len[x];
  };
  // Greedy groups in that order: a group takes the next sequence while it
  // shares a split with the group's first and the group's shared work
  // (members x common splits) does not shrink; at most kCascadeMaxMembers,
  // at least kCascadeMinMembers (fewer keep their splits).
  for (size_t at = 0; at < order.size();) {
    const size_t leader = order[at];
    int64_t common = 0;
    size_t end = at + 1;
    for (; end < order.size() && end - at < static_cast<size_t>(kCascadeMaxMembers); ++end) {
      const size_t x = order[end];
      if (split_len[x] != split_len[leader]) break;
      const int64_t s = shared_splits(leader, x);
      const int64_t n = static_cast<int64_t>(end - at);  // members so far
      const int64_t after = common == 0 ? s : std::min(common, s);
      if (s < 1 || (common > 0 && after * (n + 1) < common * n)) break;
      common = after;
    }
    if (end - at >= static_cast<size_t>(kCascadeMinMembers)) {
      out.members.emplace_back(order.begin() + static_cast<std::ptrdiff_t>(at),
                               order.begin() + static_cast<std::ptrdiff_t>(end));
      out.group_shared.push_back(common);
      for (size_t j = at; j < end; ++j) out.shared[order[j]] = common;
      at = end;
    } else {
      ++at;  // too few: the first keeps its splits, the next may lead a group
    }
  }
  return out;
}

}  // namespace

void PlanDecodeAttention(const std::vector<AttentionPlanSeq>& seqs, int64_t heads, int64_t kv_heads,
                         int64_t num_sms, int64_t max_partial_rows,
                         std::vector<AttentionBlock>* blocks, std::vector<AttentionMerge>* merges,
                         int64_t window, DecodeBlockOrder order, DecodeCascade* cascade) {
  const int64_t group = heads / kv_heads;
  // The keys a sequence's one query sees: the last `window` of them at most.
  auto visible = [window](const AttentionPlanSeq& s) {
    return window > 0 ? std::min(s.start + 1, window) : s.start + 1;
  };
  int64_t rows = 0;
  for (const AttentionPlanSeq& s : seqs) {
    const int64_t keys = visible(s), len = DecodeSplitKeys(keys);
    const int64_t splits = (keys + len - 1) / len;
    if (splits > 1) rows += kv_heads * splits * group;
  }
  const bool allow_split = rows <= max_partial_rows;
  std::vector<int64_t> keys_of(seqs.size()), split_len_of(seqs.size()), splits_of(seqs.size());
  for (size_t i = 0; i < seqs.size(); ++i) {
    keys_of[i] = visible(seqs[i]);
    split_len_of[i] = allow_split ? DecodeSplitKeys(keys_of[i]) : keys_of[i];
    splits_of[i] = (keys_of[i] + split_len_of[i] - 1) / split_len_of[i];
  }
  CascadeGroups groups;
  groups.shared.assign(seqs.size(), 0);
  if (cascade != nullptr) {
    cascade->blocks.clear();
    cascade->members.clear();
    cascade->split_keys = 0;
    if (window == 0 && allow_split && cascade->page_size > 0)
      groups = FindCascadeGroups(seqs, cascade->page_size, split_len_of, keys_of);
  }
  int64_t splits_total = 0;  // those the decode blocks take
  for (size_t i = 0; i < seqs.size(); ++i)
    splits_total += kv_heads * (splits_of[i] - groups.shared[i]);
  const int64_t wanted = std::max<int64_t>(1, kDecodeBlocksPerSm * num_sms);
  const int64_t per_block =
      allow_split ? std::max<int64_t>(1, (splits_total + wanted - 1) / wanted) : 1;
  // Each (sequence, kv head)'s splits and partial slots; then the blocks in
  // DecodeBlockOrder.
  std::vector<size_t> order_of(seqs.size());
  for (size_t i = 0; i < seqs.size(); ++i) order_of[i] = i;
  if (order == DecodeBlockOrder::kKvHeadMajor) {
    std::stable_sort(order_of.begin(), order_of.end(), [&seqs](size_t x, size_t y) {
      return seqs[x].prefix_key < seqs[y].prefix_key;
    });
  }
  blocks->clear();
  merges->clear();
  // Per (sequence, kv head): its first partial and its merge (for cascade members).
  std::vector<std::pair<int32_t, int32_t>> slot_of(seqs.size() * static_cast<size_t>(kv_heads));
  int32_t partials = 0;
  const int64_t outer = order == DecodeBlockOrder::kKvHeadMajor ? kv_heads : 1;
  const int64_t inner = order == DecodeBlockOrder::kKvHeadMajor ? 1 : kv_heads;
  for (int64_t go = 0; go < outer; ++go) {
    for (size_t si : order_of) {
      const int64_t end = seqs[si].start + 1, keys = keys_of[si], first = end - keys;
      const int64_t split_len = split_len_of[si], splits = splits_of[si];
      const int64_t shared = groups.shared[si];  // splits the cascade blocks take
      const int64_t block_count = (splits - shared + per_block - 1) / per_block;
      for (int64_t gi = 0; gi < inner; ++gi) {
        const int64_t g = go + gi;
        AttentionBlock b{static_cast<int32_t>(si), static_cast<int32_t>(g), 0, 1, 0, 0, -1};
        b.split_len = static_cast<int32_t>(split_len);
        if (splits > 1) {
          b.merge = static_cast<int32_t>(merges->size());
          AttentionMerge m{b.seq, b.kv_head, 0, 1, partials, static_cast<int32_t>(splits)};
          m.blocks = static_cast<int32_t>(block_count);  // cascade blocks finish first
          merges->push_back(m);
          slot_of[si * static_cast<size_t>(kv_heads) + static_cast<size_t>(g)] = {partials,
                                                                                  b.merge};
        }
        for (int64_t k = shared; k < splits; k += per_block) {
          b.k_begin = static_cast<int32_t>(first + k * split_len);
          b.k_end = static_cast<int32_t>(first + std::min(keys, (k + per_block) * split_len));
          b.partial = splits > 1 ? partials + static_cast<int32_t>(k) : -1;
          blocks->push_back(b);
        }
        if (splits > 1) partials += static_cast<int32_t>(splits);
      }
    }
  }
  if (cascade == nullptr) return;
  for (int64_t g = 0; g < kv_heads; ++g) {
    for (size_t gi = 0; gi < groups.members.size(); ++gi) {
      const std::vector<size_t>& members = groups.members[gi];
      const auto first_member = static_cast<int32_t>(cascade->members.size());
      for (size_t si : members) {
        const auto [partial, merge] =
            slot_of[si * static_cast<size_t>(kv_heads) + static_cast<size_t>(g)];
        cascade->members.push_back({static_cast<int32_t>(si), partial, merge});
      }
      const int64_t split_len = split_len_of[members[0]];
      for (int64_t k = 0; k < groups.group_shared[gi]; ++k) {
        cascade->blocks.push_back({first_member, static_cast<int32_t>(members.size()),
                                   static_cast<int32_t>(g), static_cast<int32_t>(k * split_len),
                                   static_cast<int32_t>((k + 1) * split_len),
                                   static_cast<int32_t>(k), static_cast<int32_t>(members[0])});
      }
      cascade->split_keys = std::max(cascade->split_keys, static_cast<int32_t>(split_len));
    }
  }
}

int64_t DecodePlanMaxBlocks(int64_t seqs, int64_t kv_heads, int64_t num_sms) {
  // With splits allowed, a (sequence, kv head) of s splits takes ceil(s / per_block)
  // <= s / per_block + 1 blocks, and per_block >= splits_total / wanted; without,
  // one block each. Never more than every split its own block.
  const int64_t wanted = std::max<int64_t>(1, kDecodeBlocksPerSm * num_sms);
  return std::min(wanted + seqs * kv_heads, seqs * kv_heads * kDecodeMaxSplits);
}

void PadDecodePlan(int64_t seqs, int64_t kv_heads, int64_t num_sms,
                   std::vector<AttentionBlock>* blocks, std::vector<AttentionMerge>* merges,
                   DecodeCascade* cascade) {
  if (cascade != nullptr && !cascade->blocks.empty()) {
    auto pow2 = [](size_t n) { return std::bit_ceil(n); };
    cascade->blocks.resize(pow2(cascade->blocks.size()), CascadeBlock{0, 0, 0, 0, 0, 0, 0});
    cascade->members.resize(pow2(cascade->members.size()), CascadeMember{0, 0, 0});
  }
  const auto max_blocks = static_cast<size_t>(DecodePlanMaxBlocks(seqs, kv_heads, num_sms));
  CHECK_LE(blocks->size(), max_blocks) << "a decode plan past its bound";
  CHECK_LE(merges->size(), static_cast<size_t>(seqs * kv_heads));
  blocks->resize(max_blocks, AttentionBlock{-1, 0, 0, 0, 0, 0, -1});
  merges->resize(static_cast<size_t>(seqs * kv_heads), AttentionMerge{0, 0, 0, 0, 0, 0});
}

int64_t AttentionMaxPartials(int64_t heads, int64_t decode_batch) {
  const int64_t decode_rows = decode_batch * kDecodeMaxSplits * heads;
  return std::max<int64_t>(2048, (decode_rows + kAttentionRows - 1) / kAttentionRows);
}

bool PlanStepAttention(const std::vector<AttentionPlanSeq>& seqs, int64_t heads, int64_t kv_heads,
                       int64_t head_dim, int64_t num_sms, int64_t max_partials,
                       std::vector<AttentionBlock>* blocks, std::vector<AttentionMerge>* merges,
                       int64_t window, DecodeBlockOrder order, DecodeCascade* cascade) {
  bool decode = !seqs.empty() && DecodeAttentionSupports(head_dim, heads / kv_heads);
  for (const AttentionPlanSeq& s : seqs) decode = decode && s.tokens == 1;
  if (decode) {
    PlanDecodeAttention(seqs, heads, kv_heads, num_sms, max_partials * kAttentionRows, blocks,
                        merges, window, order, cascade);
  } else {
    PlanAttention(seqs, heads, kv_heads, num_sms, max_partials, blocks, merges, window);
    if (cascade != nullptr) {
      cascade->blocks.clear();
      cascade->members.clear();
      cascade->split_keys = 0;
    }
  }
  return decode;
}

}  // namespace radixlm::backend::cuda
