#pragma once
// Reads Prometheus text exposition format 0.0.4 (what `tape serve --metrics` answers), for
// `tape stat --watch`. Checks the line grammar; keeps the labels as written.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tape/journal/status.h"

namespace tape::cli {

struct MetricSample {
  std::string name;
  std::string labels;  // between the braces, as written: role="primary"; empty without
  double value = 0;
};

// Every sample of `text`; comments (# ...) and blank lines are skipped. kCorruption names the
// first line that is not `name{labels} value [timestamp]`.
Result<std::vector<MetricSample>> parse_metrics_text(std::string_view text);

// The value of the sample `name` whose labels are exactly `labels`, or nullopt.
std::optional<double> find_metric(const std::vector<MetricSample>& samples, std::string_view name,
                                  std::string_view labels = {});

}  // namespace tape::cli
