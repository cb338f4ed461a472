#pragma once
// Allocation counters for the no-allocation tests. A binary that links counting_new.cc
// replaces the global operator new/delete with versions that count every allocation, so it
// must be a binary of its own and cannot be built under a sanitizer (whose runtime defines
// them too).

#include <cstdint>

namespace tape::test {

// Allocations by every thread of the process since it started.
std::uint64_t allocations();
// Allocations by the calling thread since it started.
std::uint64_t thread_allocations();

}  // namespace tape::test
