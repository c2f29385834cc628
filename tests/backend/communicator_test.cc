// ThreadCommunicator (backend/parallel/communicator.h): ranks as threads; sums
// in rank order, the same bits every run; a count mismatch refused on every
// rank; barriers that order memory.
#include "backend/parallel/communicator.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <random>
#include <thread>
#include <vector>

#include "backend/parallel/rank_threads.h"

namespace radixlm::backend::parallel {
namespace {

// Runs fn(rank, communicator) on one thread per rank.
void OnRanks(std::vector<std::unique_ptr<Communicator>>& comms,
             const std::function<void(int, Communicator&)>& fn) {
  std::vector<std::thread> threads;
  for (size_t r = 0; r < comms.size(); ++r) {
    threads.emplace_back([&, r] { fn(static_cast<int>(r), *comms[r]); });
  }
  for (std::thread& t : threads) t.join();
}

// Values whose float sum depends on the order: large and small of both signs.
std::vector<float> RankData(int rank, int64_t count, uint32_t seed) {
  std::mt19937 rng(seed * 131 + static_cast<uint32_t>(rank));
  std::uniform_real_distribution<float> unit(-1, 1);
  std::vector<float> v(static_cast<size_t>(count));
  for (float& x : v) x = unit(rng) * (rng() % 3 == 0 ? 1e7f : 1.0f);
  return v;
}

TEST(ThreadCommunicatorTest, SumsInRankOrderTheSameBitsEveryRun) {
  for (int n : {1, 2, 3, 4}) {
    for (int64_t count : {int64_t{0}, int64_t{1}, int64_t{3}, int64_t{1000}, int64_t{4099}}) {
      std::vector<float> want = RankData(0, count, 1);
      for (int r = 1; r < n; ++r) {
        const std::vector<float> more = RankData(r, count, 1);
        for (size_t i = 0; i < want.size(); ++i) want[i] += more[i];
      }
      auto comms = ThreadCommunicator::CreateGroup(n);
      for (int run = 0; run < 20; ++run) {
        std::vector<std::vector<float>> data(static_cast<size_t>(n));
        OnRanks(comms, [&](int r, Communicator& c) {
          EXPECT_EQ(c.rank(), r);
          EXPECT_EQ(c.size(), n);
          data[static_cast<size_t>(r)] = RankData(r, count, 1);
          ASSERT_TRUE(c.AllReduceSum(data[static_cast<size_t>(r)].data(), count).ok());
        });
        for (int r = 0; r < n; ++r) {
          ASSERT_EQ(data[static_cast<size_t>(r)].size(), want.size());
          // memcmp of an empty vector's data() (null) is undefined: count 0 has no bits.
          ASSERT_TRUE(want.empty() || std::memcmp(data[static_cast<size_t>(r)].data(), want.data(),
                                                  want.size() * sizeof(float)) == 0)
              << n << " ranks, " << count << " floats, run " << run << ", rank " << r;
        }
      }
    }
  }
}

TEST(ThreadCommunicatorTest, ManyCollectivesInARow) {
  auto comms = ThreadCommunicator::CreateGroup(4);
  OnRanks(comms, [&](int r, Communicator& c) {
    for (int i = 0; i < 2000; ++i) {
      float v[5] = {1, 2, 3, static_cast<float>(r), static_cast<float>(i)};
      ASSERT_TRUE(c.AllReduceSum(v, 5).ok());
      EXPECT_EQ(v[0], 4);
      EXPECT_EQ(v[3], 6);  // 0 + 1 + 2 + 3
      EXPECT_EQ(v[4], 4.0f * static_cast<float>(i));
      if (i % 100 == 0) {
        ASSERT_TRUE(c.Barrier().ok());
      }
    }
  });
}

TEST(ThreadCommunicatorTest, DifferentCountsAreRefusedOnEveryRank) {
  auto comms = ThreadCommunicator::CreateGroup(3);
  std::vector<Status> got(3);
  OnRanks(comms, [&](int r, Communicator& c) {
    std::vector<float> v(10, 1.0f);
    got[static_cast<size_t>(r)] = c.AllReduceSum(v.data(), r == 2 ? 9 : 10);
    // Nothing summed, and the group still works afterwards.
    EXPECT_EQ(v[0], 1.0f);
    ASSERT_TRUE(c.AllReduceSum(v.data(), 10).ok());
    EXPECT_EQ(v[0], 3.0f);
  });
  for (const Status& s : got) {
    EXPECT_EQ(s.code(), StatusCode::kInternal);
    EXPECT_NE(s.message().find("rank 0 gave 10 floats, rank 2 9"), std::string::npos)
        << s.message();
  }
}

TEST(ThreadCommunicatorTest, BarrierOrdersMemory) {
  auto comms = ThreadCommunicator::CreateGroup(4);
  std::vector<int> written(4, 0);  // plain ints: the barrier must order them
  OnRanks(comms, [&](int r, Communicator& c) {
    for (int round = 1; round <= 200; ++round) {
      written[static_cast<size_t>(r)] = round;
      ASSERT_TRUE(c.Barrier().ok());
      for (int other = 0; other < 4; ++other) EXPECT_EQ(written[static_cast<size_t>(other)], round);
      ASSERT_TRUE(c.Barrier().ok());
    }
  });
}

TEST(RankThreadsTest, RunsEveryRankOnItsOwnThreadAndReportsTheFirstError) {
  RankThreads threads(3);
  std::vector<std::thread::id> ids(3);
  for (int round = 0; round < 3; ++round) {
    std::vector<std::thread::id> now(3);
    ASSERT_TRUE(threads
                    .Run([&](int r) {
                      now[static_cast<size_t>(r)] = std::this_thread::get_id();
                      return OkStatus();
                    })
                    .ok());
    EXPECT_EQ(now[0], std::this_thread::get_id());  // rank 0 on the caller
    EXPECT_NE(now[1], now[2]);
    if (round > 0) {
      EXPECT_EQ(now, ids);  // the same thread per rank every time
    }
    ids = now;
  }
  const Status s = threads.Run([](int r) {
    return r == 0 ? OkStatus() : InternalError("rank " + std::to_string(r) + " failed");
  });
  EXPECT_EQ(s.message(), "rank 1 failed");
}

}  // namespace
}  // namespace radixlm::backend::parallel
