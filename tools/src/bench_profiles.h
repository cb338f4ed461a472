#pragma once
// The profiles of `tape bench`, one file each (bench_<profile>.cc). Each runs its workloads
// and their same-run baselines in fresh directories of `dir` and returns one result per
// workload. Options were validated by the caller (cmd_bench.cc).

#include <vector>

#include "bench_result.h"
#include "bench_workdir.h"
#include "tape/journal/status.h"

namespace tape::cli::bench {

using Results = std::vector<BenchResult>;

Result<Results> run_device(const BenchOptions& o, WorkDir& dir);
Result<Results> run_ring(const BenchOptions& o, WorkDir& dir);
Result<Results> run_journal(const BenchOptions& o, WorkDir& dir);
Result<Results> run_durable(const BenchOptions& o, WorkDir& dir);
Result<Results> run_replication(const BenchOptions& o, WorkDir& dir);

// Checks what the options would make the durable profile allocate (--rate × (--warmup +
// --duration) records and their segment, see tape/bench/paced_durable.h) before anything runs;
// the error names the options.
Status check_durable(const BenchOptions& o);

// Baselines run for half the workload's duration, at least 0.1 s.
inline double baseline_seconds(const BenchOptions& o) {
  return o.duration / 2 > 0.1 ? o.duration / 2 : 0.1;
}

}  // namespace tape::cli::bench
