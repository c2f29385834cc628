// The attention plans (attention_plan.h) on the host: randomized batches
// against the properties the decode kernel's bits rely on, and the key ranges
// of sliding-window plans. No GPU needed.
#include "backend/cuda/attention_plan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <tuple>
#include <vector>

namespace radixlm {
namespace {

using backend::cuda::AttentionBlock;
using backend::cuda::AttentionMerge;
using backend::cuda::AttentionPlanSeq;

struct Split {
  int32_t begin, end,
      ordinal;  // key range; index among its (sequence, kv head)'s partials (-1: none)
  auto operator<=>(const Split&) const = default;
};

// Per (sequence, kv head): its splits in key order, from the blocks that take
// them (and the cascade blocks, when given), after checking each block against
// its merge.
std::map<std::pair<int32_t, int32_t>, std::vector<Split>> SplitsOf(
    const std::vector<AttentionBlock>& blocks, const std::vector<AttentionMerge>& merges,
    const backend::cuda::DecodeCascade* cascade = nullptr) {
  std::map<std::pair<int32_t, int32_t>, std::vector<Split>> out;
  std::map<int32_t, int32_t> blocks_of_merge;
  if (cascade != nullptr) {
    for (const backend::cuda::CascadeBlock& c : cascade->blocks) {
      if (c.members == 0) continue;  // padding
      EXPECT_LE(c.members, backend::cuda::kCascadeMaxMembers);
      EXPECT_GE(c.members, backend::cuda::kCascadeMinMembers);
      EXPECT_LE(c.k_end - c.k_begin, cascade->split_keys);
      for (int32_t m = 0; m < c.members; ++m) {
        const backend::cuda::CascadeMember& mb =
            cascade->members.at(static_cast<size_t>(c.first_member + m));
        const AttentionMerge& mg = merges.at(static_cast<size_t>(mb.merge));
        EXPECT_EQ(mg.seq, mb.seq);
        EXPECT_EQ(mg.kv_head, c.kv_head);
        EXPECT_EQ(mg.first_partial, mb.partial);
        out[{mb.seq, c.kv_head}].push_back({c.k_begin, c.k_end, c.split});
      }
    }
  }
  for (const AttentionBlock& b : blocks) {
    EXPECT_EQ(b.q_begin, 0);
    EXPECT_EQ(b.q_count, 1);
    EXPECT_GT(b.split_len, 0);
    EXPECT_LT(b.k_begin, b.k_end);
    std::vector<Split>& splits = out[{b.seq, b.kv_head}];
    int32_t ordinal = 0;
    if (b.partial >= 0) {
      EXPECT_GE(b.merge, 0);
      const AttentionMerge& m = merges.at(static_cast<size_t>(b.merge));
      EXPECT_EQ(m.seq, b.seq);
      EXPECT_EQ(m.kv_head, b.kv_head);
      ordinal = b.partial - m.first_partial;
      ++blocks_of_merge[b.merge];
    } else {
      EXPECT_EQ(b.merge, -1);
      EXPECT_LE(b.k_end - b.k_begin, b.split_len) << "an unsplit block is one split";
    }
    for (int32_t s = b.k_begin; s < b.k_end; s += b.split_len, ++ordinal) {
      splits.push_back({s, std::min(b.k_end, s + b.split_len), b.partial >= 0 ? ordinal : -1});
    }
  }
  for (auto& [key, splits] : out) std::sort(splits.begin(), splits.end());
  for (size_t i = 0; i < merges.size(); ++i) {
    const AttentionMerge& m = merges[i];
    EXPECT_EQ(blocks_of_merge[static_cast<int32_t>(i)], m.blocks) << "merge " << i;
    EXPECT_EQ(static_cast<int32_t>(out[{m.seq, m.kv_head}].size()), m.count) << "merge " << i;
  }
  return out;
}

// A decode plan of Llama 3's shape (32 heads, 8 kv heads) on 132 multiprocessors
// with room for every split, and its cascade blocks (pages of 16 tokens).
void PlanWithCascade(const std::vector<AttentionPlanSeq>& seqs, int64_t window,
                     backend::cuda::DecodeCascade* cascade,
                     std::vector<AttentionBlock>* blocks = nullptr,
                     std::vector<AttentionMerge>* merges = nullptr) {
  std::vector<AttentionBlock> own_blocks;
  std::vector<AttentionMerge> own_merges;
  cascade->page_size = 16;
  backend::cuda::PlanDecodeAttention(seqs, 32, 8, 132, int64_t{1} << 40,
                                     blocks != nullptr ? blocks : &own_blocks,
                                     merges != nullptr ? merges : &own_merges, window,
                                     backend::cuda::DecodeBlockOrder::kKvHeadMajor, cascade);
}

TEST(DecodeAttentionPlanTest, SplitLengthsDependOnTheSequenceAlone) {
  EXPECT_EQ(backend::cuda::DecodeSplitKeys(1), 64);
  EXPECT_EQ(backend::cuda::DecodeSplitKeys(1025), 64);
  EXPECT_EQ(backend::cuda::DecodeSplitKeys(2048), 64);
  EXPECT_EQ(backend::cuda::DecodeSplitKeys(2049), 96);
  EXPECT_EQ(backend::cuda::DecodeSplitKeys(3001), 96);
  EXPECT_EQ(backend::cuda::DecodeSplitKeys(32769), 1056);
  for (int64_t keys = 1; keys < 200000; keys += 37) {
    const int64_t len = backend::cuda::DecodeSplitKeys(keys);
    EXPECT_EQ(len % 32, 0);
    EXPECT_LE((keys + len - 1) / len, backend::cuda::kDecodeMaxSplits) << keys;
  }
}

// Whatever the batch and the multiprocessor count, every (sequence, kv head)
// gets the same splits, in order, covering its keys once, with partials in
// split order; each merge counts the blocks that write its partials.
TEST(DecodeAttentionPlanTest, EverySequenceIsCutAsItWouldBeAlone) {
  std::mt19937 rng(5);
  const int64_t max_rows = int64_t{4096} * 64;
  for (int trial = 0; trial < 200; ++trial) {
    const int64_t kv_heads = std::vector<int64_t>{1, 2, 8}[rng() % 3];
    const int64_t heads = kv_heads * std::vector<int64_t>{1, 2, 4, 8}[rng() % 4];
    const int64_t num_sms = std::vector<int64_t>{1, 24, 132}[rng() % 3];
    const size_t batch = 1 + rng() % (trial % 4 == 0 ? 256 : 12);
    std::vector<AttentionPlanSeq> seqs;
    for (size_t i = 0; i < batch; ++i) {
      const int64_t start = rng() % 4 == 0 ? rng() % 70 : rng() % 40000;
      seqs.push_back({start, 1});
    }
    std::vector<AttentionBlock> blocks;
    std::vector<AttentionMerge> merges;
    backend::cuda::PlanDecodeAttention(seqs, heads, kv_heads, num_sms, max_rows, &blocks, &merges);
    const auto splits = SplitsOf(blocks, merges);
    int64_t rows = 0, needed = 0, total = 0;
    for (const AttentionMerge& m : merges)
      rows += static_cast<int64_t>(m.count) * (heads / kv_heads);
    for (const AttentionPlanSeq& s : seqs) {
      const int64_t keys = s.start + 1, len = backend::cuda::DecodeSplitKeys(keys);
      const int64_t n = (keys + len - 1) / len;
      if (n > 1) needed += kv_heads * n * (heads / kv_heads);
      total += kv_heads * n;
    }
    const bool split = needed <= max_rows;  // else no sequence is split
    ASSERT_EQ(rows, split ? needed : 0);
    ASSERT_EQ(splits.size(), batch * kv_heads);
    for (size_t i = 0; i < batch; ++i) {
      const int64_t keys = seqs[i].start + 1;
      std::vector<AttentionBlock> alone_blocks;
      std::vector<AttentionMerge> alone_merges;
      backend::cuda::PlanDecodeAttention({seqs[i]}, heads, kv_heads, 132, max_rows, &alone_blocks,
                                         &alone_merges);
      const auto alone = SplitsOf(alone_blocks, alone_merges);
      for (int32_t g = 0; g < kv_heads; ++g) {
        const std::vector<Split>& s = splits.at({static_cast<int32_t>(i), g});
        ASSERT_FALSE(s.empty());
        EXPECT_EQ(s.front().begin, 0);
        EXPECT_EQ(s.back().end, keys);
        for (size_t j = 0; j < s.size(); ++j) {
          if (j > 0) {
            EXPECT_EQ(s[j].begin, s[j - 1].end);
          }
          EXPECT_EQ(s[j].ordinal, s.size() > 1 ? static_cast<int32_t>(j) : -1);
        }
        if (split) {
          EXPECT_EQ(s, alone.at({0, g}))
              << "trial " << trial << " sequence " << i << " kv head " << g;
        }
      }
    }
    // One split a block while the splits fit kDecodeBlocksPerSm a multiprocessor.
    if (split && total <= backend::cuda::kDecodeBlocksPerSm * num_sms) {
      EXPECT_EQ(static_cast<int64_t>(blocks.size()), total);
    }
  }
}

// The block order (which blocks run together on the GPU) changes no
// sequence's splits; kv-head-major puts every sequence's blocks of one kv head
// before the next kv head's, sequences with one prefix key side by side.
TEST(DecodeAttentionPlanTest, KvHeadMajorOrderKeepsEverySequencesSplits) {
  using backend::cuda::DecodeBlockOrder;
  std::mt19937 rng(11);
  for (int trial = 0; trial < 100; ++trial) {
    const size_t batch = 1 + rng() % 256;
    std::vector<AttentionPlanSeq> seqs;
    for (size_t i = 0; i < batch; ++i) {
      seqs.push_back({static_cast<int64_t>(rng() % 9000), 1, static_cast<int64_t>(rng() % 5)});
    }
    const int64_t num_sms = std::vector<int64_t>{1, 24, 132}[rng() % 3];
    std::vector<AttentionBlock> by_head, by_seq;
    std::vector<AttentionMerge> by_head_merges, by_seq_merges;
    backend::cuda::PlanDecodeAttention(seqs, 32, 8, num_sms, int64_t{1} << 30, &by_head,
                                       &by_head_merges, 0, DecodeBlockOrder::kKvHeadMajor);
    backend::cuda::PlanDecodeAttention(seqs, 32, 8, num_sms, int64_t{1} << 30, &by_seq,
                                       &by_seq_merges, 0, DecodeBlockOrder::kSequenceMajor);
    ASSERT_EQ(SplitsOf(by_head, by_head_merges), SplitsOf(by_seq, by_seq_merges));
    ASSERT_EQ(by_head.size(), by_seq.size());
    for (size_t i = 1; i < by_head.size(); ++i) {
      const AttentionBlock &a = by_head[i - 1], &b = by_head[i];
      ASSERT_LE(a.kv_head, b.kv_head) << "trial " << trial << " block " << i;
      if (a.kv_head == b.kv_head) {
        ASSERT_LE(seqs[static_cast<size_t>(a.seq)].prefix_key,
                  seqs[static_cast<size_t>(b.seq)].prefix_key);
      }
    }
    for (size_t i = 1; i < by_seq.size(); ++i) ASSERT_LE(by_seq[i - 1].seq, by_seq[i].seq);
  }
}

TEST(DecodeAttentionPlanTest, SplitsThatDoNotFitTheWorkspaceAreNotMade) {
  const std::vector<AttentionPlanSeq> seqs(40, AttentionPlanSeq{5000, 1});
  std::vector<AttentionBlock> blocks;
  std::vector<AttentionMerge> merges;
  backend::cuda::PlanDecodeAttention(seqs, 32, 8, 132, /*max_partial_rows=*/1000, &blocks, &merges);
  EXPECT_TRUE(merges.empty());
  ASSERT_EQ(blocks.size(), 40u * 8);
  for (const AttentionBlock& b : blocks) {
    EXPECT_EQ(b.partial, -1);
    EXPECT_EQ(b.k_begin, 0);
    EXPECT_EQ(b.k_end, 5001);
  }
}

TEST(DecodeAttentionPlanTest, StepPlanIsDecodeOnlyForOneTokenEachOnTheKernelsShapes) {
  std::vector<AttentionBlock> blocks;
  std::vector<AttentionMerge> merges;
  const std::vector<AttentionPlanSeq> decode = {{100, 1}, {7, 1}};
  EXPECT_TRUE(backend::cuda::PlanStepAttention(decode, 32, 8, 128, 132, 2048, &blocks, &merges));
  EXPECT_TRUE(backend::cuda::PlanStepAttention(decode, 8, 8, 64, 132, 2048, &blocks, &merges));
  EXPECT_FALSE(backend::cuda::PlanStepAttention(decode, 32, 8, 32, 132, 2048, &blocks,
                                                &merges));  // head dim
  EXPECT_FALSE(backend::cuda::PlanStepAttention(decode, 12, 4, 128, 132, 2048, &blocks,
                                                &merges));  // group 3
  EXPECT_FALSE(backend::cuda::PlanStepAttention({{100, 1}, {0, 5}}, 32, 8, 128, 132, 2048, &blocks,
                                                &merges));
  EXPECT_FALSE(backend::cuda::PlanStepAttention({}, 32, 8, 128, 132, 2048, &blocks, &merges));
}

TEST(DecodeAttentionPlanTest, WorkspaceHoldsTheSplitsOfTheLargestDecodeBatch) {
  EXPECT_EQ(backend::cuda::AttentionMaxPartials(4, 256), 2048);  // prefill's floor
  const int64_t partials = backend::cuda::AttentionMaxPartials(32, 256);
  EXPECT_GE(partials * 64, 256 * backend::cuda::kDecodeMaxSplits * 32);
  std::vector<AttentionPlanSeq> seqs(256, AttentionPlanSeq{2047, 1});  // 32 splits each
  std::vector<AttentionBlock> blocks;
  std::vector<AttentionMerge> merges;
  backend::cuda::PlanDecodeAttention(seqs, 32, 8, 132, partials * 64, &blocks, &merges);
  EXPECT_EQ(merges.size(), 256u * 8);
}

// Padded decode plans: every batch's blocks fit the bound set by its size, the
// padding does nothing (seq -1), and two batches of one size with any lengths
// get the same counts (one captured graph serves both).
TEST(DecodeAttentionPlanTest, PaddedPlansDependOnTheBatchSizeAlone) {
  std::mt19937_64 rng(11);
  for (int64_t num_sms : {1, 8, 132}) {
    for (int64_t batch : {1, 2, 7, 64, 256}) {
      size_t blocks_seen = 0, merges_seen = 0;
      for (int trial = 0; trial < 30; ++trial) {
        std::vector<AttentionPlanSeq> seqs;
        for (int64_t s = 0; s < batch; ++s) {
          const int64_t keys = trial % 3 == 0 ? 1 + static_cast<int64_t>(rng() % 64)
                                              : 1 + static_cast<int64_t>(rng() % 40000);
          seqs.push_back({keys - 1, 1});
        }
        std::vector<AttentionBlock> blocks;
        std::vector<AttentionMerge> merges;
        backend::cuda::PlanDecodeAttention(seqs, 32, 8, num_sms, int64_t{1} << 40, &blocks,
                                           &merges);
        const size_t real = blocks.size();
        ASSERT_LE(static_cast<int64_t>(real), backend::cuda::DecodePlanMaxBlocks(batch, 8, num_sms))
            << "batch " << batch << " sms " << num_sms;
        backend::cuda::PadDecodePlan(batch, 8, num_sms, &blocks, &merges);
        for (size_t i = real; i < blocks.size(); ++i) EXPECT_EQ(blocks[i].seq, -1);
        if (trial > 0) {
          EXPECT_EQ(blocks.size(), blocks_seen);
          EXPECT_EQ(merges.size(), merges_seen);
        }
        blocks_seen = blocks.size();
        merges_seen = merges.size();
      }
      EXPECT_EQ(merges_seen, static_cast<size_t>(batch * 8));
    }
  }
}

// Sliding window W, decode: a sequence's splits cover exactly its last
// min(keys, W) keys, cut by that count alone (the same as alone in the batch),
// and the padded plan keeps the bound set by the batch size.
TEST(WindowedAttentionPlanTest, DecodeCoversExactlyTheWindow) {
  std::mt19937 rng(23);
  const int64_t max_rows = int64_t{4096} * 64;
  for (int trial = 0; trial < 200; ++trial) {
    const int64_t window = std::vector<int64_t>{1, 17, 64, 1000, 4096}[rng() % 5];
    const int64_t kv_heads = std::vector<int64_t>{1, 2, 8}[rng() % 3];
    const int64_t heads = kv_heads * std::vector<int64_t>{1, 4}[rng() % 2];
    const int64_t num_sms = std::vector<int64_t>{1, 24, 132}[rng() % 3];
    const size_t batch = 1 + rng() % 12;
    std::vector<AttentionPlanSeq> seqs;
    for (size_t i = 0; i < batch; ++i) {
      seqs.push_back({static_cast<int64_t>(rng() % 2 == 0 ? rng() % 100 : rng() % 20000), 1});
    }
    std::vector<AttentionBlock> blocks;
    std::vector<AttentionMerge> merges;
    backend::cuda::PlanDecodeAttention(seqs, heads, kv_heads, num_sms, max_rows, &blocks, &merges,
                                       window);
    const auto splits = SplitsOf(blocks, merges);
    ASSERT_LE(static_cast<int64_t>(blocks.size()),
              backend::cuda::DecodePlanMaxBlocks(static_cast<int64_t>(batch), kv_heads, num_sms));
    for (size_t i = 0; i < batch; ++i) {
      const int64_t end = seqs[i].start + 1, keys = std::min(end, window);
      std::vector<AttentionBlock> alone_blocks;
      std::vector<AttentionMerge> alone_merges;
      backend::cuda::PlanDecodeAttention({seqs[i]}, heads, kv_heads, 132, max_rows, &alone_blocks,
                                         &alone_merges, window);
      const auto alone = SplitsOf(alone_blocks, alone_merges);
      for (int32_t g = 0; g < kv_heads; ++g) {
        const std::vector<Split>& s = splits.at({static_cast<int32_t>(i), g});
        ASSERT_FALSE(s.empty());
        EXPECT_EQ(s.front().begin, end - keys) << "window " << window;
        EXPECT_EQ(s.back().end, end);
        for (size_t j = 1; j < s.size(); ++j) EXPECT_EQ(s[j].begin, s[j - 1].end);
        if (s.size() > 1) {
          EXPECT_EQ(s[0].end - s[0].begin, backend::cuda::DecodeSplitKeys(keys));
        }
        EXPECT_EQ(s, alone.at({0, g})) << "trial " << trial << " sequence " << i;
      }
    }
  }
}

// Sliding window W, prefill: each (sequence, kv head, query block)'s blocks
// cover one run of keys from its first query's window start, rounded down to a
// tile, to its last query, split on tile boundaries; whole tiles before that
// are never planned. Without a window the plan is unchanged (from key 0).
TEST(WindowedAttentionPlanTest, PrefillStartsAtTheFirstQuerysWindow) {
  std::mt19937 rng(29);
  const int64_t tile = backend::cuda::kAttentionKeys;
  for (int trial = 0; trial < 200; ++trial) {
    const int64_t window = std::vector<int64_t>{0, 1, 20, 64, 300, 4096}[rng() % 6];
    const int64_t kv_heads = std::vector<int64_t>{1, 2}[rng() % 2];
    const int64_t heads = kv_heads * std::vector<int64_t>{1, 4, 8}[rng() % 3];
    const int64_t num_sms = std::vector<int64_t>{1, 132, 1000}[rng() % 3];
    std::vector<AttentionPlanSeq> seqs;
    for (size_t i = 0, n = 1 + rng() % 4; i < n; ++i) {
      seqs.push_back({static_cast<int64_t>(rng() % 3000), static_cast<int64_t>(1 + rng() % 200)});
    }
    std::vector<AttentionBlock> blocks, unwindowed;
    std::vector<AttentionMerge> merges, unwindowed_merges;
    backend::cuda::PlanAttention(seqs, heads, kv_heads, num_sms, 2048, &blocks, &merges, window);
    backend::cuda::PlanAttention(seqs, heads, kv_heads, num_sms, 2048, &unwindowed,
                                 &unwindowed_merges);
    // Per (sequence, kv head, first query): its blocks' key ranges in order.
    std::map<std::tuple<int32_t, int32_t, int32_t>, std::vector<std::pair<int32_t, int32_t>>> runs;
    std::map<std::tuple<int32_t, int32_t, int32_t>, int32_t> counts;
    for (const AttentionBlock& b : blocks) {
      runs[{b.seq, b.kv_head, b.q_begin}].push_back({b.k_begin, b.k_end});
      counts[{b.seq, b.kv_head, b.q_begin}] = b.q_count;
      EXPECT_EQ(b.k_begin % tile, 0);
    }
    for (const auto& [key, ranges] : runs) {
      const AttentionPlanSeq& s = seqs[static_cast<size_t>(std::get<0>(key))];
      const int64_t first_pos = s.start + std::get<2>(key);
      const int64_t last_pos = first_pos + counts[key] - 1;
      const int64_t first =
          window > 0 ? std::max<int64_t>(0, first_pos - window + 1) / tile * tile : 0;
      EXPECT_EQ(ranges.front().first, first) << "window " << window << " first query " << first_pos;
      EXPECT_EQ(ranges.back().second, last_pos + 1);
      for (size_t j = 1; j < ranges.size(); ++j) EXPECT_EQ(ranges[j].first, ranges[j - 1].second);
    }
    if (window == 0) {
      ASSERT_EQ(blocks.size(), unwindowed.size());
      for (size_t i = 0; i < blocks.size(); ++i) {
        EXPECT_EQ(blocks[i].k_begin, unwindowed[i].k_begin);
        EXPECT_EQ(blocks[i].k_end, unwindowed[i].k_end);
        EXPECT_EQ(blocks[i].partial, unwindowed[i].partial);
      }
    }
  }
}

// Prefill plans start the blocks with the most keys first (a causal prompt's
// last queries), and still cover every query block's keys exactly once.
TEST(PrefillAttentionPlanTest, BlocksWithTheMostKeysComeFirst) {
  for (const auto& [start, tokens] :
       std::vector<std::pair<int64_t, int64_t>>{{0, 2048}, {0, 8192}, {5000, 175}, {0, 100}}) {
    std::vector<AttentionBlock> blocks;
    std::vector<AttentionMerge> merges;
    backend::cuda::PlanAttention({{start, tokens}}, 32, 8, 132, 1 << 20, &blocks, &merges);
    ASSERT_FALSE(blocks.empty());
    std::map<std::pair<int32_t, int32_t>, int64_t> keys_of;  // (kv head, first query): keys
    for (size_t i = 0; i < blocks.size(); ++i) {
      const AttentionBlock& b = blocks[i];
      if (i > 0) {
        EXPECT_LE(b.k_end - b.k_begin, blocks[i - 1].k_end - blocks[i - 1].k_begin)
            << "block " << i << " of " << tokens << " tokens after " << start;
      }
      int64_t& covered = keys_of[{b.kv_head, b.q_begin}];
      EXPECT_EQ(b.k_begin, covered) << "splits in key order";
      covered = b.k_end;
    }
    EXPECT_EQ(static_cast<int64_t>(keys_of.size()), 8 * ((tokens + 15) / 16));
    for (const auto& [key, end] : keys_of) {
      EXPECT_EQ(end, start + std::min<int64_t>(tokens, key.second + 16))
          << "first query " << key.second;
    }
    if (tokens == 2048) {  // the last query block first, the first one last
      EXPECT_EQ(blocks.front().q_begin, 2048 - 16);
      EXPECT_EQ(blocks.back().q_begin, 0);
    }
  }
}

// Splits follow the work: in a mixed step (64 one-token decode rows beside a
// 384-token chunk late in a long prompt) only the chunk's long blocks are
// split, and no block is left much longer than a wave's share; a lone chunk
// over a long cached prefix is split to fill the multiprocessors; a whole 2k
// prompt already fills them and is not split.
TEST(PrefillAttentionPlanTest, LongBlocksAreSplitToAWavesShare) {
  auto plan = [](const std::vector<AttentionPlanSeq>& seqs, std::vector<AttentionBlock>* blocks) {
    std::vector<AttentionMerge> merges;
    backend::cuda::PlanAttention(seqs, 32, 8, 132, 1 << 20, blocks, &merges);
    int64_t tiles = 0, longest = 0;
    for (const AttentionBlock& b : *blocks) {
      tiles += (b.k_end - b.k_begin + 63) / 64;
      longest = std::max<int64_t>(longest, b.k_end - b.k_begin);
    }
    return std::pair{tiles, longest};
  };
  std::vector<AttentionPlanSeq> mixed(64, AttentionPlanSeq{1024, 1});
  mixed.push_back({5632, 384});
  std::vector<AttentionBlock> blocks;
  const auto [tiles, longest] = plan(mixed, &blocks);
  const int64_t share = (tiles + 3 * 132 - 1) / (3 * 132) * 64;
  EXPECT_LE(longest, share + 64);
  int64_t chunk_blocks = 0;
  for (const AttentionBlock& b : blocks) {
    if (b.seq < 64) {
      EXPECT_EQ(b.partial, -1) << "a decode row's 1,025 keys are not split";
    } else {
      ++chunk_blocks;
    }
  }
  EXPECT_GT(chunk_blocks, 8 * 24) << "the chunk's blocks are split";
  // A 128-token chunk after 8,064 cached tokens: 64 blocks, split about 6 ways.
  const auto [tail_tiles, tail_longest] = plan({{8064, 128}}, &blocks);
  EXPECT_GE(blocks.size(), 6u * 64);
  EXPECT_LE(tail_longest, 1408);
  // A whole 2,048-token prompt: 1,024 blocks, none split.
  plan({{0, 2048}}, &blocks);
  EXPECT_EQ(blocks.size(), 1024u);
  for (const AttentionBlock& b : blocks) EXPECT_EQ(b.partial, -1);
}

// Cascade blocks (attention.h): sequences that share pages for whole splits.
// Randomized batches of groups on shared prefixes (and loners): every
// (sequence, kv head) keeps exactly the splits and partial ordinals it has
// without cascade blocks (a split is computed the same way whichever block
// takes it), each merge counts every block that writes its partials, and a
// cascade block's keys lie on pages all its members map alike, before each
// member's last key.
TEST(CascadeDecodePlanTest, SharedSplitsKeepEverySequencesSplits) {
  std::mt19937 rng(31);
  const int64_t page_size = 16, max_rows = int64_t{1} << 40;
  int64_t cascades_seen = 0;
  int32_t forms_seen = 0;
  for (int trial = 0; trial < 150; ++trial) {
    const int64_t kv_heads = std::vector<int64_t>{1, 2, 8}[rng() % 3];
    const int64_t heads = kv_heads * std::vector<int64_t>{1, 4, 8}[rng() % 3];
    const int64_t num_sms = std::vector<int64_t>{1, 24, 132}[rng() % 3];
    std::vector<std::vector<int32_t>> tables;
    std::vector<int64_t> starts;
    int32_t next_page = 0;
    for (int group = 0, groups = 1 + static_cast<int>(rng() % 5); group < groups; ++group) {
      const int64_t shared_pages = rng() % 260;
      std::vector<int32_t> prefix;
      for (int64_t p = 0; p < shared_pages; ++p) prefix.push_back(next_page++);
      for (int m = 0, members = 1 + static_cast<int>(rng() % 40); m < members; ++m) {
        std::vector<int32_t> t = prefix;
        const int64_t own = 1 + rng() % 30;
        for (int64_t p = 0; p < own; ++p) t.push_back(next_page++);
        const int64_t max_start = static_cast<int64_t>(t.size()) * page_size - 1;
        starts.push_back(std::max<int64_t>(0, max_start - static_cast<int64_t>(rng() % 40)));
        tables.push_back(std::move(t));
      }
    }
    std::vector<AttentionPlanSeq> seqs;
    for (size_t i = 0; i < tables.size(); ++i) {
      seqs.push_back(
          {starts[i], 1, tables[i][0], tables[i].data(), static_cast<int64_t>(tables[i].size())});
    }
    std::shuffle(seqs.begin(), seqs.end(), rng);
    std::vector<AttentionBlock> plain_blocks, blocks;
    std::vector<AttentionMerge> plain_merges, merges;
    backend::cuda::PlanDecodeAttention(seqs, heads, kv_heads, num_sms, max_rows, &plain_blocks,
                                       &plain_merges);
    backend::cuda::DecodeCascade cascade;
    cascade.page_size = page_size;
    backend::cuda::PlanDecodeAttention(seqs, heads, kv_heads, num_sms, max_rows, &blocks, &merges,
                                       0, backend::cuda::DecodeBlockOrder::kKvHeadMajor, &cascade);
    ASSERT_EQ(SplitsOf(blocks, merges, &cascade), SplitsOf(plain_blocks, plain_merges))
        << "trial " << trial;
    ASSERT_LE(
        static_cast<int64_t>(blocks.size()),
        backend::cuda::DecodePlanMaxBlocks(static_cast<int64_t>(seqs.size()), kv_heads, num_sms));
    // The decode form by sequence: a block's form is its sequence's (its own
    // key count alone), and every cascade member is MMA-form.
    const int32_t forms = backend::cuda::MarkDecodeForms(seqs, 0, &blocks);
    int32_t forms_here = 0;
    for (const AttentionBlock& b : blocks) {
      const AttentionPlanSeq& s = seqs.at(static_cast<size_t>(b.seq));
      EXPECT_EQ(b.mma != 0, s.start + s.tokens <= backend::cuda::kDecodeMmaMaxKeys);
      forms_here |= b.mma != 0 ? 1 : 2;
    }
    EXPECT_EQ(forms, forms_here);
    forms_seen |= forms;
    for (const backend::cuda::CascadeBlock& c : cascade.blocks) {
      const AttentionPlanSeq& leader = seqs.at(static_cast<size_t>(c.page_seq));
      EXPECT_LE(c.k_end - c.k_begin, backend::cuda::kCascadeMaxSplitKeys);
      for (int32_t m = 0; m < c.members; ++m) {
        const AttentionPlanSeq& s = seqs.at(
            static_cast<size_t>(cascade.members[static_cast<size_t>(c.first_member + m)].seq));
        EXPECT_TRUE(backend::cuda::DecodeMmaForSequence(s, 0)) << "a cascade member not MMA-form";
        EXPECT_LT(c.k_end, s.start + 1) << "a shared split holds a member's last key";
        for (int64_t p = c.k_begin / page_size; p <= (c.k_end - 1) / page_size; ++p) {
          ASSERT_LT(p, s.num_pages);
          EXPECT_EQ(s.pages[p], leader.pages[p]) << "trial " << trial;
        }
      }
    }
    cascades_seen += static_cast<int64_t>(cascade.blocks.size());
  }
  EXPECT_GT(cascades_seen, 1000);  // the batches above do share
  EXPECT_EQ(forms_seen, 3);        // and mix both forms
}

TEST(DecodeAttentionPlanTest, TheDecodeFormFollowsTheVisibleKeys) {
  using backend::cuda::DecodeMmaForSequence;
  using backend::cuda::kDecodeMmaMaxKeys;
  const AttentionPlanSeq at_bound{kDecodeMmaMaxKeys - 1, 1}, past{kDecodeMmaMaxKeys, 1};
  EXPECT_TRUE(DecodeMmaForSequence(at_bound, 0));
  EXPECT_FALSE(DecodeMmaForSequence(past, 0));
  EXPECT_TRUE(DecodeMmaForSequence(past, 4096));  // a window: only its keys are read
  EXPECT_EQ(backend::cuda::DecodeSplitKeys(kDecodeMmaMaxKeys), backend::cuda::kCascadeMaxSplitKeys);
  EXPECT_GT(backend::cuda::DecodeSplitKeys(kDecodeMmaMaxKeys + 1),
            backend::cuda::kCascadeMaxSplitKeys);
}

// Two groups on two 2,048-token prompts whose first pages are the same (one
// chat template's header, say: one page, or eight): each group shares its own
// prompt's 21 splits of 96 keys, whatever the order of the batch; sequences
// that share a page or two with a group's first but no whole split stay out.
TEST(CascadeDecodePlanTest, GroupsFollowTheLongestSharedPrefixes) {
  for (int32_t common_pages : {1, 8}) {
    std::vector<std::vector<int32_t>> tables;
    for (int32_t i = 0; i < 22; ++i) {
      std::vector<int32_t> t;
      const int32_t prompt = i < 10 ? 0 : i < 20 ? 1 : 2 + i;  // 20, 21: loners
      for (int32_t p = 0; p < 128; ++p) t.push_back(p < common_pages ? p : 1000 * prompt + p);
      for (int32_t p = 0; p < 8; ++p) t.push_back(100000 + 100 * i + p);
      tables.push_back(std::move(t));
    }
    std::vector<AttentionPlanSeq> seqs;
    for (int32_t i = 0; i < 22; ++i) {
      seqs.push_back({2147, 1, 0, tables[static_cast<size_t>(i)].data(), 136});
    }
    std::shuffle(seqs.begin(), seqs.end(), std::mt19937(static_cast<uint32_t>(common_pages)));
    backend::cuda::DecodeCascade cascade;
    PlanWithCascade(seqs, 0, &cascade);
    std::map<int32_t, int32_t> member_splits;  // per sequence, over kv head 0
    for (const backend::cuda::CascadeBlock& c : cascade.blocks) {
      if (c.kv_head != 0) continue;
      for (int32_t m = 0; m < c.members; ++m)
        ++member_splits[cascade.members[static_cast<size_t>(c.first_member + m)].seq];
    }
    for (size_t i = 0; i < seqs.size(); ++i) {
      const bool loner = seqs[i].pages[127] >= 22000;
      EXPECT_EQ(member_splits[static_cast<int32_t>(i)], loner ? 0 : 21)
          << "common pages " << common_pages << ", sequence " << i;
    }
  }
}

// generated-shared-prefix's running batch: 16 sequences on one 2,048-token
// prompt (128 pages) with 128 to 384 own tokens; their splits are 96 keys, 21
// of them wholly on the shared pages: one cascade block per shared split and
// kv head, every member in each. Padding makes powers of two of no members.
TEST(CascadeDecodePlanTest, GeneratedSharedPrefixGroupSharesTwentyOneSplits) {
  std::vector<std::vector<int32_t>> tables;
  std::vector<AttentionPlanSeq> seqs;
  for (int32_t i = 0; i < 16; ++i) {
    std::vector<int32_t> t;
    for (int32_t p = 0; p < 128; ++p) t.push_back(p);
    for (int32_t p = 0; p < 24; ++p) t.push_back(1000 + 100 * i + p);
    tables.push_back(std::move(t));
  }
  for (int32_t i = 0; i < 16; ++i) {
    seqs.push_back({2048 + 128 + 16 * i, 1, 0, tables[static_cast<size_t>(i)].data(), 152});
  }
  std::vector<AttentionBlock> blocks;
  std::vector<AttentionMerge> merges;
  backend::cuda::DecodeCascade cascade;
  PlanWithCascade(seqs, 0, &cascade, &blocks, &merges);
  EXPECT_EQ(cascade.split_keys, 96);
  ASSERT_EQ(cascade.blocks.size(), 8u * 21);
  EXPECT_EQ(cascade.members.size(), 8u * 16);
  for (const backend::cuda::CascadeBlock& c : cascade.blocks) {
    EXPECT_EQ(c.members, 16);
    EXPECT_EQ(c.k_begin, 96 * c.split);
    EXPECT_EQ(c.k_end, 96 * (c.split + 1));
  }
  for (const AttentionMerge& m : merges) {
    const int64_t keys = seqs[static_cast<size_t>(m.seq)].start + 1;
    EXPECT_EQ(m.count, (keys + 95) / 96);
  }
  backend::cuda::PadDecodePlan(16, 8, 132, &blocks, &merges, &cascade);
  EXPECT_EQ(cascade.blocks.size(), 256u);
  EXPECT_EQ(cascade.members.size(), 128u);
  for (size_t i = 168; i < cascade.blocks.size(); ++i) EXPECT_EQ(cascade.blocks[i].members, 0);

  // No page tables, a window, or a lone sequence: no cascade blocks.
  std::vector<AttentionPlanSeq> bare = seqs;
  for (AttentionPlanSeq& s : bare) s.pages = nullptr;
  PlanWithCascade(bare, 0, &cascade);
  EXPECT_TRUE(cascade.blocks.empty());
  PlanWithCascade(seqs, 4096, &cascade);
  EXPECT_TRUE(cascade.blocks.empty());
  PlanWithCascade({seqs[0]}, 0, &cascade);
  EXPECT_TRUE(cascade.blocks.empty());
  // Splits longer than a cascade block holds (contexts past 4,096 keys): none.
  std::vector<AttentionPlanSeq> long_seqs = seqs;
  for (AttentionPlanSeq& s : long_seqs) s.start += 2400;
  std::vector<std::vector<int32_t>> long_tables = tables;
  for (size_t i = 0; i < long_seqs.size(); ++i) {
    for (int32_t p = 0; p < 160; ++p)
      long_tables[i].push_back(5000 + 200 * static_cast<int32_t>(i) + p);
    long_seqs[i].pages = long_tables[i].data();
    long_seqs[i].num_pages = static_cast<int64_t>(long_tables[i].size());
  }
  PlanWithCascade(long_seqs, 0, &cascade);
  EXPECT_GT(backend::cuda::DecodeSplitKeys(long_seqs[0].start + 1),
            backend::cuda::kCascadeMaxSplitKeys);
  EXPECT_TRUE(cascade.blocks.empty());
}

}  // namespace
}  // namespace radixlm
