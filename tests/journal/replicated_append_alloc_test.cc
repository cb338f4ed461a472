// append_replicated() allocates nothing per record: this binary replaces the global operator
// new/delete with versions that count per thread (so it must stay a binary of its own, and
// cannot link under a sanitizer), and appends thousands of images within one segment. The
// journal's background threads (preallocator, pretoucher) are not counted: only the writer's
// thread is on the replication path.

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

#include "common/counting_new.h"
#include "test_util.h"

namespace tape::test {
namespace {

TEST(ReplicatedAppendAllocTest, CountingOperatorNewSeesAllocations) {
  const std::uint64_t before = thread_allocations();
  void* volatile p = ::operator new(64);
  ::operator delete(p);
  EXPECT_GE(thread_allocations() - before, 1u);
}

TEST(ReplicatedAppendAllocTest, AppendReplicatedAllocatesNothingPerRecord) {
  constexpr std::uint64_t kRecords = 5000;
  std::vector<Bytes> images;
  images.reserve(kRecords);
  for (std::uint64_t s = 1; s <= kRecords; ++s) {
    images.push_back(make_record_image(s, 1, seq_payload(s, 200)));
  }
  TempDir dir;
  std::unique_ptr<Journal> j;
  ASSERT_OK_AND_ASSIGN(j, Journal::open(dir.path(), small_options(4 << 20)));  // no roll
  const std::uint64_t before = thread_allocations();
  std::uint64_t failed = 0;
  for (const Bytes& image : images) failed += j->append_replicated(image).has_value() ? 0 : 1;
  const std::uint64_t allocated = thread_allocations() - before;
  EXPECT_EQ(failed, 0u);
  EXPECT_EQ(allocated, 0u) << "allocations while appending " << kRecords << " images";
  EXPECT_EQ(j->next_seq(), Seq{kRecords + 1});
}

}  // namespace
}  // namespace tape::test
