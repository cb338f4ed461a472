#pragma once
// One Prometheus scrape over HTTP/1.1 (Boost.Beast): GET http://ADDR/metrics, for
// `tape stat --watch`.

#include <chrono>
#include <string>
#include <vector>

#include "metrics_parse.h"
#include "tape/journal/status.h"

namespace tape::cli {

// The samples of ADDR's /metrics, within `timeout` for connect, request and answer together.
// Errors name the address: cannot connect, timed out, an HTTP status other than 200, or a
// body that is not Prometheus text.
Result<std::vector<MetricSample>> scrape_metrics(const std::string& address,
                                                 std::chrono::milliseconds timeout);

}  // namespace tape::cli
