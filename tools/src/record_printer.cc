#include "record_printer.h"

#include <cstdint>

#include "escape.h"

namespace tape::cli {

void RecordPrinter::print(const journal::RecordView& record) {
  std::string& buf = out_->buffer();
  switch (format_) {
    case OutputFormat::kText:
      append_u64(buf, record.seq.value());
      buf.push_back('\t');
      append_i64(buf, record.timestamp_ns);
      buf.push_back('\t');
      append_text_escaped(buf, record.payload);
      buf.push_back('\n');
      break;
    case OutputFormat::kJson:
      buf.append("{\"seq\":");
      append_u64(buf, record.seq.value());
      buf.append(",\"timestamp_ns\":");
      append_i64(buf, record.timestamp_ns);
      buf.append(",\"type\":");
      append_u64(buf, static_cast<std::uint16_t>(record.type));
      buf.append(",\"payload\":");
      append_json_string(buf, record.payload);
      buf.append("}\n");
      break;
    case OutputFormat::kRaw:
      if (record.type != journal::format::RecordType::kData) return;
      out_->append(record.payload);
      buf.push_back('\n');
      break;
  }
}

}  // namespace tape::cli
