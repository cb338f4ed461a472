#pragma once
// Prints journal records in the text, JSON or raw output format (`tape dump`, `tape tail`).

#include "cli_options.h"
#include "output.h"
#include "tape/journal/reader.h"

namespace tape::cli {

class RecordPrinter {
 public:
  RecordPrinter(OutputFormat format, Output* out) : format_(format), out_(out) {}

  // Appends one record to the output buffer:
  //   text: "seq\ttimestamp_ns\tescaped payload\n"
  //   json: {"seq":N,"timestamp_ns":N,"type":N,"payload":"..."}\n
  //   raw:  the payload bytes, then "\n"; only data records (type 1) are printed, so that a
  //         raw dump gives back what `tape append` read.
  void print(const journal::RecordView& record);

 private:
  OutputFormat format_;
  Output* out_;
};

}  // namespace tape::cli
